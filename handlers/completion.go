package handlers

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
	"github.com/rs/zerolog"

	"github.com/lifecycle-worker/lifecycle/internal/errclass"
	"github.com/lifecycle-worker/lifecycle/tasks"
)

// CompletionRecords remembers which tasks succeeded (*completion.Store).
type CompletionRecords interface {
	Record(ctx context.Context, queue, id string, ttl time.Duration) error
	Completed(ctx context.Context, queue, id string) (bool, error)
}

// completionWriteWindow is how long a success keeps trying to record itself
// while Redis is unreachable: asynq's lease (base.LeaseDuration, 30 s). The
// recoverer runs a task again only once that lease is over, so a record
// written within it is always there before the second run looks.
const completionWriteWindow = 30 * time.Second

// completionTTLDefault is the record's lifetime for a type with no policy.
const completionTTLDefault = time.Hour

// errAlreadyCompleted is what Completions returns for a task whose success
// is on record: the outcome middleware logs it as already_completed, and
// asynq sees a success.
var errAlreadyCompleted = errors.New("completion already recorded: upstream not called again")

// Completions keeps asynq v0.26.0 from repeating a task that succeeded when
// the success could not be recorded in asynq (see internal/completion): a
// task whose handler succeeded (or found its target gone) gets a record,
// written on a context of its own and retried for the lease; a task with a
// record is answered at once, without running its handler. It goes inside
// Outcomes, which logs the answer as already_completed.
//
// The record lives as long as the task type's Retention: asynq keeps a
// finished task's id that long and refuses a new task with the same id, so
// no new work is ever mistaken for the finished one.
func Completions(rec CompletionRecords, log zerolog.Logger) asynq.MiddlewareFunc {
	return func(next asynq.Handler) asynq.Handler {
		return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
			id, _ := asynq.GetTaskID(ctx)
			queue, _ := asynq.GetQueueName(ctx)
			done, err := rec.Completed(ctx, queue, id)
			if err != nil {
				// Not knowing is no licence to call the upstream again.
				return fmt.Errorf("before running: %w", err)
			}
			if done {
				return errAlreadyCompleted
			}
			err = next.ProcessTask(ctx, t)
			if err == nil || errclass.Of(err) == errclass.AlreadyGone {
				record(ctx, rec, log, queue, id, t.Type())
			}
			return err
		})
	}
}

// record writes the completion record, retrying on a context of its own
// (the task's may be over) until completionWriteWindow has passed.
func record(ctx context.Context, rec CompletionRecords, log zerolog.Logger, queue, id, typ string) {
	ttl := completionTTLDefault
	if p, ok := tasks.PolicyFor(typ); ok && p.Retention > 0 {
		ttl = p.Retention
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), completionWriteWindow)
	defer cancel()
	wait := 50 * time.Millisecond
	for {
		err := rec.Record(ctx, queue, id, ttl)
		if err == nil {
			return
		}
		select {
		case <-ctx.Done():
			log.Error().Ctx(ctx).Err(err).
				Msg("task succeeded but its completion could not be recorded: if asynq could not record it either, the task runs again")
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Second)
	}
}
