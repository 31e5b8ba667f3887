package storagetest

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/lifecycle-worker/lifecycle/internal/storage"
)

// MaxHeapGrowth is the bound on heap growth while a prefix of
// 100,000 objects is listed and deleted.
const MaxHeapGrowth = 64 << 20

// ListDeleteResult is what one erasure of a prefix cost.
type ListDeleteResult struct {
	Objects        int
	Elapsed        time.Duration
	PeakHeapGrowth uint64 // highest HeapAlloc seen, less HeapAlloc after a GC before the start
}

// ObjectsPerSec is the erasure's throughput.
func (r ListDeleteResult) ObjectsPerSec() float64 {
	return float64(r.Objects) / r.Elapsed.Seconds()
}

// ListDelete erases prefix the way an erasure does, streaming:
// list, gather 1,000 keys, DeleteMany them, go on listing. It samples the
// heap every millisecond meanwhile, since a store that collected every key
// before deleting would show its peak only in the middle of the run.
func ListDelete(ctx context.Context, s storage.Store, prefix string) (ListDeleteResult, error) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc

	var peak uint64
	sample := func() {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		peak = max(peak, ms.HeapAlloc)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				sample()
			}
		}
	})

	start := time.Now()
	n, err := listDelete(ctx, s, prefix)
	elapsed := time.Since(start)
	close(stop)
	wg.Wait()
	sample()

	res := ListDeleteResult{Objects: n, Elapsed: elapsed}
	if peak > base {
		res.PeakHeapGrowth = peak - base
	}
	return res, err
}

func listDelete(ctx context.Context, s storage.Store, prefix string) (int, error) {
	n := 0
	batch := make([]string, 0, 1000)
	for obj, err := range s.List(ctx, prefix, "") {
		if err != nil {
			return n, err
		}
		if batch = append(batch, obj.Key); len(batch) == cap(batch) {
			if err := s.DeleteMany(ctx, batch); err != nil {
				return n, err
			}
			n += len(batch)
			batch = batch[:0]
		}
	}
	if err := s.DeleteMany(ctx, batch); err != nil {
		return n, err
	}
	return n + len(batch), nil
}

// BenchmarkListDelete seeds prefix with seed (untimed) and erases it with
// ListDelete, once per iteration. It reports objects/s and the peak heap
// growth in MiB, and fails if the growth reaches MaxHeapGrowth or if any
// object is left.
func BenchmarkListDelete(b *testing.B, s storage.Store, prefix string, seed func(b *testing.B) int) {
	var objects int
	var elapsed time.Duration
	var peak uint64
	for range b.N {
		b.StopTimer()
		seedStart := time.Now()
		n := seed(b)
		b.Logf("seeded %d objects in %v (%.0f objects/s)", n, time.Since(seedStart).Round(time.Millisecond),
			float64(n)/time.Since(seedStart).Seconds())
		b.StartTimer()
		res, err := ListDelete(context.Background(), s, prefix)
		if err != nil {
			b.Fatalf("erasing %s: %v", prefix, err)
		}
		b.StopTimer()
		if res.Objects != n {
			b.Fatalf("erased %d objects, seeded %d", res.Objects, n)
		}
		if left := leftover(s, prefix); left != "" {
			b.Fatalf("object left after the erasure: %s", left)
		}
		b.Logf("listed and deleted %d objects in %v: %.0f objects/s, peak heap growth %.1f MiB",
			res.Objects, res.Elapsed.Round(time.Millisecond), res.ObjectsPerSec(), float64(res.PeakHeapGrowth)/(1<<20))
		objects += res.Objects
		elapsed += res.Elapsed
		peak = max(peak, res.PeakHeapGrowth)
		b.StartTimer()
	}
	b.ReportMetric(float64(objects)/elapsed.Seconds(), "objects/s")
	b.ReportMetric(float64(peak)/(1<<20), "MiB-heap-growth")
	if peak >= MaxHeapGrowth {
		b.Fatalf("heap grew by %.1f MiB while erasing, the bound is %d MiB", float64(peak)/(1<<20), MaxHeapGrowth>>20)
	}
}

func leftover(s storage.Store, prefix string) string {
	for obj, err := range s.List(context.Background(), prefix, "") {
		if err != nil {
			return fmt.Sprintf("(listing failed: %v)", err)
		}
		return obj.Key
	}
	return ""
}
