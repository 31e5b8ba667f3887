package logx

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// RedisEveryDefault is how often RedisLogger writes at most: while Redis is
// unreachable, go-redis reports each failed dial of each pool (21 lines in
// the first 5 s of an outage from one worker), all saying the same thing.
const RedisEveryDefault = 10 * time.Second

// RedisLogger is go-redis's logger (give it to redis.SetLogger): each
// message becomes a JSON warn line of the process logger, with component
// "go-redis", instead of go-redis's own plain-text line on stderr
// ("redis: 2026/12/01 … pool.go:770: …") among the JSON ones.
//
// At most one line is written per interval. Messages that come within it
// are dropped; at its end one line repeats the last of them with, in
// "suppressed", how many others were dropped, so an outage shows as a line
// at its start and one per interval while messages keep coming, and a burst
// is never silently lost. The messages go-redis writes name addresses and
// errors, never passwords.
type RedisLogger struct {
	log       zerolog.Logger
	every     time.Duration
	now       func() time.Time
	afterFunc func(time.Duration, func()) // time.AfterFunc, replaced in tests

	mu         sync.Mutex
	last       time.Time // when the last line was written; zero: none yet
	suppressed int       // messages dropped since
	lastMsg    string    // the last of them
	scheduled  bool      // a flush at the end of the interval is due
}

// NewRedisLogger returns a RedisLogger writing through log at most once per
// every (RedisEveryDefault if not positive).
func NewRedisLogger(log zerolog.Logger, every time.Duration) *RedisLogger {
	if every <= 0 {
		every = RedisEveryDefault
	}
	return &RedisLogger{
		log:   log.With().Str("component", "go-redis").Logger(),
		every: every,
		now:   time.Now,
		afterFunc: func(d time.Duration, f func()) {
			time.AfterFunc(d, f)
		},
	}
}

// Printf implements go-redis's logging interface.
func (r *RedisLogger) Printf(ctx context.Context, format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	now := r.now()
	r.mu.Lock()
	if !r.last.IsZero() && now.Sub(r.last) < r.every {
		r.suppressed++
		r.lastMsg = msg
		if !r.scheduled {
			r.scheduled = true
			r.afterFunc(r.last.Add(r.every).Sub(now), r.flush)
		}
		r.mu.Unlock()
		return
	}
	suppressed := r.suppressed
	r.last, r.suppressed, r.lastMsg = now, 0, ""
	r.mu.Unlock()
	r.write(ctx, msg, suppressed)
}

// flush writes the last message dropped in the interval that just ended,
// if any.
func (r *RedisLogger) flush() {
	r.mu.Lock()
	r.scheduled = false
	n, msg := r.suppressed, r.lastMsg
	if n == 0 { // a Printf after the interval wrote them already
		r.mu.Unlock()
		return
	}
	r.last, r.suppressed, r.lastMsg = r.now(), 0, ""
	r.mu.Unlock()
	r.write(context.Background(), msg, n-1)
}

func (r *RedisLogger) write(ctx context.Context, msg string, suppressed int) {
	e := r.log.Warn()
	if ctx != nil {
		e = e.Ctx(ctx)
	}
	if suppressed > 0 {
		e = e.Int("suppressed", suppressed)
	}
	e.Msg(msg)
}
