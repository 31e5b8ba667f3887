package handlers

import (
	"context"

	"github.com/hibiken/asynq"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/lifecycle-worker/lifecycle/internal/tracing"
)

// Tracing is the middleware that starts one span per attempt, "task
// {type}", in the trace whose context the producer put in the task's
// headers (a new trace when there is none). It goes before Outcomes, which
// adds the outcome to the span. Attributes are ids and counts only: the
// task id, type, queue and attempt.
//
// tp is the tracer provider (otel.GetTracerProvider() once tracing.Setup has
// run).
func Tracing(tp trace.TracerProvider) asynq.MiddlewareFunc {
	tracer := tp.Tracer(tracing.Name)
	return func(next asynq.Handler) asynq.Handler {
		return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
			id, _ := asynq.GetTaskID(ctx)
			queue, _ := asynq.GetQueueName(ctx)
			retried, _ := asynq.GetRetryCount(ctx)
			ctx = tracing.Extract(ctx, t.Headers())
			ctx, span := tracer.Start(ctx, "task "+t.Type(),
				trace.WithSpanKind(trace.SpanKindConsumer),
				trace.WithAttributes(
					attribute.String("messaging.system", "asynq"),
					attribute.String("messaging.operation.type", "process"),
					attribute.String("messaging.message.id", id),
					attribute.String("messaging.destination.name", queue),
					attribute.String("lifecycle.task.type", t.Type()),
					attribute.Int("lifecycle.task.attempt", retried+1),
				))
			defer span.End()
			return next.ProcessTask(ctx, t)
		})
	}
}
