package sweep

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// LeaseDefault is how long the sweep lock outlives a crashed holder: the next
// sweep task can resume the crashed one's work after that.
const LeaseDefault = 30 * time.Second

// ErrBusy means another sweep, purge or restore holds the sweep lock.
var ErrBusy = errors.New("sweep: another sweep, purge or restore is running")

// errLeaseLost ends a sweep whose lock ran out (Redis unreachable for a
// whole lease): another sweep may have taken over, so this one must stop
// touching storage.
var errLeaseLost = errors.New("sweep: lock lost")

// takeLease takes the lock for owner, or re-takes it if owner already holds
// it (a retry of the same sweep before the lease ran out).
//
//	KEYS[1] lock key
//	ARGV[1] owner, ARGV[2] lease in ms
//	returns 1 if owner now holds the lock, 0 if another does
var takeLease = redis.NewScript(`
local cur = redis.call("GET", KEYS[1])
if cur == false or cur == ARGV[1] then
	redis.call("SET", KEYS[1], ARGV[1], "PX", ARGV[2])
	return 1
end
return 0`)

// renewLease extends the lock only if owner still holds it.
//
//	KEYS[1] lock key
//	ARGV[1] owner, ARGV[2] lease in ms
//	returns 1 if renewed, 0 if lost
var renewLease = redis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then
	return redis.call("PEXPIRE", KEYS[1], ARGV[2])
end
return 0`)

// dropLease deletes the lock only if owner still holds it.
//
//	KEYS[1] lock key
//	ARGV[1] owner
//	returns 1 if released, 0 if not held by owner
var dropLease = redis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then
	return redis.call("DEL", KEYS[1])
end
return 0`)

// lease is a held sweep lock, renewed in the background until released.
type lease struct {
	rdb    redis.UniversalClient
	key    string
	owner  string
	ttl    time.Duration
	cancel context.CancelCauseFunc
	done   chan struct{}
}

// acquire takes the lock and returns a context that ends when the lock is
// lost, so that work stops before a second sweep could start.
func acquire(ctx context.Context, rdb redis.UniversalClient, key, owner string, ttl time.Duration) (*lease, context.Context, error) {
	n, err := takeLease.Run(ctx, rdb, []string{key}, owner, ttl.Milliseconds()).Int64()
	if err != nil {
		return nil, nil, fmt.Errorf("sweep: take lock: %w", err)
	}
	if n == 0 {
		return nil, nil, ErrBusy
	}
	lctx, cancel := context.WithCancelCause(ctx)
	l := &lease{rdb: rdb, key: key, owner: owner, ttl: ttl, cancel: cancel, done: make(chan struct{})}
	go l.keep(lctx)
	return l, lctx, nil
}

func (l *lease) keep(ctx context.Context) {
	defer close(l.done)
	t := time.NewTicker(l.ttl / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			rctx, cancel := context.WithTimeout(ctx, l.ttl/3)
			n, err := renewLease.Run(rctx, l.rdb, []string{l.key}, l.owner, l.ttl.Milliseconds()).Int64()
			cancel()
			// A failed call is retried on the next tick, within the lease;
			// only an answer that another holds the lock is final.
			if err == nil && n == 0 {
				l.cancel(errLeaseLost)
				return
			}
		}
	}
}

// release stops renewing and frees the lock. The lock's key is deleted even
// if ctx has ended, so that a cancelled sweep does not block the next one
// for a lease.
func (l *lease) release(ctx context.Context) {
	l.cancel(nil)
	<-l.done
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = dropLease.Run(ctx, l.rdb, []string{l.key}, l.owner).Err()
}
