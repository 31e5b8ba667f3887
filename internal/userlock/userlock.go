// Package userlock keeps work on one user id exclusive across every worker
// process: a merge and an erasure of the same user never run at once.
//
// A lock is a Redis key holding its owner (the task id) with a lease. The
// owner renews the lease while it works; a crashed owner's lock frees itself
// when the lease runs out, so the task's retry on another worker can go on.
// The same owner may take its own lock again (a retry of the same task after
// a crash, before the lease ran out).
package userlock

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

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

// acquire takes or re-takes a lock.
//
//	KEYS[1] lock key
//	ARGV[1] owner, ARGV[2] lease in ms
//	returns 1 if owner now holds the lock, else the lock's remaining ms (negative never)
var acquire = redis.NewScript(`
local cur = redis.call("GET", KEYS[1])
if cur == false or cur == ARGV[1] then
	redis.call("SET", KEYS[1], ARGV[1], "PX", ARGV[2])
	return -1
end
return redis.call("PTTL", KEYS[1])`)

// release deletes a lock only if owner still holds it.
//
//	KEYS[1] lock key
//	ARGV[1] owner
//	returns 1 if released, 0 if not held by owner
var release = redis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then
	return redis.call("DEL", KEYS[1])
end
return 0`)

// renew extends a lock's lease only if owner still holds it.
//
//	KEYS[1] lock key
//	ARGV[1] owner, ARGV[2] lease in ms
//	returns 1 if renewed, 0 if lost
var renew = redis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then
	return redis.call("PEXPIRE", KEYS[1], ARGV[2])
end
return 0`)

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
	l     *Locker
	owner string
	keys  []string
	stop  chan struct{}
	done  sync.WaitGroup
	once  sync.Once
}

// Acquire takes the locks of every id for owner, or none of them: if one is
// held by another task it releases what it took and returns a *HeldError.
// Ids are taken in sorted order so two tasks locking the same pair cannot
// each hold one half.
func (l *Locker) Acquire(ctx context.Context, owner string, ids ...string) (*Lock, error) {
	ids = slices.Clone(ids)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	lk := &Lock{l: l, owner: owner, stop: make(chan struct{})}
	for _, id := range ids {
		key := rkeys.UserLock(id)
		n, err := acquire.Run(ctx, l.rdb, []string{key}, owner, l.lease.Milliseconds()).Int64()
		if err != nil {
			lk.releaseKeys(context.WithoutCancel(ctx))
			return nil, fmt.Errorf("userlock: acquire %s: %w", id, err)
		}
		if n >= 0 {
			lk.releaseKeys(context.WithoutCancel(ctx))
			return nil, &HeldError{UserID: id, Wait: time.Duration(n) * time.Millisecond}
		}
		lk.keys = append(lk.keys, key)
	}
	lk.done.Add(1)
	go lk.keepAlive()
	return lk, nil
}

func (lk *Lock) keepAlive() {
	defer lk.done.Done()
	t := time.NewTicker(lk.l.lease / 3)
	defer t.Stop()
	for {
		select {
		case <-lk.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), lk.l.lease/3)
			for _, k := range lk.keys {
				// A failed renewal is retried on the next tick; a lock truly
				// lost (lease ran out while Redis was unreachable) is caught
				// by the handler's own idempotency, not here.
				_ = renew.Run(ctx, lk.l.rdb, []string{k}, lk.owner, lk.l.lease.Milliseconds()).Err()
			}
			cancel()
		}
	}
}

// Release frees the locks. Safe to call more than once.
func (lk *Lock) Release(ctx context.Context) {
	lk.once.Do(func() {
		close(lk.stop)
		lk.done.Wait()
		lk.releaseKeys(ctx)
	})
}

func (lk *Lock) releaseKeys(ctx context.Context) {
	for _, k := range lk.keys {
		_ = release.Run(ctx, lk.l.rdb, []string{k}, lk.owner).Err()
	}
}
