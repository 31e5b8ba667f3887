// Package tracing is lifecycle's OpenTelemetry setup: W3C trace context
// carried in asynq task headers and HTTP headers, and spans exported with
// OTLP over HTTP when OTEL_EXPORTER_OTLP_ENDPOINT (or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set; off otherwise, at the cost of
// a no-op span per operation.
//
// Spans carry opaque ids, types and outcomes only: never payloads, storage
// keys or upstream answers, which may name a person.
package tracing

import (
	"context"
	"errors"
	"fmt"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// Name is the instrumentation scope of every span lifecycle starts.
const Name = "github.com/lifecycle-worker/lifecycle"

var propagator = propagation.TraceContext{}

// Enabled reports whether getenv configures an OTLP endpoint.
func Enabled(getenv func(string) string) bool {
	return getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}

// Setup installs the W3C trace-context propagator and, when Enabled, a
// tracer provider that exports to the OTLP/HTTP endpoint the standard
// OTEL_EXPORTER_OTLP_* variables name, as service (OTEL_SERVICE_NAME
// overrides it). shutdown flushes what is buffered; call it before exiting.
func Setup(ctx context.Context, service string, getenv func(string) string) (shutdown func(context.Context) error, err error) {
	otel.SetTextMapPropagator(propagator)
	if !Enabled(getenv) {
		return func(context.Context) error { return nil }, nil
	}
	exp, err := otlptracehttp.New(ctx)
	if err != nil {
		return nil, fmt.Errorf("OTEL_EXPORTER_OTLP_ENDPOINT: %w", err)
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(semconv.ServiceName(service)))
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		res = resource.Default()
	}
	if v := getenv("OTEL_SERVICE_NAME"); v != "" {
		res, _ = resource.Merge(res, resource.NewSchemaless(semconv.ServiceName(v)))
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	otel.SetTracerProvider(tp)
	return tp.Shutdown, nil
}

// Tracer is the tracer of lifecycle's own spans.
func Tracer() trace.Tracer { return otel.Tracer(Name) }

// Inject writes ctx's trace context into headers (task or HTTP headers as a
// map): the tasks.HeaderFunc of our producers.
func Inject(ctx context.Context, headers map[string]string) {
	propagator.Inject(ctx, propagation.MapCarrier(headers))
}

// Extract returns ctx with the remote trace context headers carry, if any.
func Extract(ctx context.Context, headers map[string]string) context.Context {
	if len(headers) == 0 {
		return ctx
	}
	return propagator.Extract(ctx, propagation.MapCarrier(headers))
}
