// Package userlock keeps work on one user id exclusive across every worker
// process: a merge and an erasure of the same user never run at once.
//
// A lock is a lease (internal/lease) on the user's key, held under the task
// id. A crashed owner's lock frees itself when the lease runs out, so the
// task's retry on another worker can go on, and the same owner may take its
// own lock again (a retry of the same task after a crash, before the lease
// ran out). A holder checks Lost or Err at its checkpoints and stops with
// the error once the lock is lost (see internal/lease for the rule).
package userlock

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/lifecycle-worker/lifecycle/internal/lease"
	"github.com/lifecycle-worker/lifecycle/internal/rkeys"
)

// LeaseDefault is how long a lock outlives a crashed owner.
const LeaseDefault = 30 * time.Second

// ErrHeld means another task holds the lock.
var ErrHeld = errors.New("userlock: held by another task")

// Locker takes user locks.
type Locker struct {
	rdb   redis.UniversalClient
	lease time.Duration
}

// New returns a Locker with the given lease (LeaseDefault if zero).
func New(rdb redis.UniversalClient, lease time.Duration) *Locker {
	if lease <= 0 {
		lease = LeaseDefault
	}
	return &Locker{rdb: rdb, lease: lease}
}

// HeldError says who must finish first and about when the lock frees.
type HeldError struct {
	UserID string
	Wait   time.Duration
}

func (e *HeldError) Error() string {
	return fmt.Sprintf("user %s is locked by another task (lease ends in %v)", e.UserID, e.Wait.Round(time.Millisecond))
}
func (e *HeldError) Unwrap() error { return ErrHeld }

// Lock is a set of held user locks.
type Lock struct {
	*lease.Lease // Lost and Err tell whether the locks are still held
}

// Acquire takes the locks of every id for owner, or none of them: if one is
// held by another task it returns a *HeldError naming the first such id in
// sorted order.
func (l *Locker) Acquire(ctx context.Context, owner string, ids ...string) (*Lock, error) {
	idOf := make(map[string]string, len(ids))
	keys := make([]string, 0, len(ids))
	for _, id := range ids {
		key := rkeys.UserLock(id)
		idOf[key] = id
		keys = append(keys, key)
	}
	ls, err := lease.Acquire(ctx, l.rdb, owner, l.lease, keys...)
	var (
		held   *lease.HeldError
		failed *lease.KeyError
	)
	switch {
	case errors.As(err, &held):
		return nil, &HeldError{UserID: idOf[held.Key], Wait: held.Wait}
	case errors.As(err, &failed):
		return nil, fmt.Errorf("userlock: acquire %s: %w", idOf[failed.Key], failed.Err)
	case err != nil:
		return nil, fmt.Errorf("userlock: %w", err)
	}
	return &Lock{ls}, nil
}
