package api

import (
	"context"
	"crypto/sha256"
	"io"
	"iter"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/lifecycle-worker/lifecycle/internal/apitoken"
	"github.com/lifecycle-worker/lifecycle/internal/audit"
	"github.com/lifecycle-worker/lifecycle/internal/erasure"
	"github.com/lifecycle-worker/lifecycle/internal/erasure/erasuretasks"
	"github.com/lifecycle-worker/lifecycle/internal/sweep"
	"github.com/lifecycle-worker/lifecycle/internal/testutil"
	"github.com/lifecycle-worker/lifecycle/tasks"
)

type consoleBundle struct {
	srv      *httptest.Server
	secrets  map[string]string
	rdb      *redis.Client
	in       *asynq.Inspector
	client   *asynq.Client
	recorder *audit.Recorder
	log      *testutil.Buffer
}

func setupConsole(t *testing.T, approval bool) consoleBundle {
	t.Helper()
	return setupConsoleWith(t, approval, func(*Console) {})
}

func setupConsoleWith(t *testing.T, approval bool, more func(*Console)) consoleBundle {
	t.Helper()
	opt := testutil.AsynqRedis(t)
	rdb := testutil.Client(t, opt.Addr)
	client := asynq.NewClient(opt)
	t.Cleanup(func() { _ = client.Close() })
	in := testutil.Inspector(t, opt)
	set, secrets := issueTokens(t, map[string][]apitoken.Scope{
		"alice":  {apitoken.ScopeErasureFile, apitoken.ScopeErasureApprove, apitoken.ScopeErasureRead},
		"bob":    {apitoken.ScopeErasureApprove, apitoken.ScopeErasureRead},
		"reader": {apitoken.ScopeErasureRead},
		"ops":    {apitoken.ScopeAdmin},
	})
	b := consoleBundle{secrets: secrets, rdb: rdb, in: in, client: client, recorder: &audit.Recorder{Redis: rdb}, log: &testutil.Buffer{}}
	tc := tasks.NewClient(opt)
	t.Cleanup(func() { _ = tc.Close() })
	svc := &erasure.Service{Store: erasure.NewStore(rdb), Queue: erasuretasks.NewQueue(tc, in), Approval: approval, Audit: true}
	monitor := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "asynq monitor") })
	c := &Console{Sessions: rdb, Queues: in, Monitor: monitor}
	more(c)
	h := New(Params{Gatherer: prometheus.NewRegistry(), Log: zerolog.New(b.log), Erasures: svc, Tokens: set, Audit: b.recorder, Console: c})
	b.srv = httptest.NewServer(h)
	t.Cleanup(b.srv.Close)
	return b
}

// browser is a client with its own cookies that does not follow redirects,
// so that a test sees where it is sent.
type browser struct {
	t    *testing.T
	b    consoleBundle
	c    *http.Client
	csrf string
}

