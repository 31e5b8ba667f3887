package integration

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"testing"

	"github.com/lifecycle-worker/lifecycle/integration/harness"
	"github.com/lifecycle-worker/lifecycle/internal/storage"
	"github.com/lifecycle-worker/lifecycle/internal/storage/storagetest"
)

// defaultS3BenchObjects is the figure. Seeding it through versitygw
// took 2m09s here (778 objects/s, 8 writers, 2 CPUs) and the erasure 1m22s;
// -storage-bench-objects=20000 gives a quicker run.
const defaultS3BenchObjects = 100_000

var s3BenchObjects = flag.Int("storage-bench-objects", 0,
	"objects BenchmarkListDeletePrefixS3 erases (default $LIFECYCLE_STORAGE_BENCH_OBJECTS, else 100000, the issue's figure)")

func s3BenchCount(b *testing.B) int {
	if *s3BenchObjects > 0 {
		return *s3BenchObjects
	}
	if v := os.Getenv("LIFECYCLE_STORAGE_BENCH_OBJECTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			b.Fatalf("LIFECYCLE_STORAGE_BENCH_OBJECTS=%q: want a positive count", v)
		}
		return n
	}
	return defaultS3BenchObjects
}

// The acceptance on S3: erasing a prefix stays under 64 MiB of heap
// growth, listing in pages of 1,000 and deleting in batches of 1,000.
func BenchmarkListDeletePrefixS3(b *testing.B) {
	s3 := harness.StartS3(b)
	s, err := storage.Open(b.Context(), s3.URL(), storage.Credentials{AccessKey: s3.AccessKey, SecretKey: s3.SecretKey})
	if err != nil {
		b.Fatal(err)
	}
	n := s3BenchCount(b)
	keys := make([]string, n)
	for i := range keys {
		// 1,000 keys per "directory": versitygw's posix backend keeps a
		// key's path as a directory tree and its deletes slow down with the
		// size of the directory (5,000 keys in one: 3.2 s for the first
		// batch of 1,000, against 0.6 s here), a cost of the test server,
		// not of S3.
		keys[i] = fmt.Sprintf("users/bench/%03d/%06d.jpg", i/1000, i)
	}
	storagetest.BenchmarkListDelete(b, s, "users/bench/", func(b *testing.B) int {
		storagetest.Seed(b, s, keys, 8) // more writers were slower on this 2-CPU machine
		return n
	})
}
