package handlers

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/lifecycle-worker/lifecycle/internal/errclass"
	"github.com/lifecycle-worker/lifecycle/internal/logx"
	"github.com/lifecycle-worker/lifecycle/internal/metrics"
	"github.com/lifecycle-worker/lifecycle/tasks"
)

// note lets a handler tell the outcome middleware what its task targeted, so
// that logs and metrics can be broken down by upstream system.
type note struct {
	system string
	result any
}

type noteKey struct{}

// SetSystem records the upstream system a task acts on ("artifi-v4",
// "storage", ...), for the outcome log line and metrics.
func SetSystem(ctx context.Context, system string) {
	if n, ok := ctx.Value(noteKey{}).(*note); ok {
		n.system = system
	}
}

// SetResult records figures of a finished task (a merge's objects moved...)
// to keep in its asynq result beside the outcome. A handler must not write
// the result itself: writeResult, which runs after it, would replace it.
func SetResult(ctx context.Context, result any) {
	if n, ok := ctx.Value(noteKey{}).(*note); ok {
		n.result = result
	}
}

// Outcomes is the middleware that turns a handler's classified error into
// asynq's behaviour, and records one log line and one metric per attempt.
// It is the only place that decides:
//
//   - nil: succeeded.
//   - errclass.AlreadyGone: succeeded, recorded as already_gone.
//   - a success already on record (see Completions): succeeded without
//     running the handler, recorded as already_completed.
//   - errclass.Permanent or asynq.SkipRetry: archived at once (dead letter).
//   - anything else: retried (the server's RetryDelayFunc reads any delay the
//     upstream asked for), or archived once retries are exhausted; a rate
//     limit is recorded as throttled, since it spends no retry.
//   - the task's timeout reached: a failure that spends a retry, recorded as
//     timed_out (dead_lettered once retries are exhausted).
//   - the worker shutting down: handed back to the queue, recorded as
//     interrupted.
//
// A panic becomes a permanent error naming file and line, so that the outcome
// is still logged and counted, and the task is dead-lettered at once with
// that reason: a handler that panics on a task panics on it again, and each
// retry would only repeat whatever upstream calls came before the panic.
//
// running, if not nil, counts the handlers in flight (see Running).
func Outcomes(log zerolog.Logger, m metrics.Tasks, now func() time.Time, running *Running) asynq.MiddlewareFunc {
	return func(next asynq.Handler) asynq.Handler {
		return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
			if running != nil {
				running.wg.Add(1)
				defer running.wg.Done()
			}
			n := &note{}
			id, _ := asynq.GetTaskID(ctx)
			ctx = logx.WithTask(context.WithValue(ctx, noteKey{}, n), id, t.Type())
			start := now()
			err := safely(ctx, next, t)
			elapsed := now().Sub(start)

			retried, _ := asynq.GetRetryCount(ctx)
			maxRetry, _ := asynq.GetMaxRetry(ctx)
			outcome, ret := decide(ctx, err, retried, maxRetry)
			if err == nil {
				err = ret // a context that ended while the handler returned nil
			}

			system := n.system
			if system == "" {
				system = "none"
			}
			m.Outcomes.WithLabelValues(t.Type(), system, outcome).Inc()
			m.Duration.WithLabelValues(t.Type(), outcome).Observe(elapsed.Seconds())

			queue, _ := asynq.GetQueueName(ctx)
			ev := log.Info()
			switch outcome {
			case metrics.OutcomeRetried, metrics.OutcomeThrottled, metrics.OutcomeTimedOut, metrics.OutcomeInterrupted:
				ev = log.Warn()
			case metrics.OutcomeDeadLettered:
				ev = log.Error()
			}
			// task_id and type come from ctx (logx.WithTask), as on every
			// line the handler wrote, and so do trace_id and span_id.
			ev = ev.Ctx(ctx).Str("queue", queue).
				Int("attempt", retried+1).Int("max_retry", maxRetry).
				Float64("duration_ms", logx.Millis(elapsed)).Str("outcome", outcome).Str("system", system)
			if err != nil {
				ev = ev.Str("error_class", string(classOf(err))).Err(err)
				if d, ok := errclass.Delay(err); ok && (outcome == metrics.OutcomeRetried || outcome == metrics.OutcomeThrottled) {
					ev = ev.Float64("retry_in_ms", logx.Millis(d))
				}
			}
			ev.Msg("task " + outcome)
			recordOutcome(ctx, outcome, err)
			if ret == nil {
				writeResult(t, outcome, n.result)
			}
			return ret
		})
	}
}

// Running counts handlers in flight. When a worker's shutdown grace runs
// out, asynq hands the task back and cancels the handler's context, but does
// not wait for the handler to return: without waiting here the process could
// exit before the handler's outcome line ("interrupted") is written.
type Running struct{ wg sync.WaitGroup }

