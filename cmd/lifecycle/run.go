package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/lifecycle-worker/lifecycle/internal/config"
	"github.com/lifecycle-worker/lifecycle/internal/logx"
	"github.com/lifecycle-worker/lifecycle/internal/tracing"
)

// Exit statuses, the same for every command (the README's table):
const (
	exitOK      = 0
	exitFailure = 1 // not found, or the work failed (a receipt that does not verify)
	exitUsage   = 2 // bad input: flags, arguments, variables, an unusable store or upstream
	exitRedis   = 3 // Redis unreachable
)

// traceFlushTimeout bounds the export of the last spans at exit.
const traceFlushTimeout = 5 * time.Second

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// env carries what a subcommand may touch, so tests can run the real program.
type env struct {
	getenv func(string) string
	stdout io.Writer
	stderr io.Writer
}

// usageError is a bad command line or setting: exit status 2, one line.
type usageError struct{ msg string }

func (u *usageError) Error() string { return u.msg }

// redisDownError is Redis not answering: exit status 3, one line.
type redisDownError struct{ msg string }

func (r *redisDownError) Error() string { return r.msg }

// Run is the whole program; main only adds signals and the real environment.
//
// Commands are cobra's, so that every one has the same --help; cobra's own
// error and usage printing is silenced, so that a failure is one line on
// stderr, "lifecycle CMD: problem", whatever went wrong.
func Run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	shutdown, err := tracing.Setup(ctx, "lifecycle", getenv)
	if err != nil {
		fmt.Fprintf(stderr, "lifecycle: %v\n", oneLine(err))
		return exitUsage
	}
	defer func() {
		// Spans still buffered go out before the process exits.
		sctx, cancel := context.WithTimeout(context.Background(), traceFlushTimeout)
		defer cancel()
		_ = shutdown(sctx)
	}()
	root := newRoot(env{getenv: getenv, stdout: stdout, stderr: stderr})
	// A nil slice would make cobra read os.Args.
	root.SetArgs(append([]string{}, args...))
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return exitOK
	}
	// Errors name the command the user typed first, as they always have:
	// "lifecycle dlq: dlq show: task id required".
	prefix := "lifecycle"
	if top := topLevel(cmd); top != root {
		prefix += " " + top.Name()
	}
	fmt.Fprintf(stderr, "%s: %v\n", prefix, oneLine(err))
	var ce *config.Error
	var ue *usageError
	var rd *redisDownError
	switch {
	case errors.As(err, &rd):
		return exitRedis
	case errors.As(err, &ce) || errors.As(err, &ue):
		return exitUsage
	}
	return exitFailure
}

func newRoot(e env) *cobra.Command {
	root := parentCmd("lifecycle", "deletes, erases and merges user data",
		`lifecycle deletes, erases and merges user data: photo deletions, GDPR erasures,
guest-to-registered merges and orphaned-asset sweeps, as asynq tasks on Redis.

Every flag can also be set by a LIFECYCLE_* variable; `+"`lifecycle <command> --help`"+` lists them.
Exit status, for every command: 0 done, 1 not found or failed, 2 bad input or
settings, 3 Redis unreachable.`,
		showHelp, func(name string) error {
			return &usageError{fmt.Sprintf("unknown command %q (see lifecycle --help)", name)}
		})
	root.Version = versionString()
	root.SilenceErrors = true
	root.SilenceUsage = true
	root.CompletionOptions.DisableDefaultCmd = true
	root.SetVersionTemplate("{{.Name}} {{.Version}}\n")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err.Error()} })
	root.AddCommand(
		roleCmd(e, "dev", "everything in one process: embedded Redis, simulators, worker, scheduler, HTTP",
			config.GroupRedis|config.GroupHTTP|config.GroupWorker|config.GroupStorage|config.GroupUpstream|config.GroupSchedule|config.GroupErasure|config.GroupDev|config.GroupPrivacy,
			func(ctx context.Context, cfg *config.Config, log zerolog.Logger) error {
				return runDev(ctx, e.stdout, cfg, log)
			}),
		roleCmd(e, "worker", "run tasks from Redis (asynq server)",
			config.GroupRedis|config.GroupHTTP|config.GroupWorker|config.GroupStorage|config.GroupUpstream|config.GroupSweep|config.GroupErasure|config.GroupPrivacy,
			runWorker),
		roleCmd(e, "scheduler", "enqueue periodic tasks (any number may run; each firing is enqueued once)",
			config.GroupRedis|config.GroupSchedule, runScheduler),
		roleCmd(e, "api", "serve the HTTP API: /healthz, /readyz, /metrics and /v1",
			config.GroupRedis|config.GroupHTTP|config.GroupStorage|config.GroupPrivacy, runAPI),
		newEnqueueCmd(e), newDLQCmd(e), newErasureCmd(e), newReceiptCmd(e), newSweepCmd(e), newAuditCmd(e), newTokenCmd(e),
		newSimulateCmd(e), newVersionCmd(e), newHealthcheckCmd(e),
	)
	return root
}

