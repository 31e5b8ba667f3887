package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/lifecycle-worker/lifecycle/internal/erasure"
	"github.com/lifecycle-worker/lifecycle/internal/erasure/erasuretasks"
	"github.com/lifecycle-worker/lifecycle/internal/testutil"
	"github.com/lifecycle-worker/lifecycle/tasks"
)

func TestErasureRoutes(t *testing.T) {
	opt := testutil.AsynqRedis(t)
	rdb := testutil.Client(t, opt.Addr)
	client := tasks.NewClient(opt)
	defer client.Close()
	inspector := testutil.Inspector(t, opt)
	h := New(Params{Gatherer: prometheus.NewRegistry(), Log: zerolog.Nop(),
		Erasures: &erasure.Service{Store: erasure.NewStore(rdb), Queue: erasuretasks.NewQueue(client, inspector)}})

	const filing = `{"request_id":"gdpr-9","user_id":"u-9","bpm_user":"jane.doe","filed_by":"dpo-1","filed_at":"2026-11-20T09:00:00Z"}`
	tests := []struct {
		name, method, path, body string
		status                   int
		want                     map[string]any // members of the answer to compare
	}{
		{"file", "POST", "/v1/erasures", filing, 202,
			map[string]any{"status_url": "/v1/erasures/gdpr-9", "duplicate": false, "due_at": "2026-12-20T09:00:00Z", "status": "queued"}},
		{"filed twice", "POST", "/v1/erasures", filing, 200, map[string]any{"duplicate": true}},
		{"same user, new request", "POST", "/v1/erasures",
			`{"request_id":"gdpr-10","user_id":"u-9","filed_by":"dpo-1","filed_at":"2026-11-21T09:00:00Z"}`, 202,
			map[string]any{"joined_to": "gdpr-9"}},
		{"fields named", "POST", "/v1/erasures", `{"request_id":"r 1","filed_at":"2026-11-20T09:00:00Z"}`, 400,
			map[string]any{"fields": []any{
				map[string]any{"field": "request_id", "problem": `invalid character ' ' at byte 1 (allowed: A-Z a-z 0-9 . _ @ -)`},
				map[string]any{"field": "user_id", "problem": "required"},
				map[string]any{"field": "filed_by", "problem": "required"},
			}}},
		{"unknown member", "POST", "/v1/erasures", `{"request_id":"r","bpm_usr":"x"}`, 400, nil},
		{"status", "GET", "/v1/erasures/gdpr-9", "", 200, nil},
		{"no such request", "GET", "/v1/erasures/nope", "", 404, nil},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, local(httptest.NewRequest(tt.method, tt.path, strings.NewReader(tt.body))))
		if rec.Code != tt.status {
			t.Errorf("%s: status %d, want %d: %s", tt.name, rec.Code, tt.status, rec.Body)
			continue
		}
		var got map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		for k, want := range tt.want {
			if diff := cmp.Diff(want, got[k]); diff != "" {
				t.Errorf("%s: %s (-want +got):\n%s", tt.name, k, diff)
			}
		}
		if strings.Contains(rec.Body.String(), "jane.doe") {
			t.Errorf("%s: the answer shows the BPM user name", tt.name)
		}
	}

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, local(httptest.NewRequest("GET", "/v1/erasures", nil)))
	var list struct{ Erasures []erasure.Record }
	if err := json.Unmarshal(rec.Body.Bytes(), &list); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range list.Erasures {
		ids = append(ids, r.Request.ID)
	}
	if diff := cmp.Diff([]string{"gdpr-9", "gdpr-10"}, ids); diff != "" {
		t.Errorf("open requests, soonest due first (-want +got):\n%s", diff)
	}

	rec = httptest.NewRecorder()
	New(Params{Gatherer: prometheus.NewRegistry()}).ServeHTTP(rec, httptest.NewRequest("GET", "/v1/erasures", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("without an ErasureService: %d, want 404", rec.Code)
	}
}

// local makes r come from this machine (httptest's default is 192.0.2.1),
// addressed by a loopback name, with a JSON body, as curl sends it.
func local(r *http.Request) *http.Request {
	r.RemoteAddr = "127.0.0.1:50000"
	r.Host = "localhost:8080"
	if r.Method == "POST" {
		r.Header.Set("Content-Type", "application/json")
	}
	return r
}

// TestV1NeedsTokenOrLoopback: filing an erasure deletes a person's data, so
// /v1 is closed to the network unless a token is configured and sent.
func TestV1NeedsTokenOrLoopback(t *testing.T) {
	svc := fakeOpen{}
	tests := []struct {
		name   string
		token  string
		remote string
		auth   string
		status int
	}{
		{"no token, this machine", "", "127.0.0.1:5", "", 200},
		{"no token, the network", "", "10.1.2.3:5", "", 403},
		{"token, none sent", "s3cret-token", "10.1.2.3:5", "", 401},
		{"token, wrong one", "s3cret-token", "127.0.0.1:5", "Bearer guess", 401},
		{"token, right one", "s3cret-token", "10.1.2.3:5", "Bearer s3cret-token", 200},
	}
	for _, tt := range tests {
		h := New(Params{Gatherer: prometheus.NewRegistry(), Erasures: svc, Token: tt.token})
		req := httptest.NewRequest("GET", "/v1/erasures", nil)
		req.RemoteAddr = tt.remote
		req.Host = "localhost:8080"
		if tt.auth != "" {
			req.Header.Set("Authorization", tt.auth)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tt.status {
			t.Errorf("%s: %d, want %d (%s)", tt.name, rec.Code, tt.status, rec.Body)
		}
		if strings.Contains(rec.Body.String(), "s3cret") {
			t.Errorf("%s: the answer shows the token", tt.name)
		}
	}
	// Health and metrics stay open to probes and scrapers.
	rec := httptest.NewRecorder()
	New(Params{Gatherer: prometheus.NewRegistry(), Erasures: svc, Token: "t"}).ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
	if rec.Code != 200 {
		t.Errorf("/healthz behind the token: %d", rec.Code)
	}
}

// fakeOpen serves an empty list of requests.
type fakeOpen struct{ ErasureService }

func (fakeOpen) List(context.Context, erasure.ListFilter) ([]erasure.Record, error) { return nil, nil }
