// Package lease takes Redis locks that a crashed holder cannot keep forever.
//
// A lease is one or more keys, each holding its owner's name with an expiry.
// While the holder works, Acquire's keep-alive renews them every third of the
// lease; a holder that dies stops renewing, and its keys free themselves when
// the lease runs out, so that a retry elsewhere can go on. The same owner
// may take its keys again (a retry of the same task after a crash, before
// the lease ran out); owners that must not re-enter use a fresh name per
// attempt.
//
// # A lease lost mid-work
//
// A lease is lost when Redis answers a renewal with "not yours": the keys ran
// out (Redis was unreachable for a whole lease) and another owner may hold
// them now. A renewal that fails outright is retried on the next tick; only
// that answer is final. Loss closes Lost and makes Err return ErrLost.
//
// The rule: a holder whose lease is lost stops work at its next checkpoint
// (before its next step that the lease guards) and returns an error that is
// retried (Err's, or its own), so that the task runs again under a lease of
// its own instead of racing the new holder. A holder never finds out sooner
// than the renewal after the loss, so its steps must be safe to repeat.
//
// Keys come from the caller (internal/rkeys names them all). Each key is set,
// renewed and released by its own script, so that the keys of one lease may
// live in different Redis Cluster slots.
package lease

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrHeld means another owner holds a key. The error is a *HeldError.
var ErrHeld = errors.New("lease: held by another owner")

// ErrLost means a held lease ran out and may have been taken over.
var ErrLost = errors.New("lease: lost")

// HeldError says who holds a key and for how long at most, if its holder
// stopped renewing it.
type HeldError struct {
	Key    string
	Holder string
	Wait   time.Duration
}

func (e *HeldError) Error() string {
	return fmt.Sprintf("lease: %s is held by %s (lease ends within %v)", e.Key, e.Holder, e.Wait.Round(time.Millisecond))
}

func (e *HeldError) Unwrap() error { return ErrHeld }

// KeyError is a Redis failure on one key of a lease. Its text is Redis's
// error alone, so that callers can name the key in their own terms.
type KeyError struct {
	Key string
	Err error
}

func (e *KeyError) Error() string { return e.Err.Error() }
func (e *KeyError) Unwrap() error { return e.Err }

// acquireScript takes a key if it is free or already the owner's.
//
//	KEYS[1] the key
//	ARGV[1] owner, ARGV[2] lease in ms
//	returns {1} if owner now holds the key, else {0, holder, remaining ms}
var acquireScript = redis.NewScript(`
local cur = redis.call("GET", KEYS[1])
if cur == false or cur == ARGV[1] then
	redis.call("SET", KEYS[1], ARGV[1], "PX", ARGV[2])
	return {1}
end
return {0, cur, redis.call("PTTL", KEYS[1])}`)

// renewScript extends a key's lease only if owner still holds it.
//
//	KEYS[1] the key
//	ARGV[1] owner, ARGV[2] lease in ms
//	returns 1 if renewed, 0 if lost
var renewScript = redis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then
	return redis.call("PEXPIRE", KEYS[1], ARGV[2])
end
return 0`)

// deleteIfScript deletes a key only if it still holds a value.
//
//	KEYS[1] the key
//	ARGV[1] the value: a lease's owner, or a token found rejected
//	returns 1 if deleted, 0 if the key holds something else or nothing
var deleteIfScript = redis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then
	return redis.call("DEL", KEYS[1])
end
return 0`)

// DeleteIf deletes key only if it still holds value: how a lease lets its
// keys go, and how a process drops a shared value it found bad without
// dropping one that another process has put in its place since.
func DeleteIf(ctx context.Context, rdb redis.UniversalClient, key, value string) error {
	return deleteIfScript.Run(ctx, rdb, []string{key}, value).Err()
}

// Lease is a set of held keys, renewed in the background until Release.
type Lease struct {
	rdb   redis.UniversalClient
	owner string
	ttl   time.Duration
	keys  []string

	lost     chan struct{}
	loseOnce sync.Once

	stop        context.CancelFunc // ends the keep-alive
	done        chan struct{}      // closed when the keep-alive has ended
	releaseOnce sync.Once
}

