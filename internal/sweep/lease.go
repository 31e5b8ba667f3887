package sweep

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// LeaseDefault is how long the sweep lock outlives a crashed holder: the next
// sweep task can resume the crashed one's work after that.
const LeaseDefault = 30 * time.Second

// ErrBusy means another sweep, purge or restore holds the sweep lock. The
// error is a *BusyError.
var ErrBusy = errors.New("sweep: another sweep, purge or restore is running")

// BusyError says who holds the sweep lock and for how long at most, if its
// holder stopped renewing it.
type BusyError struct {
	// Holder is the sweep id (or "purge:..."/"restore:...") of the holder.
	// It may be this very sweep: an earlier attempt that crashed, whose
	// lease has not run out yet.
	Holder string
	Wait   time.Duration
}

func (e *BusyError) Error() string {
	return fmt.Sprintf("%v: %s holds the lock (lease ends within %v)", ErrBusy, e.Holder, e.Wait.Round(time.Millisecond))
}

func (e *BusyError) Unwrap() error { return ErrBusy }

// errLeaseLost ends a sweep whose lock ran out (Redis unreachable for a
// whole lease): another sweep may have taken over, so this one must stop
// touching storage.
var errLeaseLost = errors.New("sweep: lock lost")

// takeLease takes the lock for owner if it is free.
//
//	KEYS[1] lock key
//	ARGV[1] owner, ARGV[2] lease in ms
//	returns {1} if owner now holds the lock, else {0, holder, remaining ms}
var takeLease = redis.NewScript(`
local cur = redis.call("GET", KEYS[1])
if cur == false then
	redis.call("SET", KEYS[1], ARGV[1], "PX", ARGV[2])
	return {1}
end
return {0, cur, redis.call("PTTL", KEYS[1])}`)

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
//
// The lock is never re-entered, not even by the same sweep id: two attempts
// of one sweep can run at once (asynq hands a task whose worker lost Redis
// to another worker; an operator runs `sweep run --id` with a scheduled id),
// so every attempt holds the lock under an owner of its own, the sweep id
// plus a random suffix. A crashed attempt's lock frees with its lease.
func acquire(ctx context.Context, rdb redis.UniversalClient, key, name string, ttl time.Duration) (*lease, context.Context, error) {
	owner := name + "/" + strconv.FormatUint(rand.Uint64(), 36)
	res, err := takeLease.Run(ctx, rdb, []string{key}, owner, ttl.Milliseconds()).Slice()
	if err != nil {
		return nil, nil, fmt.Errorf("sweep: take lock: %w", err)
	}
	if n, _ := res[0].(int64); n != 1 {
		holder, _ := res[1].(string)
		ms, _ := res[2].(int64)
		if i := strings.LastIndexByte(holder, '/'); i >= 0 {
			holder = holder[:i]
		}
		return nil, nil, &BusyError{Holder: holder, Wait: time.Duration(max(ms, 0)) * time.Millisecond}
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
