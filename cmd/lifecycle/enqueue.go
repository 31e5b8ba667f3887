package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"

	"github.com/lifecycle-worker/lifecycle/internal/config"
	"github.com/lifecycle-worker/lifecycle/tasks"
)

func init() {
	register("enqueue", "enqueue work as a producer would: photo-delete or merge (prints the task id)", runEnqueue)
}

func runEnqueue(ctx context.Context, e env, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintln(e.stdout, `Usage:
  lifecycle enqueue photo-delete --system S --user-id U [--photo-id P | --module M --record-id R | --user N | --key K] [--request-id X]
  lifecycle enqueue merge --guest-id G --user-id U [--request-id X]

Systems: artifi-v3, artifi-v4 (--photo-id), bigin (--module Contacts|Accounts|Products --record-id),
ibmbpm (--user), storage (--key users/{user-id}/...).
The same request enqueued twice is one task: the second prints "duplicate".
Redis comes from --redis-url or LIFECYCLE_REDIS_URL (lifecycle dev prints its own).`)
		return nil
	}
	sub, rest := args[0], args[1:]
	fs := flag.NewFlagSet("enqueue "+sub, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	redisURL := fs.String("redis-url", "", "Redis (env LIFECYCLE_REDIS_URL)")
	var send func(c *tasks.Client) (tasks.Result, error)
	var validate func() error
	switch sub {
	case "photo-delete":
		var p tasks.PhotoDeletePayload
		fs.StringVar(&p.System, "system", "", "artifi-v3, artifi-v4, bigin, ibmbpm or storage")
		fs.StringVar(&p.UserID, "user-id", "", "our opaque user id")
		fs.StringVar(&p.RequestID, "request-id", "", "your reference; reuse it when you retry")
		fs.StringVar(&p.PhotoID, "photo-id", "", "Artifi photo id")
		fs.StringVar(&p.Module, "module", "", "Bigin module")
		fs.StringVar(&p.RecordID, "record-id", "", "Bigin record id")
		fs.StringVar(&p.User, "user", "", "IBM BPM user name or id")
		fs.StringVar(&p.Key, "key", "", "storage key under users/{user-id}/")
		send = func(c *tasks.Client) (tasks.Result, error) { return c.EnqueuePhotoDelete(ctx, p) }
		validate = func() error { return p.Validate() }
	case "merge":
		var p tasks.UserMergePayload
		fs.StringVar(&p.GuestID, "guest-id", "", "the guest id used before checkout")
		fs.StringVar(&p.UserID, "user-id", "", "the registered user id")
		fs.StringVar(&p.RequestID, "request-id", "", "your reference")
		send = func(c *tasks.Client) (tasks.Result, error) { return c.EnqueueMerge(ctx, p) }
		validate = func() error { return p.Validate() }
	default:
		return &usageError{fmt.Sprintf("unknown kind %q (want photo-delete or merge)", sub)}
	}
	if err := fs.Parse(rest); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return config.ErrHelp
		}
		return &usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return &usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	// Bad input is reported before Redis is needed.
	if err := validate(); err != nil {
		return &usageError{"invalid request: " + strings.ReplaceAll(err.Error(), "\n", "; ")}
	}
	src, raw := "--redis-url", *redisURL
	if raw == "" {
		src, raw = "LIFECYCLE_REDIS_URL", e.getenv("LIFECYCLE_REDIS_URL")
	}
	if raw == "" {
		return &usageError{"LIFECYCLE_REDIS_URL: required (or --redis-url)"}
	}
	opt, err := config.ParseRedisURL(raw)
	if err != nil {
		return &config.Error{Name: src, Problem: err.Error()}
	}
	c := tasks.NewClient(opt)
	defer c.Close()
	res, err := send(c)
	if err != nil {
		return err
	}
	dup := ""
	if res.Duplicate {
		dup = " (duplicate: this request is already queued, running or done; nothing new enqueued)"
	}
	fmt.Fprintf(e.stdout, "%s queue=%s%s\n", res.TaskID, res.Queue, dup)
	return nil
}
