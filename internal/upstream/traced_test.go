package upstream

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// TestClientSpansHideTheURL: a request made in a trace gets a client span in
// it and carries traceparent upstream; the upstream sees the URL as made,
// and the span has neither its query (Artifi's key) nor its path (a BPM
// user name).
func TestClientSpansHideTheURL(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	defer tp.Shutdown(t.Context())
	prevTP, prevProp := otel.GetTracerProvider(), otel.GetTextMapPropagator()
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.TraceContext{})
	defer func() { otel.SetTracerProvider(prevTP); otel.SetTextMapPropagator(prevProp) }()

	var gotURL, gotParent string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotURL, gotParent = r.URL.String(), r.Header.Get("traceparent")
	}))
	defer srv.Close()

	ctx, parent := tp.Tracer("test").Start(t.Context(), "task")
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/rest/user/alice?webApiClientKey=s3cret", nil)
	resp, err := NewHTTPClient(5*time.Second, 1).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	parent.End()
	srv.Client().CloseIdleConnections()

	if gotURL != "/rest/user/alice?webApiClientKey=s3cret" {
		t.Errorf("upstream got %q, want the URL as made", gotURL)
	}
	if !strings.Contains(gotParent, parent.SpanContext().TraceID().String()) {
		t.Errorf("traceparent %q is not in the caller's trace %s", gotParent, parent.SpanContext().TraceID())
	}
	var client []tracetest.SpanStub
	for _, s := range exp.GetSpans() {
		if s.Name != "task" {
			client = append(client, s)
		}
	}
	if len(client) != 1 || client[0].Name != "HTTP GET" || client[0].Parent.SpanID() != parent.SpanContext().SpanID() {
		t.Fatalf("client spans %v, want one HTTP GET under the caller's span", client)
	}
	for _, a := range client[0].Attributes {
		if v := a.Value.String(); strings.Contains(v, "alice") || strings.Contains(v, "s3cret") {
			t.Errorf("span attribute %s=%q shows the URL's path or query", a.Key, v)
		}
	}
}
