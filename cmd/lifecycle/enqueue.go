package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/lifecycle-worker/lifecycle/internal/config"
	"github.com/lifecycle-worker/lifecycle/internal/tracing"
	"github.com/lifecycle-worker/lifecycle/tasks"
)

const photoSystems = `Systems: artifi-v3, artifi-v4 (--photo-id), bigin (--module Contacts|Accounts|Products --record-id),
ibmbpm (--user), storage (--key users/{user-id}/...).`

func newEnqueueCmd(e env) *cobra.Command {
	cmd := parentCmd("enqueue", "enqueue work as a producer would: photo-delete or merge (prints the task id)",
		`enqueue work as a producer would: photo-delete or merge (prints the task id).

`+photoSystems+`
The same request enqueued twice is one task: the second prints "duplicate".
Redis comes from --redis-url or LIFECYCLE_REDIS_URL (lifecycle dev prints its own).`,
		showHelp, func(kind string) error {
			return &usageError{fmt.Sprintf("unknown kind %q (want photo-delete or merge)", kind)}
		})

	var photo tasks.PhotoDeletePayload
	photoCmd := enqueueKindCmd(e,
		"photo-delete --system S --user-id U [--photo-id P | --module M --record-id R | --user N | --key K] [--request-id X]",
		"delete a user's photo in one system", func() error { return photo.Validate() },
		func(ctx context.Context, c *tasks.Client) (tasks.Result, error) {
			return c.EnqueuePhotoDelete(ctx, photo)
		})
	photoCmd.Long = "delete a user's photo in one system.\n\n" + photoSystems
	f := photoCmd.Flags()
	f.StringVar(&photo.System, "system", "", "artifi-v3, artifi-v4, bigin, ibmbpm or storage")
	f.StringVar(&photo.UserID, "user-id", "", "our opaque user id")
	f.StringVar(&photo.RequestID, "request-id", "", "your reference; reuse it when you retry")
	f.StringVar(&photo.PhotoID, "photo-id", "", "Artifi photo id")
	f.StringVar(&photo.Module, "module", "", "Bigin module")
	f.StringVar(&photo.RecordID, "record-id", "", "Bigin record id")
	f.StringVar(&photo.User, "user", "", "IBM BPM user name or id")
	f.StringVar(&photo.Key, "key", "", "storage key under users/{user-id}/")

	var merge tasks.UserMergePayload
	mergeCmd := enqueueKindCmd(e, "merge --guest-id G --user-id U [--request-id X]",
		"merge a guest's data into the registered user", func() error { return merge.Validate() },
		func(ctx context.Context, c *tasks.Client) (tasks.Result, error) { return c.EnqueueMerge(ctx, merge) })
	f = mergeCmd.Flags()
	f.StringVar(&merge.GuestID, "guest-id", "", "the guest id used before checkout")
	f.StringVar(&merge.UserID, "user-id", "", "the registered user id")
	f.StringVar(&merge.RequestID, "request-id", "", "your reference")

	cmd.AddCommand(photoCmd, mergeCmd)
	return cmd
}

// enqueueKindCmd enqueues one kind of task, whose payload the caller binds
// to the command's flags: validate checks it, send enqueues it.
func enqueueKindCmd(e env, use, short string, validate func() error, send func(context.Context, *tasks.Client) (tasks.Result, error)) *cobra.Command {
	cmd := &cobra.Command{Use: use, Short: short, Args: noArgs}
	var asJSON bool
	cmd.Flags().BoolVar(&asJSON, "json", false, `print {"task_id", "queue", "duplicate"} as JSON`)
	load := bindSettings(cmd, e, config.GroupRedis)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		// Bad input is reported before Redis is needed.
		if err := validate(); err != nil {
			return &usageError{"invalid request: " + oneLine(err)}
		}
		cfg, err := load()
		if err != nil {
			return err
		}
		rdb, err := connectRedis(cmd.Context(), cfg)
		if err != nil {
			return err
		}
		c := newTaskClient(rdb)
		defer rdb.Close()
		ctx, span := tracing.Tracer().Start(cmd.Context(), "enqueue "+cmd.Name(), trace.WithSpanKind(trace.SpanKindProducer))
		res, err := send(ctx, c)
		span.SetAttributes(attribute.String("messaging.message.id", res.TaskID), attribute.Bool("lifecycle.duplicate", res.Duplicate))
		span.End()
		if err != nil {
			return err
		}
		if asJSON {
			return writeJSONTo(e.stdout, map[string]any{"task_id": res.TaskID, "queue": res.Queue, "duplicate": res.Duplicate})
		}
		dup := ""
		if res.Duplicate {
			dup = " (duplicate: this request is already queued, running or done; nothing new enqueued)"
		}
		fmt.Fprintf(e.stdout, "%s queue=%s%s\n", res.TaskID, res.Queue, dup)
		return nil
	}
	return cmd
}
