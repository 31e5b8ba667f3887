// Command lifecycle deletes, erases and merges user data for the commerce
// platform: one binary with a subcommand per role (see `lifecycle --help`).
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/redis/go-redis/v9"
)

func main() {
	// go-redis prints its dial failures to stderr on its own, before ours:
	// a command facing a stopped Redis says so in one line (connectRedis),
	// and a role logs what fails through its logger.
	redis.SetLogger(quietRedis{})
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	go func() {
		// After the first signal, a second one kills the process at once:
		// the way out when a graceful shutdown is not wanted.
		<-ctx.Done()
		stop()
	}()
	os.Exit(Run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

// quietRedis drops go-redis's own log lines.
type quietRedis struct{}

func (quietRedis) Printf(context.Context, string, ...any) {}