func (b consoleBundle) browser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, b: b, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (br *browser) do(method, path string, form url.Values) (int, string, http.Header) {
	br.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, br.b.srv.URL+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	res, err := br.c.Do(req)
	if err != nil {
		br.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if m := csrfRE.FindSubmatch(b); m != nil {
		br.csrf = string(m[1])
	}
	return res.StatusCode, string(b), res.Header
}

// post sends a form with the session's CSRF token.
func (br *browser) post(path string, form url.Values) (int, string, http.Header) {
	br.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	form.Set("csrf", br.csrf)
	return br.do("POST", path, form)
}

func (br *browser) signIn(who string) {
	br.t.Helper()
	code, _, hdr := br.do("POST", "/console/signin", url.Values{"token": {br.b.secrets[who]}})
	if code != http.StatusSeeOther || hdr.Get("Location") != "/console/erasures" {
		br.t.Fatalf("sign-in as %s: %d to %q", who, code, hdr.Get("Location"))
	}
	if code, body, _ := br.do("GET", "/console/", nil); code != http.StatusSeeOther {
		br.t.Fatalf("console home: %d %s", code, body)
	}
	br.do("GET", "/console/audit", nil) // any page, for the CSRF token
	if br.csrf == "" {
		code, body, _ := br.do("GET", "/console/erasures", nil)
		if br.csrf == "" {
			br.t.Fatalf("no CSRF token on a page: %d %s", code, body)
		}
	}
}

func TestConsoleNeedsSession(t *testing.T) {
	b := setupConsole(t, false)
	br := b.browser(t)
	for _, path := range []string{"/console/", "/console/erasures", "/console/erasures/gdpr-1", "/console/deadletters", "/console/queues"} {
		code, _, hdr := br.do("GET", path, nil)
		if code != http.StatusSeeOther || hdr.Get("Location") != "/console/signin" {
			t.Errorf("GET %s without a session: %d to %q, want 303 to /console/signin", path, code, hdr.Get("Location"))
		}
	}
	if code, _, _ := br.do("POST", "/console/erasures", url.Values{"request_id": {"gdpr-1"}, "user_id": {"u-1"}}); code != http.StatusUnauthorized {
		t.Errorf("POST without a session: %d, want 401", code)
	}
	if code, _, _ := br.do("GET", "/monitor/", nil); code != http.StatusUnauthorized {
		t.Errorf("GET /monitor/ without a session: %d, want 401", code)
	}
	code, body, _ := br.do("POST", "/console/signin", url.Values{"token": {"lct_guess"}})
	if code != http.StatusUnauthorized || !strings.Contains(body, "unknown token") {
		t.Errorf("sign-in with a wrong token: %d %s", code, body)
	}
	if n, _ := b.rdb.Keys(t.Context(), "*console*").Result(); len(n) != 0 {
		t.Errorf("sessions stored for refused callers: %v", n)
	}
}

func TestConsoleSessionCookie(t *testing.T) {
	b := setupConsole(t, false)
	for _, tls := range []bool{false, true} {
		srv := b.srv
		if tls {
			srv = httptest.NewTLSServer(srv.Config.Handler)
			defer srv.Close()
		}
		c := srv.Client()
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		res, err := c.PostForm(srv.URL+"/console/signin", url.Values{"token": {b.secrets["alice"]}})
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		cks := res.Cookies()
		if len(cks) != 1 {
			t.Fatalf("tls=%v: cookies %v", tls, cks)
		}
		ck := cks[0]
		got := []any{ck.HttpOnly, ck.Secure, ck.SameSite, ck.Path}
		if diff := cmp.Diff([]any{true, tls, http.SameSiteStrictMode, "/"}, got); diff != "" {
			t.Errorf("tls=%v: cookie (HttpOnly, Secure, SameSite, Path) (-want +got):\n%s", tls, diff)
		}
		stored, err := b.rdb.Get(t.Context(), "lifecycle:console:session:"+ck.Value).Result()
		if err != nil {
			t.Fatalf("session not in Redis: %v", err)
		}
		if strings.Contains(stored, b.secrets["alice"]) || !strings.Contains(stored, `"alice"`) {
			t.Errorf("session holds %s", stored)
		}
		if ttl := b.rdb.TTL(t.Context(), "lifecycle:console:session:"+ck.Value).Val(); ttl <= 0 || ttl > SessionTTL {
			t.Errorf("session TTL %v, want (0, %v]", ttl, SessionTTL)
		}
	}
}

func TestConsoleCSRF(t *testing.T) {
	b := setupConsole(t, false)
	br := b.browser(t)
	br.signIn("alice")
	form := url.Values{"request_id": {"gdpr-1"}, "user_id": {"u-1"}, "filed_by": {"dpo"}}
	for name, csrf := range map[string]string{"none": "", "another session's": "x" + br.csrf[1:]} {
		f := url.Values{"request_id": {"gdpr-1"}, "user_id": {"u-1"}}
		if csrf != "" {
			f.Set("csrf", csrf)
		}
		if code, body, _ := br.do("POST", "/console/erasures", f); code != http.StatusForbidden || !strings.Contains(body, "CSRF") {
			t.Errorf("filing with %s CSRF token: %d %s", name, code, body)
		}
	}
	if n := b.rdb.Exists(t.Context(), "lifecycle:erasure:gdpr-1").Val(); n != 0 {
		t.Fatal("a filing without the CSRF token was recorded")
	}
	code, _, hdr := br.post("/console/erasures", form)
	if code != http.StatusSeeOther || hdr.Get("Location") != "/console/erasures/gdpr-1" {
		_, body, _ := br.do("GET", "/console/erasures", nil)
		t.Fatalf("filing with the CSRF token: %d to %q %s", code, hdr.Get("Location"), body)
	}
	// Signing out ends the session: its cookie no longer opens a page.
	if code, _, _ := br.post("/console/signout", nil); code != http.StatusSeeOther {
		t.Fatalf("sign-out: %d", code)
	}
	if code, _, hdr := br.do("GET", "/console/erasures", nil); code != http.StatusSeeOther || hdr.Get("Location") != "/console/signin" {
		t.Errorf("after sign-out: %d to %q", code, hdr.Get("Location"))
	}
}

// TestConsoleFilingForm files through the form and checks that bad input is
// refused with the API's own messages.
func TestConsoleFilingForm(t *testing.T) {
	b := setupConsole(t, false)
	br := b.browser(t)
	br.signIn("alice")
	for _, c := range []struct {
		name string
		form url.Values
		want []string // field: problem, as the API names them
	}{
		{"no ids", url.Values{}, []string{"<code>request_id</code>: required", "<code>user_id</code>: required", "<code>filed_by</code>: required"}},
		{"bad date", url.Values{"request_id": {"gdpr-2"}, "user_id": {"u-2"}, "filed_by": {"dpo"}, "filed_at": {"yesterday"}}, []string{"<code>filed_at</code>: want RFC 3339 such as 2026-01-31T10:00:00Z"}},
		{"bad bigin line", url.Values{"request_id": {"gdpr-2"}, "user_id": {"u-2"}, "filed_by": {"dpo"}, "bigin": {"Contacts"}}, []string{"<code>bigin"}},
	} {
		code, body, _ := br.post("/console/erasures", c.form)
		if code != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", c.name, code)
		}
		for _, w := range c.want {
			if !strings.Contains(body, w) {
				t.Errorf("%s: page lacks %q:\n%s", c.name, w, body)
			}
		}
	}
	filedAt := time.Now().UTC().AddDate(0, 0, -27).Format(time.RFC3339)
	code, _, hdr := br.post("/console/erasures", url.Values{"request_id": {"gdpr-3"}, "user_id": {"u-3"}, "filed_by": {"dpo"}, "bigin": {"Contacts 4876876000000001\n"}, "filed_at": {filedAt}})
	if code != http.StatusSeeOther {
		t.Fatalf("filing: %d", code)
	}
	code, body, _ := br.do("GET", hdr.Get("Location"), nil)
	if code != http.StatusOK || !strings.Contains(body, "at risk") {
		t.Errorf("request page: %d, at risk not shown:\n%s", code, body)
	}
	_, list, _ := br.do("GET", "/console/erasures", nil)
	if !regexp.MustCompile(`<tr class="at-risk" data-request="gdpr-3">`).MatchString(list) {
		t.Errorf("list does not highlight gdpr-3 at risk:\n%s", list)
	}
	entries, _ := b.recorder.List(t.Context(), audit.Filter{Subject: "gdpr-3"})
	if len(entries) != 1 || entries[0].Who != "alice" || entries[0].Action != audit.ErasureFile {
		t.Errorf("audit of the filing: %+v", entries)
	}
}

