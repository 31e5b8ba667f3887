package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/lifecycle-worker/lifecycle/internal/apitoken"
	"github.com/lifecycle-worker/lifecycle/internal/audit"
	"github.com/lifecycle-worker/lifecycle/internal/erasure"
	"github.com/lifecycle-worker/lifecycle/internal/erasure/erasuretasks"
	"github.com/lifecycle-worker/lifecycle/internal/testutil"
	"github.com/lifecycle-worker/lifecycle/tasks"
)

type approvalBundle struct {
	h        http.Handler
	secrets  map[string]string // token name -> secret
	in       *asynq.Inspector
	recorder *audit.Recorder
	svc      *erasure.Service
	tokens   *apitoken.Set
}

func setupApproval(t *testing.T) approvalBundle {
	t.Helper()
	opt := testutil.AsynqRedis(t)
	rdb := testutil.Client(t, opt.Addr)
	client := tasks.NewClient(opt)
	t.Cleanup(func() { _ = client.Close() })
	in := testutil.Inspector(t, opt)
	set, secrets := issueTokens(t, map[string][]apitoken.Scope{
		"alice":   {apitoken.ScopeErasureFile, apitoken.ScopeErasureApprove, apitoken.ScopeErasureRead},
		"bob":     {apitoken.ScopeErasureApprove, apitoken.ScopeErasureRead},
		"reader":  {apitoken.ScopeErasureRead},
		"auditor": {apitoken.ScopeAdmin},
	})
	b := approvalBundle{secrets: secrets, in: in, recorder: &audit.Recorder{Redis: rdb}, tokens: set}
	b.svc = &erasure.Service{Store: erasure.NewStore(rdb), Queue: erasuretasks.NewQueue(client, in), Approval: true, Audit: true}
	b.h = New(Params{Gatherer: prometheus.NewRegistry(), Log: zerolog.Nop(), Erasures: b.svc, Tokens: set, Audit: b.recorder})
	return b
}

func (b approvalBundle) do(t *testing.T, who, method, path, body string) (int, map[string]any) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.RemoteAddr = "10.0.0.1:5"
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if who != "" {
		req.Header.Set("Authorization", "Bearer "+b.secrets[who])
	}
	rec := httptest.NewRecorder()
	b.h.ServeHTTP(rec, req)
	var got map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &got)
	return rec.Code, got
}

// TestApprovalFourEyes is acceptance point 4: with approval required, a
// request filed and approved by the same token is refused and does not
// run; approved by another it is enqueued; the audit trail shows both.
func TestApprovalFourEyes(t *testing.T) {
	b := setupApproval(t)
	const filing = `{"request_id":"gdpr-1","user_id":"u-1","filed_by":"dpo-1","filed_at":"2026-11-20T09:00:00Z"}`
	taskID := (tasks.UserErasePayload{RequestID: "gdpr-1", UserID: "u-1", FiledBy: "dpo-1", FiledAt: time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)}).TaskID()

	steps := []struct {
		name, who, method, path, body string
		status                        int
		wantStatus                    string // the request's status in the answer, if any
	}{
		{"filed", "alice", "POST", "/v1/erasures", filing, 202, "awaiting_approval"},
		{"listed with its deadline", "reader", "GET", "/v1/erasures/gdpr-1", "", 200, "awaiting_approval"},
		{"filer approves: refused", "alice", "POST", "/v1/erasures/gdpr-1/approve", `{"reason":"looks fine"}`, 403, ""},
		{"reader approves: wrong scope", "reader", "POST", "/v1/erasures/gdpr-1/approve", `{}`, 403, ""},
		{"no token", "", "POST", "/v1/erasures/gdpr-1/approve", `{}`, 401, ""},
		{"another approves", "bob", "POST", "/v1/erasures/gdpr-1/approve", `{"reason":"identity checked"}`, 200, "queued"},
		{"approved twice", "bob", "POST", "/v1/erasures/gdpr-1/approve", `{}`, 409, ""},
	}
	for _, s := range steps {
		if s.name == "another approves" {
			if _, err := b.in.GetTaskInfo(tasks.QueueErase, taskID); err == nil {
				t.Fatalf("the erasure was enqueued before a second identity approved it")
			}
		}
		code, got := b.do(t, s.who, s.method, s.path, s.body)
		if code != s.status {
			t.Fatalf("%s: %d, want %d: %v", s.name, code, s.status, got)
		}
		if s.wantStatus != "" {
			st, _ := got["status"].(string)
			if state, ok := got["state"].(map[string]any); ok {
				st, _ = state["status"].(string)
			}
			if st != s.wantStatus {
				t.Errorf("%s: status %q, want %q", s.name, st, s.wantStatus)
			}
		}
		if s.name == "listed with its deadline" && got["due_at"] != "2026-12-20T09:00:00Z" {
			t.Errorf("awaiting request shows due_at %v, want the deadline running from filing", got["due_at"])
		}
	}
	if _, err := b.in.GetTaskInfo(tasks.QueueErase, taskID); err != nil {
		t.Fatalf("approved by another identity, the erasure is not enqueued: %v", err)
	}

	code, got := b.do(t, "auditor", "GET", "/v1/audit", "")
	if code != 200 {
		t.Fatalf("GET /v1/audit: %d %v", code, got)
	}
	var trail []string
	for _, e := range got["entries"].([]any) {
		m := e.(map[string]any)
		why, _ := m["why"].(string)
		trail = append(trail, m["who"].(string)+" "+m["action"].(string)+" "+m["subject"].(string)+" "+why)
	}
	want := []string{"alice erasure.file gdpr-1 ", "bob erasure.approve gdpr-1 identity checked"}
	if diff := cmp.Diff(want, trail); diff != "" {
		t.Errorf("audit trail (-want +got):\n%s", diff)
	}
	if code, _ := b.do(t, "alice", "GET", "/v1/audit", ""); code != 403 {
		t.Errorf("GET /v1/audit without admin: %d, want 403", code)
	}
}

