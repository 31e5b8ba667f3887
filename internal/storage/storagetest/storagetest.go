// Package storagetest is the conformance suite every storage.Store backend
// passes, so that its users see the same behaviour whichever store the
// program is configured with (the model is River's riverdrivertest).
package storagetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lifecycle-worker/lifecycle/internal/errclass"
	"github.com/lifecycle-worker/lifecycle/internal/storage"
)

// Run runs the suite. newStore must return an empty store that no other
// test uses; it is called once per subtest, from parallel subtests.
func Run(t *testing.T, newStore func(t *testing.T) storage.Store) {
	setup := func(t *testing.T) (context.Context, storage.Store) {
		t.Helper()
		t.Parallel()
		return t.Context(), newStore(t)
	}

	t.Run("PutGetStat", func(t *testing.T) {
		ctx, s := setup(t)
		tests := []struct {
			name string
			key  string
			body []byte
			size int64 // -1: unknown
		}{
			{"Empty", "users/1/empty", nil, 0},
			{"Small", "users/1/photos/a.jpg", []byte("jpeg bytes"), 10},
			{"UnknownSize", "receipts/2026/11/r1.json", []byte(`{"ok":true}`), -1},
			{"Large", "users/1/videos/v.mp4", bytes.Repeat([]byte("0123456789abcdef"), 1<<16), 1 << 20},
			{"Unicode", "users/1/été 2026/ça va?.jpg", []byte("x"), 1},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				before := time.Now().Add(-time.Minute) // S3 times are whole seconds
				if err := s.Put(ctx, tt.key, bytes.NewReader(tt.body), tt.size); err != nil {
					t.Fatalf("Put: %v", err)
				}
				if diff := cmp.Diff(string(tt.body), string(get(t, s, tt.key))); diff != "" {
					t.Errorf("Get body (-want +got):\n%s", diff)
				}
				obj, err := s.Stat(ctx, tt.key)
				if err != nil {
					t.Fatalf("Stat: %v", err)
				}
				if diff := cmp.Diff(storage.Object{Key: tt.key, Size: int64(len(tt.body))}, obj,
					cmpIgnoreModified); diff != "" {
					t.Errorf("Stat (-want +got):\n%s", diff)
				}
				if obj.Modified.Before(before) || obj.Modified.After(time.Now().Add(time.Minute)) {
					t.Errorf("Stat Modified = %v, want about now", obj.Modified)
				}
			})
		}
	})

	t.Run("PutReplaces", func(t *testing.T) {
		_, s := setup(t)
		put(t, s, "users/1/a", "old content")
		put(t, s, "users/1/a", "new")
		if diff := cmp.Diff("new", string(get(t, s, "users/1/a"))); diff != "" {
			t.Errorf("Get after second Put (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{"users/1/a"}, list(t, s, "", "")); diff != "" {
			t.Errorf("List (-want +got):\n%s", diff)
		}
	})

	t.Run("PutShortBodyFails", func(t *testing.T) {
		ctx, s := setup(t)
		// A truncated upload must not be stored as if complete.
		if err := s.Put(ctx, "users/1/a", strings.NewReader("abc"), 10); err == nil {
			t.Fatal("Put of 3 bytes with size 10 succeeded")
		}
		if _, err := s.Stat(ctx, "users/1/a"); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("Stat after failed Put = %v, want ErrNotFound", err)
		}
	})

	t.Run("Missing", func(t *testing.T) {
		ctx, s := setup(t)
		put(t, s, "users/1/a", "x")
		// "users/1" is a prefix of an object, not an object.
		for _, key := range []string{"users/2/a", "users/1", "users/1/a/b"} {
			_, err := s.Stat(ctx, key)
			checkNotFound(t, "Stat "+key, err)
			r, err := s.Get(ctx, key)
			if err == nil {
				r.Close()
			}
			checkNotFound(t, "Get "+key, err)
		}
	})

	t.Run("Delete", func(t *testing.T) {
		ctx, s := setup(t)
		put(t, s, "users/1/a", "x")
		put(t, s, "users/1/b", "x")
		for _, key := range []string{"users/1/a", "users/1/a", "users/9/never", "users/1"} {
			if err := s.Delete(ctx, key); err != nil {
				t.Errorf("Delete(%q) = %v, want nil (deleting a missing key succeeds)", key, err)
			}
		}
		if diff := cmp.Diff([]string{"users/1/b"}, list(t, s, "", "")); diff != "" {
			t.Errorf("List after Delete (-want +got):\n%s", diff)
		}
	})

	t.Run("DeleteMany", func(t *testing.T) {
		ctx, s := setup(t)
		for _, k := range []string{"users/1/a", "users/1/b", "users/1/c/d", "users/2/a"} {
			put(t, s, k, "x")
		}
		err := s.DeleteMany(ctx, []string{"users/1/a", "users/1/missing", "users/1/c/d", "users/3/x"})
		if err != nil {
			t.Fatalf("DeleteMany of present and missing keys: %v", err)
		}
		if diff := cmp.Diff([]string{"users/1/b", "users/2/a"}, list(t, s, "", "")); diff != "" {
			t.Errorf("List after DeleteMany (-want +got):\n%s", diff)
		}
		if err := s.DeleteMany(ctx, nil); err != nil {
			t.Errorf("DeleteMany(nil) = %v", err)
		}
	})

	t.Run("DeleteManyReportsEachFailure", func(t *testing.T) {
		ctx, s := setup(t)
		put(t, s, "users/1/a", "x")
		put(t, s, "users/1/b", "x")
		err := s.DeleteMany(ctx, []string{"users/1/a", "../etc/passwd", "users/1/b", "/abs"})
		var de *storage.DeleteError
		if !errors.As(err, &de) {
			t.Fatalf("DeleteMany with invalid keys = %v, want a *DeleteError", err)
		}
		var failedKeys []string
		for _, f := range de.Failed {
			failedKeys = append(failedKeys, f.Key)
			if !errors.Is(f.Err, storage.ErrInvalidKey) {
				t.Errorf("failure of %q = %v, want ErrInvalidKey", f.Key, f.Err)
			}
		}
		if diff := cmp.Diff([]string{"../etc/passwd", "/abs"}, failedKeys); diff != "" {
			t.Errorf("failed keys (-want +got):\n%s", diff)
		}
		if got := errclass.Of(err); got != errclass.Permanent {
			t.Errorf("class = %q, want permanent: only invalid keys failed", got)
		}
		for _, want := range []string{`"../etc/passwd"`, `"/abs"`, "2 of 4"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not mention %s", err, want)
			}
		}
		// The valid keys were deleted regardless.
		if diff := cmp.Diff([]string(nil), list(t, s, "", "")); diff != "" {
			t.Errorf("List after DeleteMany (-want +got):\n%s", diff)
		}
	})

	t.Run("ListPrefixAndStartAfter", func(t *testing.T) {
		ctx, s := setup(t)
		// Names around "/" in byte order (' ' '-' '.' < '/' < '0'), so that
		// a store walking directories lists in key order, not path order.
		keys := []string{
			"receipts/1", "users/1 x", "users/1-b/a", "users/1.jpg", "users/1/a",
			"users/1/b/c", "users/1/b/d", "users/1/b.txt", "users/10/a", "users/1x", "users/2/a",
			"users/a/b/c/d/e",
		}
		slices.Sort(keys)
		var wg sync.WaitGroup
		for _, k := range keys {
			wg.Go(func() { put(t, s, k, k) })
		}
		wg.Wait()
		prefixes := []string{"", "u", "users", "users/", "users/1", "users/1/", "users/1/b", "users/1/b/",
			"users/10", "users/1-", "users/a/b/", "nope/", "users/1/b/c"}
		afters := []string{"", "a", "receipts/1", "users/", "users/1", "users/1/", "users/1/b", "users/1/b/",
			"users/1/b/c", "users/1-b/", "users/1/a", "users/10/a", "users/1/zzz", "users/a/", "zzz"}
		for _, prefix := range prefixes {
			for _, after := range afters {
				var want []string
				for _, k := range keys {
					if strings.HasPrefix(k, prefix) && k > after {
						want = append(want, k)
					}
				}
				got, err := collect(s.List(ctx, prefix, after))
				if err != nil {
					t.Errorf("List(%q, %q): %v", prefix, after, err)
					continue
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("List(%q, %q) (-want +got):\n%s", prefix, after, diff)
				}
			}
		}
	})

	t.Run("ListObjectFields", func(t *testing.T) {
		ctx, s := setup(t)
		put(t, s, "users/1/a", "12345")
		for obj, err := range s.List(ctx, "users/", "") {
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(storage.Object{Key: "users/1/a", Size: 5}, obj, cmpIgnoreModified); diff != "" {
				t.Errorf("listed object (-want +got):\n%s", diff)
			}
			if obj.Modified.IsZero() {
				t.Error("listed object has no Modified time")
			}
		}
	})

	t.Run("CopyAndMove", func(t *testing.T) {
		ctx, s := setup(t)
		put(t, s, "users/1/a", "photo")
		put(t, s, "users/2/old", "replaced")

		if err := s.Copy(ctx, "users/1/a", "users/2/a"); err != nil {
			t.Fatalf("Copy: %v", err)
		}
		if err := s.Copy(ctx, "users/1/a", "users/2/old"); err != nil {
			t.Fatalf("Copy onto an existing key: %v", err)
		}
		if err := s.Copy(ctx, "users/1/a", "users/1/a"); err != nil {
			t.Fatalf("Copy onto itself: %v", err)
		}
		checkNotFound(t, "Copy of a missing key", s.Copy(ctx, "users/9/x", "users/9/y"))

		if err := s.Move(ctx, "users/2/a", "quarantine/users/2/a"); err != nil {
			t.Fatalf("Move: %v", err)
		}
		// A retried task repeats the move it already made.
		if err := s.Move(ctx, "users/2/a", "quarantine/users/2/a"); err != nil {
			t.Fatalf("Move repeated after completion: %v", err)
		}
		// A crash between the copy and the delete leaves both; the retry
		// finishes the move.
		if err := s.Copy(ctx, "users/2/old", "users/3/old"); err != nil {
			t.Fatal(err)
		}
		if err := s.Move(ctx, "users/2/old", "users/3/old"); err != nil {
			t.Fatalf("Move after a half-done move: %v", err)
		}
		if err := s.Move(ctx, "users/1/a", "users/1/a"); err != nil {
			t.Fatalf("Move onto itself: %v", err)
		}
		checkNotFound(t, "Move with neither key present", s.Move(ctx, "users/9/x", "users/9/y"))

		want := map[string]string{
			"users/1/a":            "photo",
			"quarantine/users/2/a": "photo",
			"users/3/old":          "photo",
		}
		got := map[string]string{}
		for _, k := range list(t, s, "", "") {
			got[k] = string(get(t, s, k))
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("objects after copies and moves (-want +got):\n%s", diff)
		}
	})

	t.Run("InvalidKeys", func(t *testing.T) {
		ctx, s := setup(t)
		put(t, s, "users/1/a", "x")
		tests := []struct {
			key     string
			problem string
		}{
			{"", "empty"},
			{"../x", `".." segment`},
			{"users/1/../../x", `".." segment`},
			{"users/./1", `"." segment`},
			{"/etc/passwd", "absolute"},
			{"users/1\x00/a", "NUL"},
			{`users\1\a`, "backslash"},
			{"users//1", "empty segment"},
			{"users/1/", "ends with /"},
			{strings.Repeat("k", storage.MaxKeyLength+1), "longer than"},
		}
		ops := map[string]func(key string) error{
			"Stat":   func(k string) error { _, err := s.Stat(ctx, k); return err },
			"Get":    func(k string) error { _, err := s.Get(ctx, k); return err },
			"Put":    func(k string) error { return s.Put(ctx, k, strings.NewReader("x"), 1) },
			"Delete": func(k string) error { return s.Delete(ctx, k) },
			"CopyTo": func(k string) error { return s.Copy(ctx, "users/1/a", k) },
			"MoveTo": func(k string) error { return s.Move(ctx, "users/1/a", k) },
			"CopyFrom": func(k string) error {
				return s.Copy(ctx, k, "users/1/b")
			},
		}
		for _, tt := range tests {
			for name, op := range ops {
				err := op(tt.key)
				if !errors.Is(err, storage.ErrInvalidKey) || !strings.Contains(fmt.Sprint(err), tt.problem) {
					t.Errorf("%s(%q) = %v, want ErrInvalidKey naming %q", name, tt.key, err, tt.problem)
				}
				if errclass.Of(err) != errclass.Permanent {
					t.Errorf("%s(%q) class = %q, want permanent", name, tt.key, errclass.Of(err))
				}
			}
		}
		for _, prefix := range []string{"../", "/users", "users/../", "a\x00"} {
			if _, err := collect(s.List(ctx, prefix, "")); !errors.Is(err, storage.ErrInvalidKey) {
				t.Errorf("List(%q) error = %v, want ErrInvalidKey", prefix, err)
			}
		}
		if diff := cmp.Diff([]string{"users/1/a"}, list(t, s, "", "")); diff != "" {
			t.Errorf("objects after refused operations (-want +got):\n%s", diff)
		}
	})

	t.Run("LargeListAndDeleteWhileListing", func(t *testing.T) {
		ctx, s := setup(t)
		// More than two S3 pages of 1,000, in several directories.
		const n = 2500
		want := make([]string, n)
		for i := range want {
			want[i] = fmt.Sprintf("users/big/%d/%05d", i%3, i)
		}
		slices.Sort(want)
		Seed(t, s, want, 16)
		put(t, s, "users/bigger/keep", "x") // matches "users/big", not "users/big/"

		if diff := cmp.Diff(want, list(t, s, "users/big/", "")); diff != "" {
			t.Errorf("List of %d keys (-want +got):\n%s", n, diff)
		}
		if diff := cmp.Diff(want[1234:], list(t, s, "users/big/", want[1233])); diff != "" {
			t.Errorf("List resumed after key 1233 (-want +got):\n%s", diff)
		}

		// An erasure: stream the prefix and delete in batches as it goes.
		var listed []string
		batch := make([]string, 0, 1000)
		for obj, err := range s.List(ctx, "users/big/", "") {
			if err != nil {
				t.Fatalf("List while deleting: %v", err)
			}
			listed = append(listed, obj.Key)
			if batch = append(batch, obj.Key); len(batch) == cap(batch) {
				if err := s.DeleteMany(ctx, batch); err != nil {
					t.Fatalf("DeleteMany while listing: %v", err)
				}
				batch = batch[:0]
			}
		}
		if err := s.DeleteMany(ctx, batch); err != nil {
			t.Fatalf("DeleteMany: %v", err)
		}
		if diff := cmp.Diff(want, listed); diff != "" {
			t.Errorf("keys listed while deleting (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{"users/bigger/keep"}, list(t, s, "", "")); diff != "" {
			t.Errorf("keys left after the erasure (-want +got):\n%s", diff)
		}
	})

	t.Run("ListStopsEarly", func(t *testing.T) {
		ctx, s := setup(t)
		for i := range 5 {
			put(t, s, fmt.Sprintf("users/1/%d", i), "x")
		}
		var got []string
		for obj, err := range s.List(ctx, "users/", "") {
			if err != nil {
				t.Fatal(err)
			}
			if got = append(got, obj.Key); len(got) == 2 {
				break
			}
		}
		if diff := cmp.Diff([]string{"users/1/0", "users/1/1"}, got); diff != "" {
			t.Errorf("keys before break (-want +got):\n%s", diff)
		}
	})
}

