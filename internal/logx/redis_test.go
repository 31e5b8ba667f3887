package logx

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// redisLine is what a reader of the logs sees of one RedisLogger line.
type redisLine struct {
	Level      string `json:"level"`
	Component  string `json:"component"`
	Message    string `json:"message"`
	Suppressed int    `json:"suppressed"`
}

func redisLines(t *testing.T, out string) []redisLine {
	t.Helper()
	var lines []redisLine
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var got redisLine
		if err := json.Unmarshal([]byte(l), &got); err != nil {
			t.Fatalf("not a JSON line: %q: %v", l, err)
		}
		lines = append(lines, got)
	}
	return lines
}

// fakeRedisLogger is a RedisLogger on a clock the test moves, whose
// end-of-interval flushes run when the test says.
func fakeRedisLogger(buf *bytes.Buffer) (l *RedisLogger, advance func(time.Duration), fire func() int) {
	clock := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	var due []func()
	l = NewRedisLogger(New(buf, "info", "json"), 10*time.Second)
	l.now = func() time.Time { return clock }
	l.afterFunc = func(_ time.Duration, f func()) { due = append(due, f) }
	advance = func(d time.Duration) { clock = clock.Add(d) }
	fire = func() int {
		n := len(due)
		for _, f := range due {
			f()
		}
		due = nil
		return n
	}
	return l, advance, fire
}

const redisDial = "redis: connection pool: failed to dial after %d attempts: %v"

func dialLine(n int) string {
	return fmt.Sprintf(redisDial, n, "dial tcp 127.0.0.1:6379: connect: connection refused")
}

// While Redis is unreachable go-redis reports every failed dial: within one
// interval they make one JSON warn line, and the next interval's line says
// how many were dropped.
func TestRedisLoggerRateLimits(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	l, advance, _ := fakeRedisLogger(&buf)
	ctx := context.Background()
	for i := range 50 {
		l.Printf(ctx, redisDial, i, "dial tcp 127.0.0.1:6379: connect: connection refused")
		advance(100 * time.Millisecond) // 50 messages in 5 s
	}
	advance(5 * time.Second) // 10 s after the first line
	l.Printf(ctx, redisDial, 50, "dial tcp 127.0.0.1:6379: connect: connection refused")

	want := []redisLine{
		{Level: "warn", Component: "go-redis", Message: dialLine(0)},
		{Level: "warn", Component: "go-redis", Message: dialLine(50), Suppressed: 49},
	}
	if diff := cmp.Diff(want, redisLines(t, buf.String())); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
}

// A burst that ends within the interval (go-redis stops dialling a pool
// that keeps failing) still shows: at the interval's end, one line repeats
// the last message with the count of the others.
func TestRedisLoggerFlushesAtIntervalEnd(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	l, advance, fire := fakeRedisLogger(&buf)
	ctx := context.Background()
	for i := range 21 {
		l.Printf(ctx, redisDial, i, "dial tcp 127.0.0.1:6379: connect: connection refused")
		advance(200 * time.Millisecond)
	}
	advance(6 * time.Second)
	if n := fire(); n != 1 {
		t.Errorf("%d flushes scheduled, want 1", n)
	}
	if n := fire(); n != 0 { // nothing more came: nothing more is written
		t.Errorf("%d flushes scheduled after the burst, want 0", n)
	}

	want := []redisLine{
		{Level: "warn", Component: "go-redis", Message: dialLine(0)},
		{Level: "warn", Component: "go-redis", Message: dialLine(20), Suppressed: 19},
	}
	if diff := cmp.Diff(want, redisLines(t, buf.String())); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
}

// A line is one of the process's JSON lines, at level warn, whatever the
// logger's level; below warn it is not written.
func TestRedisLoggerLevel(t *testing.T) {
	t.Parallel()
	for _, level := range []string{"debug", "warn", "error"} {
		var buf bytes.Buffer
		NewRedisLogger(New(&buf, level, "json"), 0).Printf(context.Background(), "redis: %s", "pool is closed")
		var want []redisLine
		if level != "error" {
			want = []redisLine{{Level: "warn", Component: "go-redis", Message: "redis: pool is closed"}}
		}
		var got []redisLine
		if buf.Len() > 0 {
			got = redisLines(t, buf.String())
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("level %s (-want +got):\n%s", level, diff)
		}
	}
}
