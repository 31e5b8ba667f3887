package storage_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/lifecycle-worker/lifecycle/internal/errclass"
	"github.com/lifecycle-worker/lifecycle/internal/storage"
	"github.com/lifecycle-worker/lifecycle/internal/storage/storagetest"
)

func openFileStore(t testing.TB, dir string) storage.Store {
	t.Helper()
	s, err := storage.Open(context.Background(), "file://"+dir, storage.Credentials{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestFileConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store {
		return openFileStore(t, t.TempDir())
	})
}

func TestFileOpen(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "missing", "data")
	s := openFileStore(t, dir)
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		t.Fatalf("Open did not create %s: %v", dir, err)
	}
	if diff := cmp.Diff("file://"+dir, s.String()); diff != "" {
		t.Errorf("String (-want +got):\n%s", diff)
	}

	if os.Geteuid() != 0 { // root writes anywhere
		ro := t.TempDir()
		if err := os.Chmod(ro, 0o555); err != nil {
			t.Fatal(err)
		}
		_, err := storage.Open(t.Context(), "file://"+ro, storage.Credentials{})
		if err == nil || !strings.Contains(err.Error(), "not writable") {
			t.Errorf("Open of a read-only directory = %v, want an error saying it is not writable", err)
		}
	}

	file := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := storage.Open(t.Context(), "file://"+file, storage.Credentials{}); err == nil {
		t.Error("Open of a regular file succeeded")
	}
}

// A symlink inside the root would let one key alias another user's objects;
// one pointing outside would let a key escape the root.
func TestFileRefusesSymlinks(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	outside := t.TempDir()
	s := openFileStore(t, dir)
	ctx := t.Context()
	put := func(key, body string) {
		t.Helper()
		if err := s.Put(ctx, key, strings.NewReader(body), -1); err != nil {
			t.Fatal(err)
		}
	}
	put("users/1/photo", "user 1")
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	for link, target := range map[string]string{
		"users/2":      filepath.Join(dir, "users/1"), // in-root directory alias
		"users/3":      outside,                       // escape
		"users/4/file": filepath.Join(dir, "users/1/photo"),
	} {
		p := filepath.Join(dir, link)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
	}

	for _, key := range []string{"users/2/photo", "users/3/secret", "users/4/file"} {
		if _, err := s.Get(ctx, key); err == nil || !strings.Contains(err.Error(), "symbolic link") {
			t.Errorf("Get(%q) = %v, want a symbolic link error", key, err)
		}
		if err := s.Delete(ctx, key); err == nil || errclass.Of(err) != errclass.Permanent {
			t.Errorf("Delete(%q) = %v, want a permanent error", key, err)
		}
		if err := s.Put(ctx, key+"/y", strings.NewReader("x"), 1); err == nil {
			t.Errorf("Put under %q succeeded", key)
		}
		if err := s.Move(ctx, "users/1/photo", key); err == nil {
			t.Errorf("Move to %q succeeded", key)
		}
	}
	got, err := collectKeys(s, "", "")
	if err != nil {
		t.Fatal(err)
	}
	// Links are not objects: a listing neither follows nor shows them.
	if diff := cmp.Diff([]string{"users/1/photo"}, got); diff != "" {
		t.Errorf("List (-want +got):\n%s", diff)
	}
	if _, err := collectKeys(s, "users/2/", ""); err == nil {
		t.Error("List under a symlinked prefix succeeded")
	}
	if b, _ := os.ReadFile(filepath.Join(outside, "secret")); string(b) != "secret" {
		t.Errorf("file outside the root changed: %q", b)
	}
}

func TestFileLayoutConflicts(t *testing.T) {
	t.Parallel()
	s := openFileStore(t, t.TempDir())
	ctx := t.Context()
	if err := s.Put(ctx, "users/1/a", strings.NewReader("x"), 1); err != nil {
		t.Fatal(err)
	}
	// A directory cannot be a file as well: S3 allows both keys, this store
	// says why it cannot.
	for _, key := range []string{"users/1", "users/1/a/b"} {
		err := s.Put(ctx, key, strings.NewReader("x"), 1)
		if err == nil || errclass.Of(err) != errclass.Permanent {
			t.Errorf("Put(%q) = %v, want a permanent error", key, err)
		}
	}
}

func TestFilePrunesEmptyDirectories(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := openFileStore(t, dir)
	ctx := t.Context()
	for _, k := range []string{"users/1/a/b/c", "users/1/a/d", "users/2/x", "users/3/y", "users/4/z"} {
		if err := s.Put(ctx, k, strings.NewReader("x"), 1); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteMany(ctx, []string{"users/1/a/b/c", "users/1/a/d"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "users/2/x"); err != nil {
		t.Fatal(err)
	}
	if err := s.Move(ctx, "users/3/y", "quarantine/3/y"); err != nil {
		t.Fatal(err)
	}
	var got []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		rel, _ := filepath.Rel(dir, p)
		got = append(got, filepath.ToSlash(rel))
		return err
	})
	slices.Sort(got)
	if diff := cmp.Diff([]string{".", "quarantine", "quarantine/3", "quarantine/3/y", "users", "users/4", "users/4/z"}, got); diff != "" {
		t.Errorf("tree after deletes (-want +got):\n%s", diff)
	}
}

