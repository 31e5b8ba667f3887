package userlock

import (
	"context"
	"errors"

	"github.com/lifecycle-worker/lifecycle/internal/errclass"
)

// AcquireOrRetry is Acquire for work run as a task: a lock held by another
// task is a retry once its lease could have ended, not a failure.
func (l *Locker) AcquireOrRetry(ctx context.Context, owner string, ids ...string) (*Lock, error) {
	lock, err := l.Acquire(ctx, owner, ids...)
	var held *HeldError
	if errors.As(err, &held) {
		return nil, errclass.RetryAfter(err, held.Wait)
	}
	return lock, err
}
