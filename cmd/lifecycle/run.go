package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"sort"
	"strings"

	"github.com/lifecycle-worker/lifecycle/internal/config"
)

// Exit statuses.
const (
	exitOK      = 0
	exitFailure = 1 // the process ran and failed
	exitUsage   = 2 // bad flags, variables or an unusable dependency at start
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// env carries what a subcommand may touch, so tests can run the real program.
type env struct {
	getenv func(string) string
	stdout io.Writer
	stderr io.Writer
}

type command struct {
	summary string
	run     func(ctx context.Context, e env, args []string) error
}

// commands holds every subcommand. Each file that adds one registers it in
// its own init, so subcommands can be added without touching this file.
var commands = map[string]command{}

func register(name, summary string, run func(ctx context.Context, e env, args []string) error) {
	if _, dup := commands[name]; dup {
		panic("lifecycle: command registered twice: " + name)
	}
	commands[name] = command{summary: summary, run: run}
}

func init() {
	register("dev", "everything in one process: embedded Redis, simulators, worker, scheduler, HTTP", runDev)
	register("worker", "run tasks from Redis (asynq server)", runWorker)
	register("scheduler", "enqueue periodic tasks (any number may run; each firing is enqueued once)", runScheduler)
	register("api", "serve the HTTP API: /healthz, /readyz, /metrics", runAPI)
	register("version", "print the version", runVersion)
}

// usageError is a bad command line or setting: exit status 2, one line.
type usageError struct{ msg string }

func (u *usageError) Error() string { return u.msg }

// Run is the whole program; main only adds signals and the real environment.
func Run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	e := env{getenv: getenv, stdout: stdout, stderr: stderr}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stdout)
		return exitOK
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "lifecycle: unknown command %q (see lifecycle --help)\n", args[0])
		return exitUsage
	}
	err := cmd.run(ctx, e, args[1:])
	var ce *config.Error
	var ue *usageError
	switch {
	case err == nil || errors.Is(err, config.ErrHelp):
		return exitOK
	case errors.As(err, &ce), errors.As(err, &ue):
		fmt.Fprintf(stderr, "lifecycle %s: %v\n", args[0], oneLine(err))
		return exitUsage
	default:
		fmt.Fprintf(stderr, "lifecycle %s: %v\n", args[0], oneLine(err))
		return exitFailure
	}
}

func oneLine(err error) string { return strings.ReplaceAll(err.Error(), "\n", "; ") }

func usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: lifecycle <command> [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "lifecycle deletes, erases and merges user data: photo deletions, GDPR erasures,")
	fmt.Fprintln(w, "guest-to-registered merges and orphaned-asset sweeps, as asynq tasks on Redis.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Every flag can also be set by a LIFECYCLE_* variable; `lifecycle <command> --help` lists them.")
}

func runVersion(_ context.Context, e env, args []string) error {
	if _, _, err := config.Parse("version", commands["version"].summary, 0, args, e.getenv, e.stdout); err != nil {
		return err
	}
	rev := "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				rev = s.Value
			}
		}
	}
	fmt.Fprintf(e.stdout, "lifecycle %s (revision %s)\n", version, rev)
	return nil
}
