// Package sweeptest seeds stores for sweep tests and benchmarks, and fakes
// the upstream photo list.
package sweeptest

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/lifecycle-worker/lifecycle/internal/storage"
	"github.com/lifecycle-worker/lifecycle/internal/testutil"
)

// Object is one seeded object, Age old at the test's clock.
type Object struct {
	Key string
	Age time.Duration
}

// Seed puts objs into store, a file store rooted at dir, as
// testutil.PutObjects does, and backdates each file to now-Age: the file
// store reports a file's mtime as the object's modification time, and Put
// has no way to set it.
func Seed(t testing.TB, store storage.Store, dir string, now time.Time, objs []Object) {
	t.Helper()
	for _, o := range objs {
		testutil.PutObjects(t, store, o.Key)
		mt := now.Add(-o.Age)
		if err := os.Chtimes(filepath.Join(dir, filepath.FromSlash(o.Key)), mt, mt); err != nil {
			t.Fatal(err)
		}
	}
}

// Photos is a fake Artifi photo list. Fail, when set, is returned instead
// of the list from the call numbered FailAt (1-based) on.
type Photos struct {
	mu     sync.Mutex
	byUser map[string][]string
	calls  int
	FailAt int
	Fail   error
	// Empty answers an empty list for everyone: the upstream outage the
	// safety limit is for.
	Empty bool
	// OnCall, when set, runs at each call (outside the lock), so that a test
	// can change the world in the middle of a sweep.
	OnCall func(userID string)
}

// Set gives userID the photo ids.
func (p *Photos) Set(userID string, ids ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.byUser == nil {
		p.byUser = map[string][]string{}
	}
	p.byUser[userID] = ids
}

// Calls is the number of AllUserPhotoIDs calls so far.
func (p *Photos) Calls() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls
}

// AllUserPhotoIDs implements sweep.Photos.
func (p *Photos) AllUserPhotoIDs(ctx context.Context, userID string) ([]string, error) {
	if p.OnCall != nil {
		p.OnCall(userID)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls++
	if p.Fail != nil && p.calls >= p.FailAt {
		return nil, p.Fail
	}
	if p.Empty {
		return []string{}, nil
	}
	return slices.Clone(p.byUser[userID]), nil
}
