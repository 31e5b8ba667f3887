package integration

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lifecycle-worker/lifecycle/integration/harness"
	"github.com/lifecycle-worker/lifecycle/internal/apitoken"
	"github.com/lifecycle-worker/lifecycle/internal/audit"
	"github.com/lifecycle-worker/lifecycle/internal/webhook"
)

// TestFourEyesAndWebhook runs acceptance points 4 and 5 against a real
// `lifecycle dev` (embedded Redis, simulators, worker, API): with approval
// required, the filer's own approval is refused and another token's lets
// the erasure run to done; `lifecycle audit list` shows both; the webhook
// receiver, down for its first two attempts, gets erasure.done once,
// validly signed.
func TestFourEyesAndWebhook(t *testing.T) {
	t.Parallel()
	const secret = "integration-webhook-secret-0123"
	var mu sync.Mutex
	attempts, accepted := 0, []string{}
	var refused []string
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		attempts++
		switch attempts {
		case 1:
			w.WriteHeader(http.StatusBadGateway)
			return
		case 2:
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close()
			return
		}
		body, _ := io.ReadAll(r.Body)
		if err := webhook.Verify([]byte(secret), r.Header.Get(webhook.SignatureHeader), body, time.Now()); err != nil {
			refused = append(refused, err.Error())
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var b webhook.Body
		_ = json.Unmarshal(body, &b)
		accepted = append(accepted, b.Event+" "+b.RequestID)
	}))
	defer receiver.Close()

	all := []apitoken.Scope{apitoken.ScopeErasureFile, apitoken.ScopeErasureApprove, apitoken.ScopeErasureRead}
	tokensFile, secrets := harness.TokensFile(t, map[string][]apitoken.Scope{"privacy-alice": all, "privacy-bob": all})
	dev, base := harness.StartDev(t, "LIFECYCLE_ERASURE_APPROVAL=required", "LIFECYCLE_API_TOKENS_FILE="+tokensFile,
		"LIFECYCLE_WEBHOOK_URL="+receiver.URL, "LIFECYCLE_WEBHOOK_SECRET="+secret)

	call := func(who, method, path, body string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+secrets["privacy-"+who])
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var got map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&got)
		return resp.StatusCode, got
	}
	filedAt := time.Now().UTC().Format(time.RFC3339)
	if code, got := call("alice", "POST", "/v1/erasures", `{"request_id":"gdpr-4e-1","user_id":"2001","filed_by":"dpo-1","filed_at":"`+filedAt+`"}`); code != 202 || got["status"] != "awaiting_approval" {
		t.Fatalf("file: %d %v", code, got)
	}
	if code, got := call("alice", "POST", "/v1/erasures/gdpr-4e-1/approve", `{"reason":"mine"}`); code != 403 {
		t.Fatalf("approved by its filer: %d %v, want 403", code, got)
	}
	time.Sleep(500 * time.Millisecond) // a worker that ran it anyway would have started
	if _, got := call("bob", "GET", "/v1/erasures/gdpr-4e-1", ""); got["state"].(map[string]any)["status"] != "awaiting_approval" {
		t.Fatalf("after the filer's refused approval: %v", got["state"])
	}
	if code, got := call("bob", "POST", "/v1/erasures/gdpr-4e-1/approve", `{"reason":"identity checked"}`); code != 200 {
		t.Fatalf("approved by another: %d %v", code, got)
	}
	start := time.Now()
	for {
		_, got := call("bob", "GET", "/v1/erasures/gdpr-4e-1", "")
		if got["state"].(map[string]any)["status"] == "done" {
			break
		}
		if time.Since(start) > 60*time.Second {
			t.Fatalf("not done 60 s after approval: %v", got)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("done %v after approval", time.Since(start).Round(time.Millisecond))

	// The audit trail, through the CLI, on dev's Redis.
	trail := auditTrail(t, devRedisURL(t, dev))
	if diff := cmp.Diff([]string{"privacy-alice erasure.file gdpr-4e-1", "privacy-bob erasure.approve gdpr-4e-1"}, trail); diff != "" {
		t.Errorf("lifecycle audit list (-want +got):\n%s", diff)
	}

	// The webhook: down twice, then delivered once.
	start = time.Now()
	for {
		mu.Lock()
		n := len(accepted)
		mu.Unlock()
		if n > 0 {
			break
		}
		if time.Since(start) > 60*time.Second {
			t.Fatalf("no notification accepted within 60 s (%d attempts)", attempts)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("notification delivered %v after done", time.Since(start).Round(time.Millisecond))
	time.Sleep(2 * time.Second) // a repeat would arrive meanwhile
	mu.Lock()
	defer mu.Unlock()
	if diff := cmp.Diff([]string{"erasure.done gdpr-4e-1"}, accepted); diff != "" || attempts != 3 || len(refused) > 0 {
		t.Errorf("webhook: %d attempts, refused %v, accepted (-want +got):\n%s", attempts, refused, diff)
	}
}

// auditTrail is the audit trail on the Redis at redisURL, as `lifecycle
// audit list` prints it: "who action subject" per entry.
func auditTrail(t *testing.T, redisURL string) []string {
	t.Helper()
	cli := exec.Command(harness.Binary(t), "audit", "list", "--json")
	cli.Env = append(os.Environ(), "LIFECYCLE_REDIS_URL="+redisURL)
	out, err := cli.Output()
	if err != nil {
		t.Fatalf("lifecycle audit list: %v\n%s", err, out)
	}
	var entries []audit.Entry
	if err := json.Unmarshal(out, &entries); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	var trail []string
	for _, e := range entries {
		trail = append(trail, e.Who+" "+e.Action+" "+e.Subject)
	}
	return trail
}

// devRedisURL reads dev's Redis URL from the dev.env it writes.
func devRedisURL(t *testing.T, dev *harness.Process) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dev.Dir(), ".lifecycle", "dev.env"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`export LIFECYCLE_REDIS_URL='?([^'\n]+)`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("no LIFECYCLE_REDIS_URL in dev.env:\n%s", b)
	}
	return string(m[1])
}
