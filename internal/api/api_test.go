package api

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

func TestProbesAndMetrics(t *testing.T) {
	down := errors.New("dial tcp: connection refused")
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "lifecycle_probe_test_total", Help: "x"})
	reg.MustRegister(c)
	c.Inc()
	tests := []struct {
		path     string
		redis    error
		status   int
		contains string
	}{
		{"/healthz", down, 200, `"ok"`}, // alive even when Redis is not
		{"/readyz", nil, 200, `"ready"`},
		{"/readyz", down, 503, `"unreachable"`},
		{"/metrics", nil, 200, "lifecycle_probe_test_total 1"},
	}
	for _, tt := range tests {
		h := New(Params{Redis: PingFunc(func(context.Context) error { return tt.redis }), Gatherer: reg, Log: zerolog.Nop()})
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", tt.path, nil))
		body, _ := io.ReadAll(rec.Body)
		if rec.Code != tt.status || !strings.Contains(string(body), tt.contains) {
			t.Errorf("GET %s (redis err %v) = %d %q, want %d containing %q", tt.path, tt.redis, rec.Code, body, tt.status, tt.contains)
		}
	}
	rec := httptest.NewRecorder()
	New(Params{Gatherer: reg}).ServeHTTP(rec, httptest.NewRequest("POST", "/healthz", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST /healthz = %d, want 405", rec.Code)
	}
}
