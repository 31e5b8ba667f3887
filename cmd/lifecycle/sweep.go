package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rs/zerolog"

	"github.com/lifecycle-worker/lifecycle/internal/config"
	"github.com/lifecycle-worker/lifecycle/internal/logx"
	"github.com/lifecycle-worker/lifecycle/internal/sweep"
)

func init() {
	register("sweep", "orphaned-asset sweeps: list, show, restore, or run one now", runSweep)
}

const sweepUsage = `Usage:
  lifecycle sweep list                                  reports of every sweep, and the one running
  lifecycle sweep show SWEEP_ID                         one sweep's report (JSON)
  lifecycle sweep restore SWEEP_ID [--prefix P]         put quarantined objects back (only keys under P)
  lifecycle sweep run [--id ID] [--dry-run]             sweep now, in this process (default id: manual-{time})
  lifecycle sweep purge [--dry-run]                     delete quarantines older than the restore window

Storage, Redis, Artifi and the sweep settings come from the worker's flags and
LIFECYCLE_* variables (see lifecycle sweep list --help). Only one sweep, purge or
restore runs at a time, across every worker: a second one exits with an error.`

// sweepFlags are the sweep command's own flags; the others go to config.
type sweepFlags struct {
	prefix string
	id     string
	dryRun bool
}

// splitSweepArgs takes the sweep command's own flags out of args, leaving
// the configuration flags for config.Parse.
func splitSweepArgs(args []string) (sweepFlags, []string, error) {
	var f sweepFlags
	var rest []string
	for i := 0; i < len(args); i++ {
		name, val, hasVal := strings.Cut(strings.TrimLeft(args[i], "-"), "=")
		if !strings.HasPrefix(args[i], "-") {
			rest = append(rest, args[i])
			continue
		}
		value := func() (string, error) {
			if hasVal {
				return val, nil
			}
			if i+1 >= len(args) {
				return "", &usageError{"--" + name + " needs a value"}
			}
			i++
			return args[i], nil
		}
		var err error
		switch name {
		case "prefix":
			f.prefix, err = value()
		case "id":
			f.id, err = value()
		case "dry-run":
			f.dryRun = !hasVal || val == "true"
		default:
			rest = append(rest, args[i])
		}
		if err != nil {
			return f, nil, err
		}
	}
	return f, rest, nil
}

func runSweep(ctx context.Context, e env, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintln(e.stdout, sweepUsage)
		return nil
	}
	action, args := args[0], args[1:]
	var id string
	switch action {
	case "show", "restore":
		if len(args) == 0 || strings.HasPrefix(args[0], "-") {
			return &usageError{action + ": SWEEP_ID required (see lifecycle sweep list)"}
		}
		id, args = args[0], args[1:]
	case "list", "run", "purge":
	default:
		return &usageError{fmt.Sprintf("sweep: unknown action %q (want list, show, restore, run or purge)", action)}
	}
	f, rest, err := splitSweepArgs(args)
	if err != nil {
		return err
	}
	groups := config.GroupRedis | config.GroupStorage | config.GroupSweep | config.GroupLog
	if action == "run" {
		groups |= config.GroupUpstream
	}
	cfg, extra, err := config.Parse("sweep "+action, commands["sweep"].summary, groups, rest, e.getenv, e.stdout)
	if err != nil {
		return err
	}
	if len(extra) > 0 {
		return &usageError{fmt.Sprintf("unexpected argument %q", extra[0])}
	}
	if err := cfg.RequireRedis(); err != nil {
		return err
	}
	log := logx.New(e.stderr, cfg.LogLevel, cfg.LogFormat).With().Str("cmd", "sweep").Logger()
	s, closeAll, err := openSweeper(ctx, cfg, action == "run", log)
	if err != nil {
		return err
	}
	defer closeAll()

	switch action {
	case "list":
		return listSweeps(ctx, e.stdout, s)
	case "show":
		r, err := s.Report(ctx, id)
		if errors.Is(err, sweep.ErrNoReport) {
			if running, ok, rerr := s.Running(ctx); rerr == nil && ok && running.SweepID == id {
				return printJSON(e.stdout, running)
			}
		}
		if err != nil {
			return err
		}
		return printJSON(e.stdout, r)
	case "restore":
		res, err := s.Restore(ctx, id, f.prefix)
		if err != nil {
			return err
		}
		return printJSON(e.stdout, res)
	case "purge":
		res, err := s.Purge(ctx, "manual-"+time.Now().UTC().Format("20060102T150405Z"), f.dryRun)
		if err != nil {
			return err
		}
		return printJSON(e.stdout, res)
	default: // run
		if f.id == "" {
			f.id = "manual-" + time.Now().UTC().Format("20060102T150405Z")
		}
		r, err := s.Sweep(ctx, f.id, f.dryRun)
		if perr := printJSON(e.stdout, r); perr != nil {
			return perr
		}
		return err
	}
}

// openSweeper connects to storage and Redis, and to Artifi when the sweep
// will classify photos (withUpstream).
func openSweeper(ctx context.Context, cfg *config.Config, withUpstream bool, log zerolog.Logger) (*sweep.Sweeper, func(), error) {
	rdb, err := connectRedis(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	store, err := openStore(ctx, cfg)
	if err != nil {
		rdb.Close()
		return nil, nil, err
	}
	closeAll := func() { store.Close(); rdb.Close() }
	var up upstreams
	if withUpstream {
		if up, err = openUpstreams(cfg, rdb, log); err != nil {
			closeAll()
			return nil, nil, err
		}
	}
	s, err := newSweeper(cfg, rdb, store, up.artifi, log)
	if err != nil {
		closeAll()
		return nil, nil, err
	}
	return s, closeAll, nil
}

func listSweeps(ctx context.Context, w io.Writer, s *sweep.Sweeper) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SWEEP ID\tSTATUS\tSTARTED\tSCANNED\tCANDIDATES\tMOVED\tPURGED\tRESTORED\tDURATION")
	row := func(r sweep.Report) {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%s\n", r.SweepID, r.Status, r.StartedAt.Format(time.RFC3339),
			r.Scanned, r.CandidateCount(), r.Moved, r.Purged, r.Restored, r.Duration)
	}
	for r, err := range s.Reports(ctx) {
		if err != nil {
			return err
		}
		row(r)
	}
	if r, ok, err := s.Running(ctx); err != nil {
		return err
	} else if ok {
		row(r)
	}
	return tw.Flush()
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
