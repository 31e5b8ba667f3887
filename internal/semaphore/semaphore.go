// Package semaphore bounds the number of concurrent calls to one upstream
// system across every worker process, with a counting semaphore kept in
// Redis.
//
// The semaphore is a sorted set (rkeys.Semaphore(system)): each member is
// one holder's random token, its score the holder's lease expiry in unix
// milliseconds as read from Redis TIME, so that the clocks of the worker
// machines do not matter. Acquiring drops expired leases and adds the token
// if fewer than limit remain, in one Lua script. While a slot is held its
// lease is renewed every third of the lease, so a long call keeps its slot;
// a process that dies without releasing frees its slots when their leases
// run out (30 s by default).
//
// A holder that cannot renew in time (Redis unreachable for a whole lease,
// a process paused longer than that) may lose its slot to another process,
// so the limit can be exceeded by that holder for the rest of its call. The
// limit is a politeness bound towards the upstream, not a lock guarding
// data: that trade is better than blocking every worker on a dead holder.
package semaphore

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/lifecycle-worker/lifecycle/internal/rkeys"
	"github.com/lifecycle-worker/lifecycle/internal/upstream"
)

// Defaults for the options.
const (
	LeaseDefault   = 30 * time.Second
	PollMinDefault = 5 * time.Millisecond
	PollMaxDefault = 100 * time.Millisecond
)

// Semaphore is a Redis-backed counting semaphore. It implements
// upstream.Limiter and is safe for concurrent use.
type Semaphore struct {
	rdb     redis.UniversalClient
	key     string
	system  string
	limit   int
	lease   time.Duration
	pollMin time.Duration
	pollMax time.Duration
}

var _ upstream.Limiter = (*Semaphore)(nil)

// Option changes a Semaphore's defaults.
type Option func(*Semaphore)

// WithLease sets how long a slot outlives a holder that stopped renewing it.
// Shorter frees a crashed process's slots sooner, at the price of more
// renewals.
func WithLease(d time.Duration) Option { return func(s *Semaphore) { s.lease = d } }

// WithPoll sets the bounds of the wait between two attempts while the
// semaphore is full (the wait doubles from min to max, with jitter).
func WithPoll(min, max time.Duration) Option {
	return func(s *Semaphore) { s.pollMin, s.pollMax = min, max }
}

// New returns the semaphore of system, allowing limit concurrent holders
// across every process that uses the same Redis. All processes must agree on
// limit: each one enforces the limit it was given.
func New(rdb redis.UniversalClient, system string, limit int, opts ...Option) *Semaphore {
	s := &Semaphore{
		rdb:     rdb,
		key:     rkeys.Semaphore(system),
		system:  system,
		limit:   limit,
		lease:   LeaseDefault,
		pollMin: PollMinDefault,
		pollMax: PollMaxDefault,
	}
	for _, o := range opts {
		o(s)
	}
	if s.lease < 10*time.Millisecond {
		s.lease = 10 * time.Millisecond
	}
	s.pollMin = max(s.pollMin, time.Millisecond)
	s.pollMax = max(s.pollMax, s.pollMin)
	return s
}

// acquireCmd takes a slot if one is free.
//
// KEYS[1] -> lifecycle:sem:<system>
// ARGV[1] -> limit
// ARGV[2] -> lease in milliseconds
// ARGV[3] -> holder token
//
// Output: 1 if the token now holds a slot, 0 if the semaphore is full.
// The key's own expiry follows the newest lease, so an abandoned semaphore
// leaves nothing behind.
var acquireCmd = redis.NewScript(`
local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call("ZREMRANGEBYSCORE", KEYS[1], "-inf", now)
if redis.call("ZCARD", KEYS[1]) >= tonumber(ARGV[1]) then
	return 0
end
redis.call("ZADD", KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
redis.call("PEXPIRE", KEYS[1], ARGV[2])
return 1
`)

// renewCmd extends a held lease.
//
// KEYS[1] -> lifecycle:sem:<system>
// ARGV[1] -> lease in milliseconds
// ARGV[2] -> holder token
//
// Output: 1 if renewed, 0 if the token no longer holds a slot (its lease ran
// out and another acquirer removed it). An expired lease still in the set is
// renewed: nobody has counted it out yet, so reviving it keeps the count.
var renewCmd = redis.NewScript(`
if not redis.call("ZSCORE", KEYS[1], ARGV[2]) then
	return 0
end
local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call("ZADD", KEYS[1], now + tonumber(ARGV[1]), ARGV[2])
redis.call("PEXPIRE", KEYS[1], ARGV[1])
return 1
`)

// ErrLimit is returned by Acquire when the semaphore was built with a limit
// below 1: no call could ever proceed, which is a configuration error.
var ErrLimit = errors.New("semaphore: limit must be at least 1")

// Acquire waits for a slot, polling Redis with growing, jittered waits, until
// one is free or ctx ends (then it returns ctx.Err()). A Redis error is
// returned as it is: the caller's task retries later rather than calling the
// upstream unbounded. release frees the slot; calling it more than once is
// harmless.
func (s *Semaphore) Acquire(ctx context.Context) (release func(), err error) {
	if s.limit < 1 {
		return nil, ErrLimit
	}
	token := rand.Text()
	leaseMS := s.lease.Milliseconds()
	wait := s.pollMin
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		got, err := acquireCmd.Run(ctx, s.rdb, []string{s.key}, s.limit, leaseMS, token).Int()
		if err != nil {
			// The script may have run before the error (a cancelled context
			// after the request was sent): make sure the slot is not kept.
			s.remove(token)
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, fmt.Errorf("semaphore %s: acquire: %w", s.system, err)
		}
		if got == 1 {
			return s.hold(token), nil
		}
		// Full jitter in [wait/2, wait): waiters from many processes do not
		// hit Redis in step.
		d := wait/2 + mrand.N(wait/2+1)
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
		wait = min(wait*2, s.pollMax)
	}
}

// hold renews token's lease until release is called.
func (s *Semaphore) hold(token string) func() {
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		every := s.lease / 3
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				ctx, cancel := context.WithTimeout(context.Background(), every)
				n, err := renewCmd.Run(ctx, s.rdb, []string{s.key}, s.lease.Milliseconds(), token).Int()
				cancel()
				if err == nil && n == 0 {
					// The slot is gone; re-adding it could exceed the limit.
					return
				}
				// A Redis error is retried at the next tick: the lease has two
				// more thirds to run.
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(stop)
			<-done
			s.remove(token)
		})
	}
}

// remove frees token's slot. It runs on a context of its own because it is
// called when the caller's context may be over, and a slot left behind costs
// every process a whole lease.
func (s *Semaphore) remove(token string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = s.rdb.ZRem(ctx, s.key, token).Err()
}

// Holders returns how many leases are live now, for metrics and tests.
func (s *Semaphore) Holders(ctx context.Context) (int, error) {
	t, err := s.rdb.Time(ctx).Result()
	if err != nil {
		return 0, fmt.Errorf("semaphore %s: time: %w", s.system, err)
	}
	n, err := s.rdb.ZCount(ctx, s.key, fmt.Sprintf("(%d", t.UnixMilli()), "+inf").Result()
	if err != nil {
		return 0, fmt.Errorf("semaphore %s: count: %w", s.system, err)
	}
	return int(n), nil
}
