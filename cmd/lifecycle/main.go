// Command lifecycle deletes, erases and merges user data for the commerce
// platform: one binary with a subcommand per role (see `lifecycle --help`).
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/lifecycle-worker/lifecycle/internal/logx"
)

func main() {
	// go-redis prints its dial failures to stderr on its own, in plain
	// text. A command without a logger (enqueue, dlq, erasure) facing a
	// stopped Redis says so in one line (connectRedis), so go-redis is
	// quiet there; a command that builds a logger (the roles, sweep) gets
	// go-redis's lines through it as JSON warn lines, rate-limited
	// (logx.RedisLogger), so that an outage shows in the logs without
	// flooding them.
	redis.SetLogger(quietRedis{})
	logRedis = func(log zerolog.Logger) { redis.SetLogger(logx.NewRedisLogger(log, logx.RedisEveryDefault)) }
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	go func() {
		// After the first signal, a second one kills the process at once:
		// the way out when a graceful shutdown is not wanted.
		<-ctx.Done()
		stop()
	}()
	os.Exit(Run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

// logRedis, set by main, is given the logger a command builds
// (bindLoggedSettings) to write go-redis's lines. go-redis's logger is
// global to the process, so the tests, which run commands side by side in
// one process, leave it unset.
var logRedis func(zerolog.Logger)

// quietRedis drops go-redis's own log lines.
type quietRedis struct{}

func (quietRedis) Printf(context.Context, string, ...any) {}