// roleCmd is a long-running role of the service: flags (with the log
// settings) only, then run until ctx ends.
func roleCmd(e env, name, summary string, groups config.Group, run func(context.Context, *config.Config, zerolog.Logger) error) *cobra.Command {
	cmd := &cobra.Command{Use: name, Short: summary, Args: noArgs}
	load := bindLoggedSettings(cmd, e, groups)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		cfg, log, err := load()
		if err != nil {
			return err
		}
		return run(cmd.Context(), cfg, log)
	}
	return cmd
}

// topLevel is the command under the root that cmd belongs to (the root
// itself for the root).
func topLevel(cmd *cobra.Command) *cobra.Command {
	for cmd.HasParent() && cmd.Parent().HasParent() {
		cmd = cmd.Parent()
	}
	return cmd
}

// bindSettings registers the flags of the config groups cmd reads; the
// function it returns reads them and the environment once cobra has parsed
// the command line.
func bindSettings(cmd *cobra.Command, e env, groups config.Group) func() (*config.Config, error) {
	flags := config.Register(cmd.Flags(), groups)
	cmd.Long = cmp.Or(cmd.Long, cmd.Short) + "\n\nA flag wins over the LIFECYCLE_* variable it names."
	return func() (*config.Config, error) { return flags.Load(e.getenv) }
}

// bindLoggedSettings is bindSettings plus the log settings, for commands
// that log: their logger is tagged with the command's name.
func bindLoggedSettings(cmd *cobra.Command, e env, groups config.Group) func() (*config.Config, zerolog.Logger, error) {
	load := bindSettings(cmd, e, groups|config.GroupLog)
	return func() (*config.Config, zerolog.Logger, error) {
		cfg, err := load()
		if err != nil {
			return nil, zerolog.Nop(), err
		}
		log := logx.New(e.stderr, cfg.LogLevel, cfg.LogFormat).With().Str("cmd", topLevel(cmd).Name()).Logger()
		if logRedis != nil {
			logRedis(log)
		}
		return cfg, log, nil
	}
}

// noArgs is for commands that take flags only.
func noArgs(_ *cobra.Command, args []string) error {
	if len(args) > 0 {
		return &usageError{fmt.Sprintf("unexpected argument %q", args[0])}
	}
	return nil
}

// parentCmd is a command that groups subcommands. Run without one, it calls
// none; with an unknown one, unknown. It is runnable for that: cobra would
// print the help of a command that is not and exit 0.
func parentCmd(use, short, long string, none func(cmd *cobra.Command) error, unknown func(arg string) error) *cobra.Command {
	return &cobra.Command{
		Use:                   use,
		Short:                 short,
		Long:                  long,
		DisableFlagsInUseLine: true,
		Args:                  cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return none(cmd)
			}
			return unknown(args[0])
		},
	}
}

func showHelp(cmd *cobra.Command) error { return cmd.Help() }

func oneLine(err error) string { return strings.ReplaceAll(err.Error(), "\n", "; ") }

func newVersionCmd(e env) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "print the version",
		Args:  cobra.ArbitraryArgs,
		RunE: func(*cobra.Command, []string) error {
			fmt.Fprintf(e.stdout, "lifecycle %s\n", versionString())
			return nil
		},
	}
}

// versionString is what `lifecycle version` and `lifecycle --version` print
// after the name.
func versionString() string {
	rev := "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				rev = s.Value
			}
		}
	}
	return fmt.Sprintf("%s (revision %s)", version, rev)
}
