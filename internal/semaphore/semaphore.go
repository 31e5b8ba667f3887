// Package semaphore bounds the number of concurrent calls to one upstream
// system across every worker process, with a counting semaphore kept in
// Redis.
//
// The semaphore is a sorted set (rkeys.Semaphore(system)): each member is
// "holder|token", the holder being one process's Semaphore and the token one
// slot, its score the slot's lease expiry in unix milliseconds as read from
// Redis TIME, so that the clocks of the worker machines do not matter.
//
// A holder keeps a heartbeat key (rkeys.SemaphoreHolder) alive while it holds
// any slot, every third of its heartbeat time to live (5 s by default).
// Acquiring, in one Lua script, drops the slots whose holder's heartbeat is
// gone and those whose lease ran out, then adds the token if fewer than limit
// remain. So the slots of a process that was killed come back within the
// heartbeat's time to live, not a lease later; and a slot whose release
// failed (Redis unreachable at that moment) is released again at the next
// heartbeat. The lease (30 s, renewed every third) stays as a backstop, and
// is all that counts for a member without a holder (written by an older
// version during an upgrade).
//
// A holder that cannot beat in time (Redis unreachable, or restarted, for
// longer than the heartbeat's time to live; a process paused that long) may
// lose its slots to other processes, so the limit can be exceeded by that
// holder for the rest of its calls. The limit is a politeness bound towards
// the upstream, not a lock guarding data: that trade is better than blocking
// every worker on a dead holder.
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
	LeaseDefault     = 30 * time.Second
	HeartbeatDefault = 5 * time.Second
	PollMinDefault   = 5 * time.Millisecond
	PollMaxDefault   = 100 * time.Millisecond
)

// Semaphore is a Redis-backed counting semaphore. It implements
// upstream.Limiter and is safe for concurrent use.
type Semaphore struct {
	rdb       redis.UniversalClient
	key       string
	system    string
	limit     int
	lease     time.Duration
	heartbeat time.Duration
	pollMin   time.Duration
	pollMax   time.Duration

	holder string // this process's id in the members, and its heartbeat's key
	mu     sync.Mutex
	held   int           // slots held or being acquired
	stop   chan struct{} // closed to stop the heartbeat, when held drops to 0
	unfree []string      // members whose release failed, released at the next beat
}

var _ upstream.Limiter = (*Semaphore)(nil)

// Option changes a Semaphore's defaults.
type Option func(*Semaphore)

// WithLease sets how long a slot outlives a holder that stopped renewing it.
// Shorter frees a crashed process's slots sooner, at the price of more
// renewals.
func WithLease(d time.Duration) Option { return func(s *Semaphore) { s.lease = d } }

// WithHeartbeat sets how soon the slots of a holder that stopped beating
// (a killed process) can be taken by others.
func WithHeartbeat(d time.Duration) Option { return func(s *Semaphore) { s.heartbeat = d } }

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
		rdb:       rdb,
		key:       rkeys.Semaphore(system),
		system:    system,
		limit:     limit,
		lease:     LeaseDefault,
		heartbeat: HeartbeatDefault,
		pollMin:   PollMinDefault,
		pollMax:   PollMaxDefault,
		holder:    rand.Text(),
	}
	for _, o := range opts {
		o(s)
	}
	s.lease = max(s.lease, 10*time.Millisecond)
	s.heartbeat = max(s.heartbeat, 30*time.Millisecond)
	s.pollMin = max(s.pollMin, time.Millisecond)
	s.pollMax = max(s.pollMax, s.pollMin)
	return s
}

// acquireCmd takes a slot if one is free, after dropping the slots of
// holders whose heartbeat is gone and the slots whose lease ran out.
//
// KEYS[1] -> lifecycle:sem:<system>
// KEYS[2] -> the acquirer's heartbeat, lifecycle:sem-holder:<holder>
// ARGV[1] -> limit
// ARGV[2] -> lease in milliseconds
// ARGV[3] -> member: holder|token
// ARGV[4] -> heartbeat time to live in milliseconds
// ARGV[5] -> heartbeat key prefix (rkeys.SemaphoreHolder("")), to which a
//
//	member's holder is appended
//
// Output: 1 if the member now holds a slot, 0 if the semaphore is full.
// The acquirer's heartbeat is set with its slot, so no other acquirer can
// find the slot without it. The key's own expiry follows the newest lease,
// so an abandoned semaphore leaves nothing behind.
var acquireCmd = redis.NewScript(`
local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call("ZREMRANGEBYSCORE", KEYS[1], "-inf", now)
for _, m in ipairs(redis.call("ZRANGE", KEYS[1], 0, -1)) do
	local sep = string.find(m, "|", 1, true)
	if sep and redis.call("EXISTS", ARGV[5] .. string.sub(m, 1, sep - 1)) == 0 then
		redis.call("ZREM", KEYS[1], m)
	end
end
if redis.call("ZCARD", KEYS[1]) >= tonumber(ARGV[1]) then
	return 0
end
redis.call("SET", KEYS[2], "1", "PX", ARGV[4])
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
	token := s.holder + "|" + rand.Text()
	leaseMS := s.lease.Milliseconds()
	wait := s.pollMin
	s.beginHold()
	held := false
	defer func() {
		if !held {
			s.endHold()
		}
	}()
	keys := []string{s.key, rkeys.SemaphoreHolder(s.holder)}
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		got, err := acquireCmd.Run(ctx, s.rdb, keys, s.limit, leaseMS, token,
			s.heartbeat.Milliseconds(), rkeys.SemaphoreHolder("")).Int()
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
			held = true
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
			s.endHold()
		})
	}
}

// remove frees token's slot. It runs on a context of its own because it is
// called when the caller's context may be over. A slot it could not free is
// freed at the next heartbeat, or with the heartbeat if none follows.
func (s *Semaphore) remove(token string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.rdb.ZRem(ctx, s.key, token).Err(); err != nil {
		s.mu.Lock()
		s.unfree = append(s.unfree, token)
		s.mu.Unlock()
	}
}

// beginHold counts a slot held or being acquired, and starts the heartbeat
// with the first.
func (s *Semaphore) beginHold() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.held++
	if s.held > 1 {
		return
	}
	// A heartbeat stopped a moment ago may still be finishing its tick;
	// each has its own stop.
	s.stop = make(chan struct{})
	go s.beat(s.stop)
}

// endHold undoes beginHold, stopping the heartbeat with the last slot: the
// heartbeat key then runs out, and with it any slot left unreleased.
func (s *Semaphore) endHold() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.held--
	if s.held == 0 {
		close(s.stop)
		s.unfree = nil
	}
}

// beat renews the holder's heartbeat every third of its time to live until
// stop is closed, and frees the slots whose release failed.
func (s *Semaphore) beat(stop chan struct{}) {
	every := s.heartbeat / 3
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), every)
		// A Redis error is retried at the next tick: the heartbeat has two
		// more thirds to run.
		_ = s.rdb.Set(ctx, rkeys.SemaphoreHolder(s.holder), "1", s.heartbeat).Err()
		s.mu.Lock()
		unfree := s.unfree
		s.unfree = nil
		s.mu.Unlock()
		if len(unfree) > 0 {
			if err := s.rdb.ZRem(ctx, s.key, unfree).Err(); err != nil {
				s.mu.Lock()
				s.unfree = append(s.unfree, unfree...)
				s.mu.Unlock()
			}
		}
		cancel()
	}
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
