package upstream

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
)

func TestFlightOneCallForAll(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var f Flight[string]
		var calls atomic.Int32
		release := make(chan struct{})
		var wg sync.WaitGroup
		got := make([]string, 5)
		for i := range got {
			wg.Go(func() {
				got[i], _ = f.Do(t.Context(), func(context.Context) (string, error) {
					calls.Add(1)
					<-release
					return "tok", nil
				})
			})
		}
		synctest.Wait() // every caller waits: on the call, or in it
		close(release)
		wg.Wait()
		if n := calls.Load(); n != 1 {
			t.Errorf("%d calls, want 1", n)
		}
		for i, tok := range got {
			if tok != "tok" {
				t.Errorf("caller %d got %q", i, tok)
			}
		}
	})
}

// A caller whose ctx ends stops waiting; when it was the one whose ctx the
// call ran under, the others run the call again instead of failing.
func TestFlightCallerGone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var f Flight[string]
		leaderCtx, cancel := context.WithCancel(t.Context())
		leaderErr := make(chan error, 1)
		go func() {
			_, err := f.Do(leaderCtx, func(ctx context.Context) (string, error) {
				<-ctx.Done()
				return "", ctx.Err()
			})
			leaderErr <- err
		}()
		synctest.Wait() // the leader's call runs
		follower := make(chan string, 1)
		go func() {
			tok, err := f.Do(t.Context(), func(context.Context) (string, error) { return "second", nil })
			if err != nil {
				t.Errorf("follower: %v", err)
			}
			follower <- tok
		}()
		synctest.Wait() // the follower waits on the leader's call
		cancel()
		if err := <-leaderErr; !errors.Is(err, context.Canceled) {
			t.Errorf("leader: %v, want context.Canceled", err)
		}
		if tok := <-follower; tok != "second" {
			t.Errorf("follower got %q, want the second call's token", tok)
		}
	})
}

func TestFlightPanicReachesTheCaller(t *testing.T) {
	var f Flight[string]
	defer func() {
		if r := recover(); r != "boom" {
			t.Errorf("recovered %v, want boom", r)
		}
	}()
	_, _ = f.Do(t.Context(), func(context.Context) (string, error) { panic("boom") })
	t.Error("Do returned after a panic")
}
