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

	"github.com/lifecycle-worker/lifecycle/internal/storage"
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

// /readyz tells an operator how the bucket takes deletes, ready or not: on
// a versioned bucket each version is removed, with object lock some
// deletes end retained. A process without a bucket says nothing of one.
func TestReadyzNamesBucket(t *testing.T) {
	bucket := &storage.BucketConfig{Bucket: "assets", Versioning: "Enabled", ObjectLock: true, LockMode: "GOVERNANCE", LockPeriod: "30DAYS"}
	tests := []struct {
		redis  error
		bucket *storage.BucketConfig
		status int
		want   string
	}{
		{nil, bucket, 200, `{"status":"ready","redis":"ok","storage":{"bucket":"assets","versioning":"Enabled","object_lock":true,"lock_mode":"GOVERNANCE","lock_period":"30DAYS"}}`},
		{errors.New("down"), bucket, 503, `{"status":"unavailable","redis":"unreachable","storage":{"bucket":"assets","versioning":"Enabled","object_lock":true,"lock_mode":"GOVERNANCE","lock_period":"30DAYS"}}`},
		{nil, &storage.BucketConfig{Bucket: "plain", Versioning: "Off"}, 200, `{"status":"ready","redis":"ok","storage":{"bucket":"plain","versioning":"Off","object_lock":false}}`},
		{nil, nil, 200, `{"status":"ready","redis":"ok"}`},
	}
	for _, tt := range tests {
		h := New(Params{Redis: PingFunc(func(context.Context) error { return tt.redis }), Gatherer: prometheus.NewRegistry(), Log: zerolog.Nop(), Bucket: tt.bucket})
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
		if got := strings.TrimSpace(rec.Body.String()); rec.Code != tt.status || got != tt.want {
			t.Errorf("GET /readyz = %d %s, want %d %s", rec.Code, got, tt.status, tt.want)
		}
	}
}
