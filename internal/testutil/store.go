package testutil

import (
	"context"
	"strings"
	"testing"

	"github.com/lifecycle-worker/lifecycle/internal/storage"
)

// FileStore opens a file store in a directory of its own, closed when the
// test ends, and returns it with its directory (for a process started on the
// same store, or to backdate files).
func FileStore(t testing.TB) (storage.Store, string) {
	t.Helper()
	dir := t.TempDir()
	store, err := storage.Open(context.Background(), "file://"+dir, storage.Credentials{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	return store, dir
}

// PutObjects stores each key with "body of {key}" as its content.
func PutObjects(t testing.TB, store storage.Store, keys ...string) {
	t.Helper()
	for _, k := range keys {
		body := "body of " + k
		if err := store.Put(context.Background(), k, strings.NewReader(body), int64(len(body))); err != nil {
			t.Fatalf("put %s: %v", k, err)
		}
	}
}

// Keys lists every key under prefix, in the store's (sorted) order.
func Keys(t testing.TB, store storage.Store, prefix string) []string {
	t.Helper()
	var out []string
	for o, err := range store.List(context.Background(), prefix, "") {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, o.Key)
	}
	return out
}
