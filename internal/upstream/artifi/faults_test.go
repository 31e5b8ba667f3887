package artifi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lifecycle-worker/lifecycle/internal/errclass"
	"github.com/lifecycle-worker/lifecycle/internal/semaphore"
	"github.com/lifecycle-worker/lifecycle/internal/sim/artifisim"
	"github.com/lifecycle-worker/lifecycle/internal/sim/faults"
	"github.com/lifecycle-worker/lifecycle/internal/testutil"
	"github.com/lifecycle-worker/lifecycle/internal/upstream/artifi"
)

// inFlight counts every request on the wire, injected or not, so the test
// sees the concurrency the upstream sees.
type inFlight struct {
	now, peak atomic.Int64
}

func (f *inFlight) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := f.now.Add(1)
		for p := f.peak.Load(); n > p && !f.peak.CompareAndSwap(p, n); p = f.peak.Load() {
		}
		defer f.now.Add(-1)
		h.ServeHTTP(w, r)
	})
}

// deleteWithRetry is the smallest caller that honours errclass: retry what
// is retryable (after the asked delay, capped to keep the test short), stop
// on anything else.
func deleteWithRetry(ctx context.Context, c *artifi.Client, userID, photoID string) (errclass.Class, int, error) {
	for attempt := 1; ; attempt++ {
		err := c.DeleteUserPhotoV4(ctx, userID, photoID)
		switch errclass.Of(err) {
		case "":
			return "", attempt, nil
		case errclass.AlreadyGone, errclass.Permanent:
			return errclass.Of(err), attempt, err
		}
		if attempt == 200 {
			return errclass.Retry, attempt, err
		}
		// The delay the upstream asked for is the behaviour under test,
		// capped to keep 1,000 deletions short.
		d, _ := errclass.Delay(err)
		time.Sleep(min(d, 2*time.Millisecond))
	}
}

// TestDeletionsUnderFaults: a client under 50% injected 5xx and 429s
// completes 1,000 deletions with no extra deletion and no call beyond the
// concurrency limit, shared by two "processes" through one Redis.
func TestDeletionsUnderFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("1,000 deletions")
	}
	const (
		photos  = 1000
		limit   = 4
		workers = 8 // per process
	)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	sim := artifisim.New(artifisim.Options{
		WebsiteID: websiteID, ClientKey: clientKey,
		// MaxConcurrent makes the simulator refuse, and count, any request
		// beyond the limit, as Zoho does per organisation.
		// Latency makes calls outlast the semaphore's polling, so the limit
		// is actually reached rather than trivially respected.
		Faults: faults.Config{ErrorRate: 0.25, ThrottleRate: 0.25, MaxConcurrent: limit, Latency: 3 * time.Millisecond, Seed: 2026},
	})
	ids := sim.AddPhotos("erase-me", photos)
	var wire inFlight
	srv := httptest.NewServer(wire.wrap(sim.Handler()))
	defer srv.Close()

	mr, _ := testutil.Redis(t)
	work := make(chan string)
	var (
		wg                          sync.WaitGroup
		attempts, gone, failed, oks atomic.Int64
	)
	start := time.Now()
	for range 2 { // two worker processes: own Redis client, semaphore, Artifi client
		rdb := testutil.Client(t, mr.Addr())
		sem := semaphore.New(rdb, artifi.System, limit, semaphore.WithPoll(time.Millisecond, 5*time.Millisecond))
		c, err := artifi.New(artifi.Config{BaseURL: srv.URL, WebsiteID: websiteID, ClientKey: clientKey, Limiter: sem, MaxConns: limit})
		if err != nil {
			t.Fatal(err)
		}
		for range workers {
			wg.Go(func() {
				for id := range work {
					class, n, err := deleteWithRetry(ctx, c, "erase-me", id)
					attempts.Add(int64(n))
					switch {
					case err == nil:
						oks.Add(1)
					case class == errclass.AlreadyGone:
						gone.Add(1)
					default:
						failed.Add(1)
						t.Errorf("photo %s: %v", id, err)
					}
				}
			})
		}
	}
	for _, id := range ids {
		work <- id
	}
	close(work)
	wg.Wait()
	elapsed := time.Since(start)

	st := sim.Faults().Stats()
	t.Logf("%d deletions in %v: %d attempts, injected %v, peak on the wire %d, peak in handler %d",
		photos, elapsed.Round(time.Millisecond), attempts.Load(), st.Injected, wire.peak.Load(), st.PeakConcurrent)

	if left := sim.Photos("erase-me"); len(left) != 0 {
		t.Errorf("%d photos left, want 0", len(left))
	}
	if oks.Load() != photos || gone.Load() != 0 || failed.Load() != 0 {
		t.Errorf("outcomes: %d deleted, %d already gone, %d failed; want %d deleted", oks.Load(), gone.Load(), failed.Load(), photos)
	}
	extra := 0
	for _, id := range ids {
		if n := sim.DeleteCount(id); n != 1 {
			extra++
			if extra < 5 {
				t.Errorf("photo %s reached the delete logic %d times, want 1", id, n)
			}
		}
	}
	if sim.DoubleDeletes() != 0 || extra != 0 {
		t.Errorf("%d photos deleted more than once", max(extra, sim.DoubleDeletes()))
	}
	if p := wire.peak.Load(); p > limit || p < limit-1 {
		t.Errorf("peak concurrency on the wire %d, want at most %d and near it", p, limit)
	}
	if st.PeakConcurrent > limit || st.Injected[faults.KindConcurrency] != 0 {
		t.Errorf("simulator saw peak %d and refused %d for concurrency; want at most %d and none",
			st.PeakConcurrent, st.Injected[faults.KindConcurrency], limit)
	}
	// The faults really happened: about half of all attempts.
	injected := st.Injected[faults.KindError] + st.Injected[faults.KindThrottle]
	if share := float64(injected) / float64(attempts.Load()); share < 0.4 || share > 0.6 {
		t.Errorf("injected share %.2f of %d attempts, want about 0.5", share, attempts.Load())
	}
}
