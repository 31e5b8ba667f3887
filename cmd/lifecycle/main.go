// Command lifecycle deletes, erases and merges user data for the commerce
// platform: one binary with a subcommand per role (see `lifecycle --help`).
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	go func() {
		// After the first signal, a second one kills the process at once:
		// the way out when a graceful shutdown is not wanted.
		<-ctx.Done()
		stop()
	}()
	os.Exit(Run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}