func TestConsoleApprovalAsSecondIdentity(t *testing.T) {
	b := setupConsole(t, true)
	alice, bob := b.browser(t), b.browser(t)
	alice.signIn("alice")
	bob.signIn("bob")
	if code, _, _ := alice.post("/console/erasures", url.Values{"request_id": {"gdpr-9"}, "user_id": {"u-9"}, "filed_by": {"dpo"}}); code != http.StatusSeeOther {
		t.Fatalf("filing: %d", code)
	}
	if code, body, _ := alice.post("/console/erasures/gdpr-9/approve", nil); code != http.StatusForbidden {
		t.Errorf("approval by the filer: %d %s", code, body)
	}
	_, page, _ := bob.do("GET", "/console/erasures/gdpr-9", nil)
	if !strings.Contains(page, `action="/console/erasures/gdpr-9/approve"`) {
		t.Fatalf("bob sees no approve form:\n%s", page)
	}
	if code, _, _ := bob.post("/console/erasures/gdpr-9/approve", url.Values{"reason": {"checked the ticket"}}); code != http.StatusSeeOther {
		t.Fatalf("approval by bob: %d", code)
	}
	_, page, _ = bob.do("GET", "/console/erasures/gdpr-9", nil)
	if !strings.Contains(page, "approved by bob: checked the ticket") {
		t.Errorf("page does not show bob's approval:\n%s", page)
	}
	var got []string
	entries, _ := b.recorder.List(t.Context(), audit.Filter{Subject: "gdpr-9"})
	for _, e := range entries {
		got = append(got, e.Who+" "+e.Action)
	}
	if diff := cmp.Diff([]string{"alice erasure.file", "bob erasure.approve"}, got); diff != "" {
		t.Errorf("audit (-want +got):\n%s", diff)
	}
}

