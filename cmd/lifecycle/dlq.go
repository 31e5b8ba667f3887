package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/hibiken/asynq"
	"github.com/spf13/cobra"

	"github.com/lifecycle-worker/lifecycle/internal/audit"
	"github.com/lifecycle-worker/lifecycle/internal/config"
	"github.com/lifecycle-worker/lifecycle/internal/deadletter"
)

func newDLQCmd(e env) *cobra.Command {
	cmd := parentCmd("dlq", "list, show, retry and delete dead letters (tasks that failed for good)",
		`list, show, retry and delete dead letters (tasks that failed for good).

Dead letters are asynq's archived tasks. Every one is also copied to storage
under dead-letters/ within a minute by the worker, so deleting one here (or
asynq trimming it) never loses its trace.
Redis comes from --redis-url or LIFECYCLE_REDIS_URL.`,
		showHelp, func(sub string) error {
			return &usageError{fmt.Sprintf("unknown dlq command %q (want list, show, retry or delete)", sub)}
		})

	var f dlqFlags
	queueFlag := func(c *cobra.Command) { c.Flags().StringVar(&f.queue, "queue", "", "only this queue") }
	typeFlag := func(c *cobra.Command) { c.Flags().StringVar(&f.typ, "type", "", "only this task type") }

	list := dlqCmd(e, "list", "list dead letters, one a line", cobra.ArbitraryArgs,
		func(ctx context.Context, in *asynq.Inspector, _ []string) error { return dlqList(e.stdout, in, f) })
	queueFlag(list)
	typeFlag(list)
	list.Flags().BoolVar(&f.json, "json", false, "one JSON object per line")

	show := dlqCmd(e, "show ID", "print a dead letter (JSON)", needTaskID("show"),
		func(ctx context.Context, in *asynq.Inspector, args []string) error {
			t, err := deadLetters(in).Find(args[0], f.queue)
			if err != nil {
				return err
			}
			b, _ := json.MarshalIndent(deadletter.NewRecord(t, time.Now()), "", "  ")
			fmt.Fprintln(e.stdout, string(b))
			return nil
		})
	queueFlag(show)

	retry := dlqCmd(e, "retry ID | --all", "run a dead letter again, or every one (of --queue/--type)",
		func(_ *cobra.Command, args []string) error {
			switch {
			case !f.all && len(args) == 0:
				return &usageError{"dlq retry: task id required"}
			case f.all && len(args) > 0:
				return &usageError{"dlq retry: give a task id or --all, not both"}
			}
			return nil
		},
		func(ctx context.Context, in *asynq.Inspector, args []string) error {
			if !f.all {
				t, err := deadLetters(in).Find(args[0], f.queue)
				if err != nil {
					return err
				}
				if err := in.RunTask(t.Queue, t.ID); err != nil {
					return err
				}
				if err := audit.Record(ctx, audit.Entry{Action: audit.DeadLetterRetry, Subject: t.Queue + "/" + t.ID}); err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "retrying %s on %s\n", t.ID, t.Queue)
				return nil
			}
			// Listed in full first: each retry takes a dead letter out of
			// the pages still to be read, which would skip as many.
			var all []*asynq.TaskInfo
			for t, err := range deadLetters(in).All(f.queue, f.typ) {
				if err != nil {
					return err
				}
				all = append(all, t)
			}
			n := 0
			for _, t := range all {
				if err := in.RunTask(t.Queue, t.ID); err != nil {
					return fmt.Errorf("retry %s: %w (after %d retried)", t.ID, err, n)
				}
				if err := audit.Record(ctx, audit.Entry{Action: audit.DeadLetterRetry, Subject: t.Queue + "/" + t.ID, Why: "--all"}); err != nil {
					return err
				}
				n++
			}
			fmt.Fprintf(e.stdout, "retrying %d dead letters\n", n)
			return nil
		})
	queueFlag(retry)
	typeFlag(retry)
	retry.Flags().BoolVar(&f.all, "all", false, "every dead letter (of --queue/--type)")

	del := dlqCmd(e, "delete ID", "delete a dead letter (its copy stays in storage)", needTaskID("delete"),
		func(ctx context.Context, in *asynq.Inspector, args []string) error {
			t, err := deadLetters(in).Find(args[0], f.queue)
			if err != nil {
				return err
			}
			if err := in.DeleteTask(t.Queue, t.ID); err != nil {
				return err
			}
			if err := audit.Record(ctx, audit.Entry{Action: audit.DeadLetterDelete, Subject: t.Queue + "/" + t.ID}); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "deleted %s from %s (its copy stays in storage under dead-letters/)\n", t.ID, t.Queue)
			return nil
		})
	queueFlag(del)

	cmd.AddCommand(list, show, retry, del)
	return cmd
}

type dlqFlags struct {
	queue, typ string
	all, json  bool
}

// dlqCmd is a dlq command: args are checked before Redis is needed, then run
// gets an inspector on the configured Redis.
func dlqCmd(e env, use, short string, args cobra.PositionalArgs, run func(ctx context.Context, in *asynq.Inspector, args []string) error) *cobra.Command {
	cmd := &cobra.Command{Use: use, Short: short, Args: args}
	load := bindSettings(cmd, e, config.GroupRedis)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		cfg, err := load()
		if err != nil {
			return err
		}
		rdb, err := connectRedis(cmd.Context(), cfg)
		if err != nil {
			return err
		}
		defer rdb.Close()
		in := asynq.NewInspectorFromRedisClient(rdb)
		// No storage here: the worker copies the entries (audit.Recorder.Copy).
		return run(audit.NewContext(cmd.Context(), &audit.Recorder{Redis: rdb}, audit.CLIUser()), in, args)
	}
	return cmd
}

func needTaskID(sub string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) == 0 {
			return &usageError{fmt.Sprintf("dlq %s: task id required", sub)}
		}
		return nil
	}
}

func dlqList(w io.Writer, in *asynq.Inspector, f dlqFlags) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	n := 0
	for t, err := range deadLetters(in).All(f.queue, f.typ) {
		if err != nil {
			return err
		}
		n++
		if f.json {
			b, _ := json.Marshal(map[string]any{
				"id": t.ID, "type": t.Type, "queue": t.Queue, "failed_at": t.LastFailedAt.UTC(),
				"attempts": t.Retried + 1, "last_error": t.LastErr,
			})
			fmt.Fprintln(w, string(b))
			continue
		}
		if n == 1 {
			fmt.Fprintln(tw, "TASK ID\tTYPE\tQUEUE\tFAILED\tATTEMPTS\tLAST ERROR")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", t.ID, t.Type, t.Queue,
			t.LastFailedAt.UTC().Format(time.RFC3339), t.Retried+1, oneLine(errors.New(t.LastErr)))
	}
	if n == 0 && !f.json {
		fmt.Fprintln(w, "no dead letters")
	}
	return tw.Flush()
}