// Wait waits until no handler runs, or d passes; it reports which.
func (r *Running) Wait(d time.Duration) bool {
	done := make(chan struct{})
	go func() {
		r.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}

// decide maps a handler's result to an outcome and to the error asynq sees.
// A task whose context has ended was dealt with by asynq on that account,
// whatever the handler returned: a deadline is a failure, a cancellation a
// shutdown that handed the task back.
func decide(ctx context.Context, err error, retried, maxRetry int) (string, error) {
	switch {
	case errors.Is(ctx.Err(), context.Canceled):
		// asynq cancels a task's context when the worker's shutdown grace
		// runs out (and on CancelProcessing); the task is handed back.
		return metrics.OutcomeInterrupted, cmp.Or(err, ctx.Err())
	case errors.Is(ctx.Err(), context.DeadlineExceeded) && retried >= maxRetry:
		return metrics.OutcomeDeadLettered, cmp.Or(err, ctx.Err())
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		// The task's timeout: asynq counts a failure and spends a retry.
		return metrics.OutcomeTimedOut, cmp.Or(err, ctx.Err())
	case err == nil:
		return metrics.OutcomeSucceeded, nil
	case errors.Is(err, errAlreadyCompleted):
		return metrics.OutcomeAlreadyCompleted, nil
	case errclass.Of(err) == errclass.AlreadyGone:
		return metrics.OutcomeAlreadyGone, nil
	case errors.Is(err, asynq.SkipRetry):
		return metrics.OutcomeDeadLettered, err
	case errclass.Of(err) == errclass.Permanent, errclass.Of(err) == errclass.Unconfirmed:
		// An unconfirmed answer is surfaced at once rather than retried for
		// the task's whole budget: repeating the call cannot make it evidence.
		return metrics.OutcomeDeadLettered, fmt.Errorf("%w: %w", err, asynq.SkipRetry)
	case retried >= maxRetry:
		// asynq archives a task whose retries are spent, throttled or not.
		return metrics.OutcomeDeadLettered, err
	case errclass.IsThrottled(err):
		return metrics.OutcomeThrottled, err
	default:
		return metrics.OutcomeRetried, err
	}
}

func classOf(err error) errclass.Class {
	if errors.Is(err, asynq.SkipRetry) {
		return errclass.Permanent
	}
	return errclass.Of(err)
}

func safely(ctx context.Context, h asynq.Handler, t *asynq.Task) (err error) {
	defer func() {
		if x := recover(); x != nil {
			_, file, line, _ := runtime.Caller(2)
			err = errclass.AsPermanent(fmt.Errorf("panic [%s:%d]: %v", file, line, x))
		}
	}()
	return h.ProcessTask(ctx, t)
}

// RetryDelay is the server's RetryDelayFunc: the upstream's own delay
// (Retry-After) when it gave one, otherwise the backoff of the task type's
// policy (see tasks.PolicyFor).
func RetryDelay(n int, err error, t *asynq.Task) time.Duration {
	if d, ok := errclass.Delay(err); ok {
		return d
	}
	return tasks.RetryDelay(n, t.Type(), rand.Float64())
}

// IsFailure is the server's IsFailure: a rate limit is retried without
// spending the task's retry budget.
func IsFailure(err error) bool { return !errclass.IsThrottled(err) }

// recordOutcome adds the outcome to the attempt's span (see Tracing): an
// error status for a retry or a dead letter, with the error's class, not its
// message.
// writeResult keeps a finished task's outcome (succeeded, already_gone) as
// its asynq result, for its retention: GET /v1/tasks/{id} answers it. A
// failure to write it costs only that answer's detail, so it is not an error
// of the task. The figures of SetResult, if any, are kept beside the outcome.
func writeResult(t *asynq.Task, outcome string, result any) {
	w := t.ResultWriter()
	if w == nil {
		return
	}
	fields := map[string]any{}
	if result != nil {
		if b, err := json.Marshal(result); err == nil {
			_ = json.Unmarshal(b, &fields)
		}
	}
	fields["outcome"] = outcome
	if b, err := json.Marshal(fields); err == nil {
		_, _ = w.Write(b)
	}
}

func recordOutcome(ctx context.Context, outcome string, err error) {
	span := trace.SpanFromContext(ctx)
	span.SetAttributes(attribute.String("lifecycle.outcome", outcome))
	if err == nil {
		return
	}
	class := string(classOf(err))
	span.SetAttributes(attribute.String("lifecycle.error_class", class))
	if outcome == metrics.OutcomeRetried || outcome == metrics.OutcomeDeadLettered {
		span.SetStatus(codes.Error, class)
	}
}
