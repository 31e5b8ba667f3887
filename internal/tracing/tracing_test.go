package tracing

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestSetup: tracing is off without an OTLP endpoint (spans are no-ops and
// nothing runs), on with one; either way the trace context travels through
// headers, and shutdown stops the exporter.
func TestSetup(t *testing.T) {
	prev := otel.GetTracerProvider()
	defer otel.SetTracerProvider(prev)
	var exports atomic.Int32
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/traces" {
			exports.Add(1)
		}
	}))
	defer collector.Close()
	tests := []struct {
		name string
		env  map[string]string
		on   bool
	}{
		{"no endpoint", nil, false},
		{"endpoint", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": collector.URL}, true},
		{"traces endpoint", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": collector.URL + "/v1/traces"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			otel.SetTracerProvider(prev)
			for k, v := range tt.env {
				t.Setenv(k, v) // the exporter reads the standard variables itself
			}
			before := exports.Load()
			shutdown, err := Setup(t.Context(), "test", func(k string) string { return tt.env[k] })
			if err != nil {
				t.Fatal(err)
			}
			_, on := otel.GetTracerProvider().(*sdktrace.TracerProvider)
			if on != tt.on {
				t.Errorf("SDK tracer provider installed: %v, want %v", on, tt.on)
			}
			ctx, span := Tracer().Start(t.Context(), "producer")
			h := map[string]string{}
			Inject(ctx, h)
			got := trace.SpanContextFromContext(Extract(context.Background(), h))
			if tt.on && (got.TraceID() != span.SpanContext().TraceID() || !got.IsRemote()) {
				t.Errorf("extracted %v from %v, want the producer's trace", got, h)
			}
			if !tt.on && (len(h) != 0 || span.SpanContext().IsValid()) {
				t.Errorf("tracing off, yet a span context %v went into headers %v", span.SpanContext(), h)
			}
			span.End()
			if err := shutdown(t.Context()); err != nil {
				t.Fatal(err)
			}
			if sent := exports.Load() > before; sent != tt.on {
				t.Errorf("spans exported at shutdown: %v, want %v", sent, tt.on)
			}
		})
	}
}