var cmpIgnoreModified = cmp.FilterPath(func(p cmp.Path) bool {
	return p.Last().String() == ".Modified"
}, cmp.Ignore())

// Seed puts each key (its own name as content) with the given number of
// concurrent writers.
func Seed(t testing.TB, s storage.Store, keys []string, workers int) {
	t.Helper()
	ch := make(chan string)
	var wg sync.WaitGroup
	var once sync.Once
	var firstErr error
	for range workers {
		wg.Go(func() {
			for k := range ch {
				if err := s.Put(context.Background(), k, strings.NewReader(k), int64(len(k))); err != nil {
					once.Do(func() { firstErr = err })
				}
			}
		})
	}
	for _, k := range keys {
		ch <- k
	}
	close(ch)
	wg.Wait()
	if firstErr != nil {
		t.Fatalf("seeding %d keys: %v", len(keys), firstErr)
	}
}

func put(t testing.TB, s storage.Store, key, body string) {
	t.Helper()
	if err := s.Put(context.Background(), key, strings.NewReader(body), int64(len(body))); err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
}

func get(t testing.TB, s storage.Store, key string) []byte {
	t.Helper()
	r, err := s.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("reading %q: %v", key, err)
	}
	return b
}

func list(t testing.TB, s storage.Store, prefix, after string) []string {
	t.Helper()
	keys, err := collect(s.List(context.Background(), prefix, after))
	if err != nil {
		t.Fatalf("List(%q, %q): %v", prefix, after, err)
	}
	return keys
}

func collect(seq func(func(storage.Object, error) bool)) ([]string, error) {
	var keys []string
	for obj, err := range seq {
		if err != nil {
			return keys, err
		}
		keys = append(keys, obj.Key)
	}
	return keys, nil
}

func checkNotFound(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("%s = %v, want ErrNotFound", what, err)
		return
	}
	if errclass.Of(err) != errclass.AlreadyGone {
		t.Errorf("%s class = %q, want %q", what, errclass.Of(err), errclass.AlreadyGone)
	}
}