// Acquire takes every key for owner for ttl, or none of them: if one is held
// by another owner it releases what it took and returns a *HeldError; a Redis
// failure is a *KeyError. Keys are taken in sorted order so that two owners
// locking overlapping sets cannot each hold a part and both give up.
func Acquire(ctx context.Context, rdb redis.UniversalClient, owner string, ttl time.Duration, keys ...string) (*Lease, error) {
	if ttl < time.Millisecond {
		return nil, fmt.Errorf("lease: lease %v is shorter than a millisecond", ttl)
	}
	keys = slices.Clone(keys)
	slices.Sort(keys)
	keys = slices.Compact(keys)
	l := &Lease{rdb: rdb, owner: owner, ttl: ttl, lost: make(chan struct{}), done: make(chan struct{})}
	for _, key := range keys {
		res, err := acquireScript.Run(ctx, rdb, []string{key}, owner, ttl.Milliseconds()).Slice()
		if err != nil {
			l.releaseKeys(context.WithoutCancel(ctx))
			return nil, &KeyError{Key: key, Err: err}
		}
		if n, _ := res[0].(int64); n != 1 {
			l.releaseKeys(context.WithoutCancel(ctx))
			holder, _ := res[1].(string)
			ms, _ := res[2].(int64)
			return nil, &HeldError{Key: key, Holder: holder, Wait: time.Duration(max(ms, 0)) * time.Millisecond}
		}
		l.keys = append(l.keys, key)
	}
	kctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	l.stop = stop
	go l.keepAlive(kctx)
	return l, nil
}

// Lost is closed once the lease is lost (see the package documentation).
func (l *Lease) Lost() <-chan struct{} { return l.lost }

// Err returns ErrLost once the lease is lost, nil while it is held.
func (l *Lease) Err() error {
	select {
	case <-l.lost:
		return ErrLost
	default:
		return nil
	}
}

// Context returns a copy of parent that ends, with ErrLost as its cause, once
// the lease is lost: work done under it stops at its next call instead of
// racing the new holder. Call cancel when the work is done.
func (l *Lease) Context(parent context.Context) (_ context.Context, cancel context.CancelFunc) {
	ctx, cancelCause := context.WithCancelCause(parent)
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		select {
		case <-l.lost:
			cancelCause(ErrLost)
		case <-ctx.Done():
		}
	}()
	return ctx, func() {
		cancelCause(nil)
		<-watched
	}
}

// Cause is err, saying so if the lease was lost: ctx is one that Context
// returned, and err is what the work under it returned.
func Cause(ctx context.Context, err error) error {
	if err != nil && errors.Is(context.Cause(ctx), ErrLost) && !errors.Is(err, ErrLost) {
		return fmt.Errorf("%w: %w", ErrLost, err)
	}
	return err
}

// keepAlive renews every key each third of the lease, so that one renewal
// may fail and the next still come in time. It keeps renewing the keys still held
// after another is lost: the holder goes on until its next checkpoint, and
// until then keeps out whom it still can.
func (l *Lease) keepAlive(ctx context.Context) {
	defer close(l.done)
	t := time.NewTicker(l.ttl / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			rctx, cancel := context.WithTimeout(ctx, l.ttl/3)
			for _, key := range l.keys {
				n, err := renewScript.Run(rctx, l.rdb, []string{key}, l.owner, l.ttl.Milliseconds()).Int64()
				if err == nil && n == 0 {
					l.loseOnce.Do(func() { close(l.lost) })
				}
			}
			cancel()
		}
	}
}

// Release stops renewing and deletes the keys the owner still holds. Safe to
// call more than once. ctx bounds the deletes only: callers that must free
// the keys even when their work was cancelled pass context.WithoutCancel.
func (l *Lease) Release(ctx context.Context) {
	l.releaseOnce.Do(func() {
		l.stop()
		<-l.done
		l.releaseKeys(ctx)
	})
}

func (l *Lease) releaseKeys(ctx context.Context) {
	for _, key := range l.keys {
		// A key left behind frees itself when its lease runs out.
		_ = DeleteIf(ctx, l.rdb, key, l.owner)
	}
}