func TestConsoleScopes(t *testing.T) {
	b := setupConsole(t, false)
	reader, ops := b.browser(t), b.browser(t)
	reader.signIn("reader")
	ops.signIn("ops")
	_, page, _ := reader.do("GET", "/console/erasures", nil)
	if strings.Contains(page, "/console/erasures/new") || strings.Contains(page, "/monitor/") {
		t.Errorf("a reader is offered what it may not do:\n%s", page)
	}
	for _, c := range []struct {
		br     *browser
		method string
		path   string
		want   int
	}{
		{reader, "GET", "/console/erasures/new", 403},
		{reader, "GET", "/console/deadletters", 403},
		{reader, "GET", "/monitor/", 403},
		{ops, "GET", "/monitor/", 200},
		{ops, "GET", "/console/erasures", 403},
		{ops, "GET", "/console/queues", 200},
		{ops, "GET", "/console/deadletters", 200},
	} {
		if code, body, _ := c.br.do(c.method, c.path, nil); code != c.want {
			t.Errorf("%s %s: %d, want %d: %s", c.method, c.path, code, c.want, body)
		}
	}
	// A bearer token opens the monitor too, for tools.
	for who, want := range map[string]int{"ops": 200, "reader": 403} {
		req, _ := http.NewRequest("GET", b.srv.URL+"/monitor/", nil)
		req.Header.Set("Authorization", "Bearer "+b.secrets[who])
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != want {
			t.Errorf("/monitor/ with %s's bearer token: %d, want %d", who, res.StatusCode, want)
		}
	}
}

func TestConsoleDeadLetterRetry(t *testing.T) {
	b := setupConsole(t, false)
	info, err := b.client.Enqueue(asynq.NewTask("photo:delete", []byte(`{"x":1}`)), asynq.Queue("photos"))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.in.ArchiveTask("photos", info.ID); err != nil {
		t.Fatal(err)
	}
	ops := b.browser(t)
	ops.signIn("ops")
	_, page, _ := ops.do("GET", "/console/deadletters?queue=photos&type=photo:delete", nil)
	if !strings.Contains(page, `data-task="`+info.ID+`"`) {
		t.Fatalf("dead letter not listed:\n%s", page)
	}
	_, other, _ := ops.do("GET", "/console/deadletters?type=merge:guest", nil)
	if strings.Contains(other, info.ID) {
		t.Errorf("type filter shows a photo:delete letter")
	}
	if code, _, _ := ops.post("/console/deadletters/photos/"+info.ID+"/retry", nil); code != http.StatusSeeOther {
		t.Fatalf("retry: %d", code)
	}
	_, page, _ = ops.do("GET", "/console/deadletters", nil)
	if strings.Contains(page, info.ID) {
		t.Errorf("retried letter still listed")
	}
	if ti, err := b.in.GetTaskInfo("photos", info.ID); err != nil || ti.State != asynq.TaskStatePending {
		t.Errorf("retried task: %v %v, want pending", ti, err)
	}
	_, auditPage, _ := ops.do("GET", "/console/audit", nil)
	if !strings.Contains(auditPage, "deadletter.retry") || !strings.Contains(auditPage, "photos/"+info.ID) {
		t.Errorf("audit page lacks the retry:\n%s", auditPage)
	}
	for who, secret := range b.secrets {
		for name, text := range map[string]string{"log": b.log.String(), "audit page": auditPage, "dead letters page": page} {
			if strings.Contains(text, secret) {
				t.Errorf("%s holds %s's token", name, who)
			}
		}
	}
}

type fakeSweeps struct {
	reports  []sweep.Report
	restored []string // id prefix
}

func (f *fakeSweeps) Reports(context.Context) iter.Seq2[sweep.Report, error] {
	return func(yield func(sweep.Report, error) bool) {
		for _, r := range f.reports {
			if !yield(r, nil) {
				return
			}
		}
	}
}

func (f *fakeSweeps) Restore(_ context.Context, id, prefix string) (sweep.RestoreResult, error) {
	for _, r := range f.reports {
		if r.SweepID == id && r.Moved > 0 {
			f.restored = append(f.restored, id+" "+prefix)
			return sweep.RestoreResult{Restored: 2, Conflicts: 1}, nil
		}
	}
	return sweep.RestoreResult{}, sweep.ErrNotRestorable
}

