package userlock

import (
	"context"
	"errors"
	"time"

	"github.com/lifecycle-worker/lifecycle/internal/errclass"
)

// AcquireOrRetry is Acquire for work run as a task: a lock held by another
// task is a retry once its lease could have ended, not a failure.
func (l *Locker) AcquireOrRetry(ctx context.Context, owner string, ids ...string) (*Lock, error) {
	return l.AcquireWithin(ctx, 0, owner, ids...)
}

// waitStep is how often AcquireWithin tries again.
const waitStep = 50 * time.Millisecond

// AcquireWithin is AcquireOrRetry that first keeps trying for up to wait: a
// sweep holds a guest's lock only while it moves that guest's objects
// (milliseconds), and a merge whose customer waits should not give its
// attempt up for a whole lease because of it.
func (l *Locker) AcquireWithin(ctx context.Context, wait time.Duration, owner string, ids ...string) (*Lock, error) {
	deadline := time.Now().Add(wait)
	for {
		lock, err := l.Acquire(ctx, owner, ids...)
		var held *HeldError
		if !errors.As(err, &held) {
			return lock, err
		}
		if time.Now().Add(waitStep).After(deadline) {
			return nil, errclass.RetryAfter(err, held.Wait)
		}
		select {
		case <-ctx.Done():
			return nil, errclass.RetryAfter(err, held.Wait)
		case <-time.After(waitStep):
		}
	}
}
