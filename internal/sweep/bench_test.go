package sweep_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/lifecycle-worker/lifecycle/internal/identity"
	"github.com/lifecycle-worker/lifecycle/internal/merge"
	"github.com/lifecycle-worker/lifecycle/internal/sweep"
	"github.com/lifecycle-worker/lifecycle/internal/testutil"
	"github.com/lifecycle-worker/lifecycle/internal/userlock"
)

// MaxPeakHeap is the bound on the heap during a sweep of 1,000,000
// objects.
const MaxPeakHeap = 128 << 20

// benchObjects is the store's size: LIFECYCLE_SWEEP_BENCH_OBJECTS, or the
// issue's 1,000,000.
func benchObjects(b *testing.B) int {
	if v := os.Getenv("LIFECYCLE_SWEEP_BENCH_OBJECTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 100 {
			b.Fatalf("LIFECYCLE_SWEEP_BENCH_OBJECTS=%q: want a number of at least 100", v)
		}
		return n
	}
	return 1_000_000
}

const (
	perUser    = 100 // 60 photos and 40 designs
	photosEach = 60
	// Of every 100 users, one is erased and one is an expired guest; the
	// others are live with one photo deleted upstream.
	missingPhoto = "7"
)

// benchPhotos answers like Artifi for the benchmark's users without holding
// a list per user, so that the heap measured is the sweep's own.
type benchPhotos struct{}

func (benchPhotos) AllUserPhotoIDs(ctx context.Context, userID string) ([]string, error) {
	ids := make([]string, 0, photosEach)
	for p := range photosEach {
		if s := strconv.Itoa(p); s != missingPhoto {
			ids = append(ids, s)
		}
	}
	return ids, nil
}

func benchUser(u int) string {
	switch u % 100 {
	case 37:
		return fmt.Sprintf("guest-%07d", u)
	default:
		return fmt.Sprintf("u-%07d", u)
	}
}

// seedFiles writes n empty objects as files straight into dir: through the
// store's Put (temporary file, two fsyncs, rename) a million objects would
// take most of an hour; the sweep reads them the same either way.
func seedFiles(b *testing.B, dir string, n int) {
	b.Helper()
	users := n / perUser
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for w := range 4 {
		wg.Go(func() {
			for u := w; u < users; u += 4 {
				base := filepath.Join(dir, "users", benchUser(u))
				for _, sub := range []string{"photos", "designs"} {
					if err := os.MkdirAll(filepath.Join(base, sub), 0o755); err != nil {
						errs <- err
						return
					}
				}
				for i := range perUser {
					name := filepath.Join(base, "designs", strconv.Itoa(i)+".json")
					if i < photosEach {
						name = filepath.Join(base, "photos", strconv.Itoa(i)+".jpg")
					}
					if err := os.WriteFile(name, nil, 0o644); err != nil {
						errs <- err
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
}

// BenchmarkSweepMillion marks and quarantines a file store of 1,000,000
// objects (10,000 users; 3% orphans: erased users, expired guests, photos
// deleted upstream), reporting objects/s and the peak heap, which must stay
// under 128 MiB.
func BenchmarkSweepMillion(b *testing.B) {
	n := benchObjects(b)
	store, dir := testutil.FileStore(b)
	start := time.Now()
	seedFiles(b, dir, n)
	b.Logf("seeded %d objects in %v", n, time.Since(start).Round(time.Second))
	_, rdb := testutil.Redis(b)
	ids := identity.New(rdb)
	for u := 0; u < n/perUser; u++ {
		if u%100 == 11 {
			if err := ids.SetTombstone(context.Background(), "erase", time.Now(), benchUser(u)); err != nil {
				b.Fatal(err)
			}
		}
	}
	s, err := sweep.New(sweep.Params{
		Store: store, Redis: rdb, Identity: ids, Merges: &merge.Merger{Redis: rdb}, Photos: benchPhotos{}, Locks: userlock.New(rdb, 0),
		// Every object is 40 days old at the sweep's clock: past the grace
		// period, and every guest past the 30-day retention.
		Now: func() time.Time { return time.Now().Add(40 * 24 * time.Hour) },
		Log: zerolog.Nop(),
	})
	if err != nil {
		b.Fatal(err)
	}

	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		runtime.GC()
		var peak uint64
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			t := time.NewTicker(5 * time.Millisecond)
			defer t.Stop()
			var ms runtime.MemStats
			for {
				runtime.ReadMemStats(&ms)
				peak = max(peak, ms.HeapAlloc)
				select {
				case <-stop:
					return
				case <-t.C:
				}
			}
		})
		t0 := time.Now()
		rep, err := s.Sweep(context.Background(), "bench-"+strconv.Itoa(i), false)
		elapsed := time.Since(t0)
		close(stop)
		wg.Wait()
		if err != nil {
			b.Fatal(err)
		}
		if i == 0 && rep.Scanned != int64(n) {
			b.Fatalf("scanned %d objects, want %d", rep.Scanned, n)
		}
		b.ReportMetric(float64(rep.Scanned)/elapsed.Seconds(), "objects/s")
		b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
		b.ReportMetric(float64(rep.Moved), "moved")
		b.Logf("sweep of %d objects: %v, %.0f objects/s, peak heap %.1f MiB, %d candidates %v, %d moved",
			rep.Scanned, elapsed.Round(time.Millisecond), float64(rep.Scanned)/elapsed.Seconds(),
			float64(peak)/(1<<20), rep.CandidateCount(), rep.Candidates, rep.Moved)
		if peak >= MaxPeakHeap {
			b.Fatalf("peak heap %.1f MiB, want under %d MiB", float64(peak)/(1<<20), MaxPeakHeap>>20)
		}
	}
}
