package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/hibiken/asynq"

	"github.com/lifecycle-worker/lifecycle/internal/config"
	"github.com/lifecycle-worker/lifecycle/internal/deadletter"
	"github.com/lifecycle-worker/lifecycle/tasks"
)

func init() {
	register("dlq", "list, show, retry and delete dead letters (tasks that failed for good)", runDLQ)
}

const dlqUsage = `Usage:
  lifecycle dlq list [--queue Q] [--type T] [--json]
  lifecycle dlq show ID [--queue Q]
  lifecycle dlq retry ID [--queue Q]
  lifecycle dlq retry --all [--queue Q] [--type T]
  lifecycle dlq delete ID [--queue Q]

Dead letters are asynq's archived tasks. Every one is also copied to storage
under dead-letters/ within a minute by the worker, so deleting one here (or
asynq trimming it) never loses its trace.
Redis comes from --redis-url or LIFECYCLE_REDIS_URL.`

type dlqFlags struct {
	redisURL, queue, typ string
	all, json            bool
}

func runDLQ(ctx context.Context, e env, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintln(e.stdout, dlqUsage)
		return nil
	}
	sub := args[0]
	var f dlqFlags
	fs := flag.NewFlagSet("dlq "+sub, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.StringVar(&f.redisURL, "redis-url", "", "Redis (env LIFECYCLE_REDIS_URL)")
	fs.StringVar(&f.queue, "queue", "", "only this queue")
	fs.StringVar(&f.typ, "type", "", "only this task type")
	fs.BoolVar(&f.all, "all", false, "retry: every dead letter (of --queue/--type)")
	fs.BoolVar(&f.json, "json", false, "list: one JSON object per line")
	// Flags may follow the id: parse what comes after it too.
	rest := args[1:]
	var id string
	if len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		id, rest = rest[0], rest[1:]
	}
	if err := fs.Parse(rest); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return config.ErrHelp
		}
		return &usageError{err.Error()}
	}
	if id == "" && fs.NArg() > 0 {
		id = fs.Arg(0)
	}
	needID := sub == "show" || sub == "delete" || (sub == "retry" && !f.all)
	switch {
	case sub != "list" && sub != "show" && sub != "retry" && sub != "delete":
		return &usageError{fmt.Sprintf("unknown dlq command %q (want list, show, retry or delete)", sub)}
	case needID && id == "":
		return &usageError{fmt.Sprintf("dlq %s: task id required", sub)}
	case sub == "retry" && f.all && id != "":
		return &usageError{"dlq retry: give a task id or --all, not both"}
	}
	in, err := dlqInspector(e, f.redisURL)
	if err != nil {
		return err
	}
	defer in.Close()

	switch sub {
	case "list":
		return dlqList(e.stdout, in, f)
	case "show":
		t, err := findArchived(in, id, f.queue)
		if err != nil {
			return err
		}
		b, _ := json.MarshalIndent(deadletter.NewRecord(t, time.Now()), "", "  ")
		fmt.Fprintln(e.stdout, string(b))
		return nil
	case "delete":
		t, err := findArchived(in, id, f.queue)
		if err != nil {
			return err
		}
		if err := in.DeleteTask(t.Queue, t.ID); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "deleted %s from %s (its copy stays in storage under dead-letters/)\n", t.ID, t.Queue)
		return nil
	}
	// retry
	if !f.all {
		t, err := findArchived(in, id, f.queue)
		if err != nil {
			return err
		}
		if err := in.RunTask(t.Queue, t.ID); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "retrying %s on %s\n", t.ID, t.Queue)
		return nil
	}
	n := 0
	for t, err := range archived(in, f.queue, f.typ) {
		if err != nil {
			return err
		}
		if err := in.RunTask(t.Queue, t.ID); err != nil {
			return fmt.Errorf("retry %s: %w (after %d retried)", t.ID, err, n)
		}
		n++
	}
	fmt.Fprintf(e.stdout, "retrying %d dead letters\n", n)
	return nil
}

func dlqInspector(e env, flagURL string) (*asynq.Inspector, error) {
	src, raw := "--redis-url", flagURL
	if raw == "" {
		src, raw = "LIFECYCLE_REDIS_URL", e.getenv("LIFECYCLE_REDIS_URL")
	}
	if raw == "" {
		return nil, &usageError{"LIFECYCLE_REDIS_URL: required (or --redis-url)"}
	}
	opt, err := config.ParseRedisURL(raw)
	if err != nil {
		return nil, &config.Error{Name: src, Problem: err.Error()}
	}
	return asynq.NewInspector(opt), nil
}

// archived yields every dead letter of the queues (all known ones if queue
// is empty), of type typ if given, a page at a time.
func archived(in *asynq.Inspector, queue, typ string) func(yield func(*asynq.TaskInfo, error) bool) {
	return func(yield func(*asynq.TaskInfo, error) bool) {
		queues := []string{queue}
		if queue == "" {
			known, err := in.Queues()
			if err != nil {
				yield(nil, err)
				return
			}
			queues = tasks.Queues()
			for _, q := range known {
				if !slices.Contains(queues, q) {
					queues = append(queues, q)
				}
			}
		}
		for _, q := range queues {
			for page := 1; ; page++ {
				infos, err := in.ListArchivedTasks(q, asynq.PageSize(500), asynq.Page(page))
				if err != nil {
					if errors.Is(err, asynq.ErrQueueNotFound) {
						break
					}
					yield(nil, err)
					return
				}
				for _, t := range infos {
					if typ == "" || t.Type == typ {
						if !yield(t, nil) {
							return
						}
					}
				}
				if len(infos) < 500 {
					break
				}
			}
		}
	}
}

func findArchived(in *asynq.Inspector, id, queue string) (*asynq.TaskInfo, error) {
	queues := []string{queue}
	if queue == "" {
		var err error
		if queues, err = in.Queues(); err != nil {
			return nil, err
		}
	}
	for _, q := range queues {
		t, err := in.GetTaskInfo(q, id)
		if err == nil && t.State == asynq.TaskStateArchived {
			return t, nil
		}
	}
	return nil, fmt.Errorf("no dead letter with id %q", id)
}

func dlqList(w io.Writer, in *asynq.Inspector, f dlqFlags) error {
	n := 0
	for t, err := range archived(in, f.queue, f.typ) {
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
		fmt.Fprintf(w, "%s  %-14s %-6s %s  attempts=%d  %s\n", t.ID, t.Type, t.Queue,
			t.LastFailedAt.UTC().Format(time.RFC3339), t.Retried+1, oneLine(errors.New(t.LastErr)))
	}
	if n == 0 && !f.json {
		fmt.Fprintln(w, "no dead letters")
	}
	return nil
}