func TestConsoleSweeps(t *testing.T) {
	sw := &fakeSweeps{reports: []sweep.Report{
		{SweepID: "sweep-2", Status: "done", Scanned: 120, Candidates: map[sweep.Reason]int64{"orphan": 7}, Moved: 6},
		{SweepID: "sweep-1", Status: "done", DryRun: true, Scanned: 100},
	}}
	b := setupConsoleWith(t, false, func(c *Console) { c.Sweeps = sw })
	ops := b.browser(t)
	ops.signIn("ops")
	code, page, _ := ops.do("GET", "/console/sweeps", nil)
	if code != 200 || !strings.Contains(page, `action="/console/sweeps/sweep-2/restore"`) || strings.Contains(page, `action="/console/sweeps/sweep-1/restore"`) {
		t.Fatalf("sweeps page: %d, want a restore form for sweep-2 only:\n%s", code, page)
	}
	for _, want := range []string{"<td>120</td>", "orphan: 7", "<td>6</td>"} {
		if !strings.Contains(page, want) {
			t.Errorf("sweeps page lacks %q", want)
		}
	}
	code, page, _ = ops.post("/console/sweeps/sweep-2/restore", url.Values{"prefix": {"users/u-1/"}})
	if code != 200 || !strings.Contains(page, "2 restored, 0 missing, 1 conflicts") {
		t.Errorf("restore: %d %s", code, page)
	}
	if code, _, _ := ops.post("/console/sweeps/sweep-1/restore", nil); code != http.StatusConflict {
		t.Errorf("restore of a dry run: %d, want 409", code)
	}
	if diff := cmp.Diff([]string{"sweep-2 users/u-1/"}, sw.restored); diff != "" {
		t.Errorf("restores (-want +got):\n%s", diff)
	}
	entries, _ := b.recorder.List(t.Context(), audit.Filter{Subject: "sweep-2"})
	if len(entries) != 1 || entries[0].Who != "ops" || entries[0].Action != audit.SweepRestore || entries[0].Why != "prefix users/u-1/" {
		t.Errorf("audit of the restore: %+v", entries)
	}
	reader := b.browser(t)
	reader.signIn("reader")
	if code, _, _ := reader.do("GET", "/console/sweeps", nil); code != http.StatusForbidden {
		t.Errorf("sweeps page as reader: %d, want 403", code)
	}
}

// TestConsoleSessionEndsWithItsToken: a process restarted with a tokens
// file that no longer holds a session's token, or holds it with a new
// secret, sends that session to sign-in; one whose scopes changed sees the
// new scopes.
func TestConsoleSessionEndsWithItsToken(t *testing.T) {
	b := setupConsole(t, false)
	alice, reader, ops := b.browser(t), b.browser(t), b.browser(t)
	alice.signIn("alice")
	reader.signIn("reader")
	ops.signIn("ops")
	// alice keeps her secret with fewer scopes; ops gets a new secret;
	// reader is gone.
	aliceNow := apitoken.Token{Name: "alice", Scopes: []apitoken.Scope{apitoken.ScopeErasureRead}, Hash: sha256.Sum256([]byte(b.secrets["alice"]))}
	opsNow, _, err := apitoken.New("ops", []apitoken.Scope{apitoken.ScopeAdmin})
	if err != nil {
		t.Fatal(err)
	}
	set, err := apitoken.NewSet(aliceNow, opsNow)
	if err != nil {
		t.Fatal(err)
	}
	restarted := httptest.NewServer(New(Params{Gatherer: prometheus.NewRegistry(), Log: zerolog.Nop(), Tokens: set, Audit: b.recorder,
		Erasures: &erasure.Service{Store: erasure.NewStore(b.rdb)}, Console: &Console{Sessions: b.rdb, Queues: b.in}}))
	defer restarted.Close()
	for _, c := range []struct {
		name string
		br   *browser
		path string
		want int
	}{
		{"reader, removed", reader, "/console/erasures", http.StatusSeeOther},
		{"ops, new secret", ops, "/console/queues", http.StatusSeeOther},
		{"alice, fewer scopes", alice, "/console/erasures/new", http.StatusForbidden},
		{"alice, fewer scopes", alice, "/console/erasures", http.StatusOK},
	} {
		c.br.b.srv = restarted
		if code, _, _ := c.br.do("GET", c.path, nil); code != c.want {
			t.Errorf("%s: GET %s: %d, want %d", c.name, c.path, code, c.want)
		}
	}
}
