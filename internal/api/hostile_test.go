package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/lifecycle-worker/lifecycle/internal/erasure"
	"github.com/lifecycle-worker/lifecycle/internal/erasure/erasuretasks"
	"github.com/lifecycle-worker/lifecycle/internal/testutil"
	"github.com/lifecycle-worker/lifecycle/tasks"
)

// hostileBundle is an API on a real erasure service, and what it stores.
type hostileBundle struct {
	h     http.Handler
	store *erasure.Store
}

func setupHostile(t *testing.T, token string) hostileBundle {
	t.Helper()
	opt := testutil.AsynqRedis(t)
	rdb := testutil.Client(t, opt.Addr)
	client := tasks.NewClient(opt)
	t.Cleanup(func() { client.Close() })
	store := erasure.NewStore(rdb)
	h := New(Params{Gatherer: prometheus.NewRegistry(), Log: zerolog.Nop(), Token: token,
		Erasures: &erasure.Service{Store: store, Queue: erasuretasks.NewQueue(client, testutil.Inspector(t, opt))}})
	return hostileBundle{h: h, store: store}
}

// answer is what a client sees: status, content type and the body.
type answer struct {
	status int
	ctype  string
	body   string
}

func (b hostileBundle) do(r *http.Request) answer {
	rec := httptest.NewRecorder()
	b.h.ServeHTTP(rec, r)
	return answer{rec.Code, rec.Header().Get("Content-Type"), rec.Body.String()}
}

// post is a filing from this machine, as curl sends it.
func post(body string, header ...string) *http.Request {
	r := local(httptest.NewRequest("POST", "/v1/erasures", strings.NewReader(body)))
	r.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		if header[i] == "Host" {
			r.Host = header[i+1]
			continue
		}
		if header[i+1] == "" {
			r.Header.Del(header[i])
		} else {
			r.Header.Set(header[i], header[i+1])
		}
	}
	return r
}

func filingAt(id, at string) string {
	return fmt.Sprintf(`{"request_id":%q,"user_id":"u-1","filed_by":"dpo-1","filed_at":%q}`, id, at)
}

// TestFarFutureDateBreaksNoListing: a far-future filing date is refused, and
// a record stored with one before dates were bounded does not stop the
// listing for everyone (issue 13, finding 1).
func TestFarFutureDateBreaksNoListing(t *testing.T) {
	b := setupHostile(t, "")
	for _, at := range []string{"9999-12-15T00:00:00Z", "2100-01-01T00:00:00Z", "0001-01-01T00:00:01Z", "1970-01-01T00:00:00Z"} {
		a := b.do(post(filingAt("gdpr-far", at)))
		if a.status != 400 || !strings.Contains(a.body, `"field":"filed_at"`) {
			t.Errorf("filed_at %s: %d %s, want 400 naming filed_at", at, a.status, a.body)
		}
	}
	// As the service stored it before the fix.
	if _, err := b.store.Create(context.Background(), erasure.Request{ID: "gdpr-old", UserID: "u-2", FiledBy: "dpo-1",
		FiledAt: time.Date(9999, 12, 15, 0, 0, 0, 0, time.UTC)}); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/v1/erasures", "/v1/erasures/gdpr-old"} {
		a := b.do(local(httptest.NewRequest("GET", path, nil)))
		if a.status != 200 || !json.Valid([]byte(a.body)) || !strings.Contains(a.body, "gdpr-old") {
			t.Errorf("GET %s: %d %q, want the record as JSON", path, a.status, a.body)
		}
	}
}

// TestIDsCannotNameOurKeys: an id with ':' is refused at the edge, never read
// as one of our keys (issue 13, finding 2).
func TestIDsCannotNameOurKeys(t *testing.T) {
	b := setupHostile(t, "")
	for _, id := range []string{"X:steps", "X:plan", "..", "."} {
		a := b.do(post(filingAt(id, time.Now().UTC().Format(time.RFC3339))))
		if a.status != 400 || !strings.Contains(a.body, `"field":"request_id"`) {
			t.Errorf("filing %q: %d %s, want 400 naming request_id", id, a.status, a.body)
		}
	}
	for _, path := range []string{"/v1/erasures/X:plan", "/v1/erasures/X:steps", "/v1/erasures/a%0Ab"} {
		a := b.do(local(httptest.NewRequest("GET", path, nil)))
		if a.status != 400 || !strings.Contains(a.body, `"field":"id"`) {
			t.Errorf("GET %s: %d %s, want 400 naming the id", path, a.status, a.body)
		}
	}
}

