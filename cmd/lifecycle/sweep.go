package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/lifecycle-worker/lifecycle/internal/audit"
	"github.com/lifecycle-worker/lifecycle/internal/config"
	"github.com/lifecycle-worker/lifecycle/internal/sweep"
)

func newSweepCmd(e env) *cobra.Command {
	cmd := parentCmd("sweep", "orphaned-asset sweeps: list, show, restore, or run one now",
		`orphaned-asset sweeps: list, show, restore, or run one now.

Storage, Redis, Artifi and the sweep settings come from the worker's flags and
LIFECYCLE_* variables (see lifecycle sweep list --help). Only one sweep, purge or
restore runs at a time, across every worker: a second one exits with an error.`,
		showHelp, func(action string) error {
			return &usageError{fmt.Sprintf("sweep: unknown action %q (want list, show, restore, run or purge)", action)}
		})

	var listJSON bool
	list := sweepCmd(e, "list", "reports of every sweep, and the one running", noArgs, false,
		func(ctx context.Context, s *sweep.Sweeper, _ []string) error {
			return listSweeps(ctx, e.stdout, s, listJSON)
		})
	list.Flags().BoolVar(&listJSON, "json", false, "print the reports as JSON")

	show := sweepCmd(e, "show SWEEP_ID", "one sweep's report (JSON)", sweepID("show"), false,
		func(ctx context.Context, s *sweep.Sweeper, args []string) error {
			id := args[0]
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
		})

	var prefix string
	restore := sweepCmd(e, "restore SWEEP_ID [--prefix P]", "put quarantined objects back (only keys under P)", sweepID("restore"), false,
		func(ctx context.Context, s *sweep.Sweeper, args []string) error {
			res, err := s.Restore(ctx, args[0], prefix)
			if err != nil {
				return err
			}
			why := ""
			if prefix != "" {
				why = "prefix " + prefix
			}
			if err := audit.Record(ctx, audit.Entry{Action: audit.SweepRestore, Subject: args[0], Why: why}); err != nil {
				return err
			}
			return printJSON(e.stdout, res)
		})
	restore.Flags().StringVar(&prefix, "prefix", "", "only keys under this prefix, such as users/u-1/")

	var runID string
	var runDry bool
	runArgs := func(cmd *cobra.Command, args []string) error {
		if err := noArgs(cmd, args); err != nil {
			return err
		}
		if runID == "" {
			return nil
		}
		return checkIDArg("--id", runID)
	}
	run := sweepCmd(e, "run [--id ID] [--dry-run]", "sweep now, in this process (default id: manual-{time})", runArgs, true,
		func(ctx context.Context, s *sweep.Sweeper, _ []string) error {
			id := cmp.Or(runID, "manual-"+time.Now().UTC().Format("20060102T150405Z"))
			r, err := s.Sweep(ctx, id, runDry)
			if perr := printJSON(e.stdout, r); perr != nil {
				return perr
			}
			return err
		})
	run.Flags().StringVar(&runID, "id", "", "the sweep's id (default: manual-{time})")
	run.Flags().BoolVar(&runDry, "dry-run", false, "report what would move, move nothing")

	var purgeDry bool
	purge := sweepCmd(e, "purge [--dry-run]", "delete quarantines older than the restore window", noArgs, false,
		func(ctx context.Context, s *sweep.Sweeper, _ []string) error {
			id := "manual-" + time.Now().UTC().Format("20060102T150405Z")
			res, err := s.Purge(ctx, id, purgeDry)
			if err != nil {
				return err
			}
			if !purgeDry {
				if err := audit.Record(ctx, audit.Entry{Action: audit.SweepPurge, Subject: id}); err != nil {
					return err
				}
			}
			return printJSON(e.stdout, res)
		})
	purge.Flags().BoolVar(&purgeDry, "dry-run", false, "report what would be deleted, delete nothing")

	cmd.AddCommand(list, show, restore, run, purge)
	return cmd
}

// sweepCmd is a sweep command: run gets a sweeper on the configured storage
// and Redis, and on Artifi too when it classifies photos (withUpstream).
func sweepCmd(e env, use, short string, args cobra.PositionalArgs, withUpstream bool, run func(ctx context.Context, s *sweep.Sweeper, args []string) error) *cobra.Command {
	cmd := &cobra.Command{Use: use, Short: short, Args: args}
	groups := config.GroupRedis | config.GroupStorage | config.GroupSweep
	if withUpstream {
		groups |= config.GroupUpstream
	}
	load := bindLoggedSettings(cmd, e, groups)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		cfg, log, err := load()
		if err != nil {
			return err
		}
		s, rec, closeAll, err := openSweeper(cmd.Context(), cfg, withUpstream, log)
		if err != nil {
			return err
		}
		defer closeAll()
		return run(audit.NewContext(cmd.Context(), rec, audit.CLIUser()), s, args)
	}
	return cmd
}

// sweepID is for the actions on one sweep.
func sweepID(action string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) == 0 {
			return &usageError{action + ": SWEEP_ID required (see lifecycle sweep list)"}
		}
		if err := noArgs(nil, args[1:]); err != nil {
			return err
		}
		return checkIDArg("SWEEP_ID", args[0])
	}
}

// openSweeper connects to storage and Redis, and to Artifi when the sweep
// will classify photos (withUpstream).
func openSweeper(ctx context.Context, cfg *config.Config, withUpstream bool, log zerolog.Logger) (*sweep.Sweeper, *audit.Recorder, func(), error) {
	// The store first: a wrong directory is named before Redis is needed.
	store, err := openExistingStore(ctx, cfg)
	if err != nil {
		return nil, nil, nil, err
	}
	rdb, err := connectRedis(ctx, cfg)
	if err != nil {
		store.Close()
		return nil, nil, nil, err
	}
	closeAll := func() { store.Close(); rdb.Close() }
	var up upstreams
	if withUpstream {
		if up, err = openUpstreams(cfg, rdb, log); err != nil {
			closeAll()
			return nil, nil, nil, err
		}
	}
	s, err := newSweeper(cfg, rdb, store, up.artifi, log)
	if err != nil {
		closeAll()
		return nil, nil, nil, err
	}
	return s, &audit.Recorder{Redis: rdb, Store: store}, closeAll, nil
}

func listSweeps(ctx context.Context, w io.Writer, s *sweep.Sweeper, asJSON bool) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SWEEP ID\tSTATUS\tSTARTED\tSCANNED\tCANDIDATES\tMOVED\tPURGED\tRESTORED\tDURATION")
	reports := []sweep.Report{}
	row := func(r sweep.Report) {
		reports = append(reports, r)
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
	if asJSON {
		return printJSON(w, reports)
	}
	return tw.Flush()
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
