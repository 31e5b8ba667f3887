package handlers

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hibiken/asynq"
	"github.com/rs/zerolog"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/lifecycle-worker/lifecycle/internal/errclass"
	"github.com/lifecycle-worker/lifecycle/internal/metrics"
	"github.com/lifecycle-worker/lifecycle/internal/testutil"
	"github.com/lifecycle-worker/lifecycle/internal/tracing"
)

// TestTracing: each attempt is a span in the producer's trace (from the
// task's headers), or the root of its own when the producer sent none, with
// the task's id, type, queue, attempt and outcome.
func TestTracing(t *testing.T) {
	redis := testutil.AsynqRedis(t)
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	defer tp.Shutdown(context.Background())

	mux := asynq.NewServeMux()
	mux.Use(Tracing(tp), Outcomes(zerolog.Nop(), metrics.New(nil).Tasks, time.Now, nil))
	mux.HandleFunc("ok", func(context.Context, *asynq.Task) error { return nil })
	mux.HandleFunc("bad", func(context.Context, *asynq.Task) error {
		return errclass.AsPermanent(errors.New("invalid module"))
	})
	srv := NewServer(ServerParams{Redis: redis, Concurrency: 2, Queues: map[string]int{"photo": 1}, ShutdownTimeout: time.Second, Log: zerolog.Nop()})
	if err := srv.Start(mux); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)

	ctx, producer := tp.Tracer("producer").Start(context.Background(), "enqueue")
	headers := map[string]string{}
	tracing.Inject(ctx, headers)
	producer.End()
	client := asynq.NewClient(redis)
	defer client.Close()
	for _, task := range []*asynq.Task{asynq.NewTaskWithHeaders("ok", nil, headers), asynq.NewTask("bad", nil)} {
		if _, err := client.Enqueue(task, asynq.Queue("photo"), asynq.TaskID("t-"+task.Type()), asynq.MaxRetry(3)); err != nil {
			t.Fatal(err)
		}
	}

	type seen struct {
		InProducersTrace bool
		Parent           bool
		Attrs            map[string]string
	}
	got := map[string]seen{}
	testutil.Eventually(t, 10*time.Second, func() bool {
		for _, s := range exp.GetSpans() {
			if s.Name == "enqueue" {
				continue
			}
			attrs := map[string]string{}
			for _, a := range s.Attributes {
				attrs[string(a.Key)] = a.Value.String()
			}
			got[s.Name] = seen{s.SpanContext.TraceID() == producer.SpanContext().TraceID(), s.Parent.SpanID() == producer.SpanContext().SpanID(), attrs}
		}
		return len(got) == 2
	}, "spans after 10 s: %v", testutil.Later(func() any { return got }))
	attrs := func(typ, outcome string, extra ...string) map[string]string {
		m := map[string]string{"messaging.system": "asynq", "messaging.operation.type": "process", "messaging.message.id": "t-" + typ,
			"messaging.destination.name": "photo", "lifecycle.task.type": typ, "lifecycle.task.attempt": "1", "lifecycle.outcome": outcome}
		for i := 0; i < len(extra); i += 2 {
			m[extra[i]] = extra[i+1]
		}
		return m
	}
	want := map[string]seen{
		"task ok":  {true, true, attrs("ok", "succeeded")},
		"task bad": {false, false, attrs("bad", "dead_lettered", "lifecycle.error_class", "permanent")},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("attempt spans (-want +got):\n%s", diff)
	}
}