// TestCrossSiteRequestsFileNothing: without a token, a web page in a browser
// on this machine, or a DNS-rebound name, cannot file an erasure; the body
// must be JSON and say so (issue 13, finding 4).
func TestCrossSiteRequestsFileNothing(t *testing.T) {
	b := setupHostile(t, "")
	ok := filingAt("gdpr-cs", time.Now().UTC().Format(time.RFC3339))
	tests := []struct {
		name   string
		r      *http.Request
		status int
	}{
		{"text/plain", post(ok, "Content-Type", "text/plain"), 415},
		{"form", post("request_id=gdpr-cs", "Content-Type", "application/x-www-form-urlencoded"), 415},
		{"no content type", post(ok, "Content-Type", ""), 415},
		{"json with another charset", post(ok, "Content-Type", "application/json; charset=latin1"), 415},
		{"cross-site origin", post(ok, "Origin", "https://evil.example"), 403},
		{"cross-site fetch", post(ok, "Sec-Fetch-Site", "cross-site"), 403},
		{"rebound host name", post(ok, "Host", "evil.example:8080"), 403},
		{"rebound host name, GET", func() *http.Request {
			r := local(httptest.NewRequest("GET", "/v1/erasures", nil))
			r.Host = "attacker.example"
			return r
		}(), 403},
	}
	for _, tt := range tests {
		a := b.do(tt.r)
		if a.status != tt.status || a.ctype != "application/json" || !json.Valid([]byte(a.body)) {
			t.Errorf("%s: %d %s %q, want %d with a JSON body", tt.name, a.status, a.ctype, a.body, tt.status)
		}
	}
	if recs, err := b.store.Open(context.Background()); err != nil || len(recs) != 0 {
		t.Errorf("open requests after refusals: %v %v, want none", recs, err)
	}
	// curl on this machine still files, by any loopback name.
	for _, host := range []string{"localhost:8080", "127.0.0.1:8080", "[::1]:8080", "localhost"} {
		if a := b.do(post(ok, "Host", host, "Content-Type", "application/json; charset=utf-8")); a.status/100 != 2 {
			t.Errorf("from this machine as %s: %d %s", host, a.status, a.body)
		}
	}
	// With a token, any host name (a load balancer's) will do.
	bt := setupHostile(t, strings.Repeat("k", 32))
	if a := bt.do(post(ok, "Host", "lifecycle.internal", "Authorization", "Bearer "+strings.Repeat("k", 32))); a.status/100 != 2 {
		t.Errorf("with the token, by name: %d %s", a.status, a.body)
	}
}

// TestStrictJSONAndBoundedErrors: lenient JSON is refused, an answer names
// at most a bounded number of problems, and every error is JSON (issue 13,
// finding 7).
func TestStrictJSONAndBoundedErrors(t *testing.T) {
	b := setupHostile(t, "")
	now := time.Now().UTC().Format(time.RFC3339)
	tests := []struct{ name, body, field string }{
		{"trailing garbage", filingAt("gdpr-s", now) + ` x`, "body"},
		{"two values", filingAt("gdpr-s", now) + filingAt("gdpr-t", now), "body"},
		{"duplicate key", `{"request_id":"gdpr-s","request_id":"gdpr-t","user_id":"u-1","filed_by":"dpo-1","filed_at":"` + now + `"}`, "request_id"},
		{"case-insensitive key", `{"REQUEST_ID":"gdpr-s","user_id":"u-1","filed_by":"dpo-1","filed_at":"` + now + `"}`, "REQUEST_ID"},
		{"unknown nested key", `{"request_id":"gdpr-s","user_id":"u-1","filed_by":"dpo-1","filed_at":"` + now + `","bigin":[{"module":"Contacts","record_id":"1","x":1}]}`, "bigin[0].x"},
		{"wrong type", `{"request_id":7,"user_id":"u-1","filed_by":"dpo-1","filed_at":"` + now + `"}`, "request_id"},
		{"bad date", filingAt("gdpr-s", "yesterday"), "filed_at"},
		{"not an object", `["gdpr-s"]`, "body"},
		{"slice, even null", `{"request_id":"gdpr-s","user_id":"u-1","filed_by":"dpo-1","filed_at":"` + now + `","slice":null}`, "slice"},
	}
	for _, tt := range tests {
		a := b.do(post(tt.body))
		if a.status != 400 || !strings.Contains(a.body, `"field":"`+tt.field+`"`) {
			t.Errorf("%s: %d %s, want 400 naming %s", tt.name, a.status, a.body, tt.field)
		}
	}

	var many strings.Builder
	many.WriteString(`{"request_id":"gdpr-m","user_id":"u-1","filed_by":"dpo-1","filed_at":"` + now + `","bigin":[`)
	for i := range 2000 {
		if i > 0 {
			many.WriteString(",")
		}
		many.WriteString(`{"module":"X","record_id":"y"}`)
	}
	many.WriteString("]}")
	a := b.do(post(many.String()))
	var got struct {
		Fields []fieldProblem `json:"fields"`
		More   int            `json:"more_fields"`
	}
	if err := json.Unmarshal([]byte(a.body), &got); a.status != 400 || err != nil {
		t.Fatalf("2,000 bad records: %d %v", a.status, err)
	}
	if len(a.body) > 8<<10 || len(got.Fields) != maxProblems || got.More == 0 {
		t.Errorf("2,000 bad records: %d bytes, %d fields and %d more; want under 8 kB, %d fields and a count of the rest", len(a.body), len(got.Fields), got.More, maxProblems)
	}

	for _, r := range []*http.Request{
		local(httptest.NewRequest("DELETE", "/v1/erasures", nil)),
		local(httptest.NewRequest("POST", "/v1/erasures/gdpr-1", nil)),
		local(httptest.NewRequest("GET", "/v1/nothing", nil)),
		httptest.NewRequest("PUT", "/healthz", nil),
		post(strings.Repeat(" ", 70<<10) + "{}"),
	} {
		a := b.do(r)
		if a.status < 400 || a.ctype != "application/json" || !json.Valid([]byte(a.body)) {
			t.Errorf("%s %s: %d %s %q, want an error as JSON", r.Method, r.URL, a.status, a.ctype, a.body)
		}
	}
}
