package storage_test

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/lifecycle-worker/lifecycle/internal/storage/storagetest"
)

var benchObjects = flag.Int("storage-bench-objects", 100_000, "objects BenchmarkListDeletePrefix erases")

// The acceptance: erasing a prefix of 100,000 objects stays under
// 64 MiB of heap growth. All objects sit in one directory, the file store's
// worst case (it reads a directory's names whole to sort them).
func BenchmarkListDeletePrefix(b *testing.B) {
	dir := b.TempDir()
	s := openFileStore(b, dir)
	photos := filepath.Join(dir, "users", "bench", "photos")
	storagetest.BenchmarkListDelete(b, s, "users/bench/", func(b *testing.B) int {
		// Seeded with plain writes, not Put, for speed: Put fsyncs each
		// object, and how the files got there does not matter to the
		// listing and deleting measured here.
		if err := os.MkdirAll(photos, 0o755); err != nil {
			b.Fatal(err)
		}
		for i := range *benchObjects {
			if err := os.WriteFile(filepath.Join(photos, fmt.Sprintf("%06d.jpg", i)), []byte("jpeg"), 0o644); err != nil {
				b.Fatal(err)
			}
		}
		return *benchObjects
	})
}