func TestDenyNeedsReasonAndLeavesHistory(t *testing.T) {
	b := setupApproval(t)
	if code, got := b.do(t, "alice", "POST", "/v1/erasures", `{"request_id":"gdpr-2","user_id":"u-2","filed_by":"dpo-1","filed_at":"2026-11-20T09:00:00Z"}`); code != 202 {
		t.Fatalf("file: %d %v", code, got)
	}
	if code, got := b.do(t, "bob", "POST", "/v1/erasures/gdpr-2/deny", `{"reason":"  "}`); code != 400 {
		t.Fatalf("deny without a reason: %d %v, want 400", code, got)
	}
	if code, got := b.do(t, "bob", "POST", "/v1/erasures/gdpr-2/deny", `{"reason":"not our customer"}`); code != 200 {
		t.Fatalf("deny: %d %v", code, got)
	}
	tests := []struct {
		query string
		want  []string
	}{
		{"", nil},
		{"?state=denied", []string{"gdpr-2"}},
		{"?state=all", []string{"gdpr-2"}},
		{"?state=all&since=2026-11-21T00:00:00Z", nil},
		{"?state=done", nil},
	}
	for _, tt := range tests {
		code, got := b.do(t, "reader", "GET", "/v1/erasures"+tt.query, "")
		if code != 200 {
			t.Fatalf("%s: %d %v", tt.query, code, got)
		}
		var ids []string
		for _, r := range got["erasures"].([]any) {
			ids = append(ids, r.(map[string]any)["request"].(map[string]any)["request_id"].(string))
		}
		if diff := cmp.Diff(tt.want, ids); diff != "" {
			t.Errorf("GET /v1/erasures%s (-want +got):\n%s", tt.query, diff)
		}
	}
	if code, _ := b.do(t, "reader", "GET", "/v1/erasures?state=bogus", ""); code != 400 {
		t.Errorf("unknown state: %d, want 400", code)
	}
}

func TestExtensionAndReceiptOverHTTP(t *testing.T) {
	b := setupApproval(t)
	b.svc.Approval = false
	receipts := map[string][]byte{"gdpr-3": []byte(`{"request_id":"gdpr-3","signature":"x"}`)}
	b.h = New(Params{Gatherer: prometheus.NewRegistry(), Log: zerolog.Nop(), Erasures: b.svc, Tokens: b.tokens, Audit: b.recorder,
		Receipts: func(_ context.Context, id string) ([]byte, error) {
			if doc, ok := receipts[id]; ok {
				return doc, nil
			}
			return nil, ErrNoReceipt
		}})
	if code, got := b.do(t, "alice", "POST", "/v1/erasures", `{"request_id":"gdpr-4","user_id":"u-4","filed_by":"dpo-1","filed_at":"2026-11-20T09:00:00Z"}`); code != 202 {
		t.Fatalf("file: %d %v", code, got)
	}
	steps := []struct {
		who, method, path, body string
		status                  int
		dueAt                   string
	}{
		{"bob", "POST", "/v1/erasures/gdpr-4/extension", `{}`, 400, ""},
		{"bob", "POST", "/v1/erasures/gdpr-4/extension", `{"reason":"records on paper"}`, 200, "2027-02-20T09:00:00Z"},
		{"bob", "POST", "/v1/erasures/gdpr-4/extension", `{"reason":"again"}`, 409, ""},
		{"bob", "POST", "/v1/erasures/nope/extension", `{"reason":"x"}`, 404, ""},
		{"reader", "GET", "/v1/erasures/gdpr-3/receipt", "", 200, ""},
		{"reader", "GET", "/v1/erasures/gdpr-4/receipt", "", 404, ""},
	}
	for _, s := range steps {
		code, got := b.do(t, s.who, s.method, s.path, s.body)
		if code != s.status {
			t.Errorf("%s %s %s: %d %v, want %d", s.method, s.path, s.body, code, got, s.status)
		}
		if s.dueAt != "" && got["due_at"] != s.dueAt {
			t.Errorf("%s: due_at %v, want %s", s.path, got["due_at"], s.dueAt)
		}
		if strings.HasSuffix(s.path, "gdpr-3/receipt") && got["request_id"] != "gdpr-3" {
			t.Errorf("receipt: %v", got)
		}
	}
	entries, _ := b.recorder.List(context.Background(), audit.Filter{Subject: "gdpr-4"})
	if len(entries) != 2 || entries[1].Action != audit.ErasureExtend || entries[1].Who != "bob" || entries[1].Why != "records on paper" {
		t.Errorf("audit of gdpr-4: %+v", entries)
	}
}