// A crash mid-write leaves a temporary file; it must never be listed or
// read as an object.
func TestFileIgnoresTemporaryFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := openFileStore(t, dir)
	if err := os.MkdirAll(filepath.Join(dir, "users/1"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "users/1/.lifecycle-tmp-123"), []byte("half"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := collectKeys(s, "", "")
	if err != nil || len(got) != 0 {
		t.Errorf("List = %v, %v; want nothing", got, err)
	}
	if _, err := s.Stat(t.Context(), "users/1/.lifecycle-tmp-123"); !errors.Is(err, storage.ErrInvalidKey) {
		t.Errorf("Stat of a temporary file = %v, want ErrInvalidKey", err)
	}
}

func collectKeys(s storage.Store, prefix, after string) ([]string, error) {
	var keys []string
	for obj, err := range s.List(context.Background(), prefix, after) {
		if err != nil {
			return keys, err
		}
		keys = append(keys, obj.Key)
	}
	return keys, nil
}

// The file store's directory is its bucket: removed or replaced under a
// running store, no key is "not found" (already gone) in it; every call
// fails permanently, naming the directory, and the process is told.
func TestFileDirectoryRemoved(t *testing.T) {
	t.Parallel()
	for _, how := range []string{"removed", "replaced"} {
		t.Run(how, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "data")
			var alerts []string
			s, err := storage.OpenWith(context.Background(), "file://"+dir, storage.Options{MissingBucket: func(d string) { alerts = append(alerts, d) }})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			ctx := t.Context()
			if err := s.Put(ctx, "users/1/a.jpg", strings.NewReader("x"), 1); err != nil {
				t.Fatal(err)
			}
			if err := os.RemoveAll(dir); err != nil {
				t.Fatal(err)
			}
			if how == "replaced" {
				if err := os.MkdirAll(dir, 0o755); err != nil { // an empty mount point, say
					t.Fatal(err)
				}
			}

			_, statErr := s.Stat(ctx, "users/1/a.jpg")
			var listErr error
			for _, err := range s.List(ctx, "users/", "") {
				listErr = err
			}
			calls := map[string]error{
				"stat":        statErr,
				"delete":      s.Delete(ctx, "users/1/a.jpg"),
				"delete many": s.DeleteMany(ctx, []string{"users/1/a.jpg"}),
				"move":        s.Move(ctx, "users/1/a.jpg", "quarantine/1/a.jpg"),
				"list":        listErr,
			}
			got := map[string]bool{}
			want := map[string]bool{}
			for name, err := range calls {
				got[name] = errors.Is(err, storage.ErrBucketMissing) && errclass.Of(err) == errclass.Permanent && strings.Contains(err.Error(), dir)
				want[name] = true
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("permanent, naming the directory (-want +got):\n%s\nerrors: %v", diff, calls)
			}
			if len(alerts) != len(calls) {
				t.Errorf("%d alerts, want %d (one per call)", len(alerts), len(calls))
			}
		})
	}
}

// A directory the worker may no longer write (a chmod during a deploy, say)
// fails the deletion as retryable, not dead-lettered, and tells the process
// so it can alert; restored, the retry deletes. Root ignores the mode, so
// this runs only as another user; TestFileErrorClasses covers the errnos.
func TestFilePermissionDeniedRetries(t *testing.T) {
	t.Parallel()
	if os.Geteuid() == 0 {
		t.Skip("root is never denied by a directory's mode")
	}
	dir := t.TempDir()
	var causes []string
	s, err := storage.OpenWith(context.Background(), "file://"+dir, storage.Options{Degraded: func(c string) { causes = append(causes, c) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ctx := t.Context()
	if err := s.Put(ctx, "users/1/a.jpg", strings.NewReader("x"), 1); err != nil {
		t.Fatal(err)
	}
	userDir := filepath.Join(dir, "users", "1")
	if err := os.Chmod(userDir, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(userDir, 0o755) })

	err = s.Delete(ctx, "users/1/a.jpg")
	if errclass.Of(err) != errclass.Retry || !errors.Is(err, fs.ErrPermission) {
		t.Errorf("Delete in a read-only directory = %v (%s), want a retryable permission error", err, errclass.Of(err))
	}
	if diff := cmp.Diff([]string{storage.CausePermission}, causes); diff != "" {
		t.Errorf("reported causes (-want +got):\n%s", diff)
	}
	if err := os.Chmod(userDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "users/1/a.jpg"); err != nil {
		t.Errorf("Delete after the mode is restored = %v", err)
	}
}
