package integration

import (
	"context"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
	"github.com/hibiken/asynq"

	"github.com/lifecycle-worker/lifecycle/integration/harness"
	"github.com/lifecycle-worker/lifecycle/internal/apitoken"
)

// TestConsoleInBrowser uses the console as people would, in Debian's
// chromium driven by chromedp, against a real `lifecycle dev` (embedded
// Redis, simulators, worker, API) with approval required: alice files an
// erasure through the form, bob approves it, it reaches done and its
// receipt, downloaded, verifies; a request filed 27 days ago shows at risk;
// an operator retries a dead letter, which leaves the list and enters the
// audit trail; /monitor/ answers admins only. No page, URL or log line
// holds a token. Screenshots of each page go to $LIFECYCLE_TEST_ARTIFACTS
// (or the test's temporary directory); the test logs where.
func TestConsoleInBrowser(t *testing.T) {
	chromium := "/usr/bin/chromium"
	if p, err := exec.LookPath("chromium"); err == nil {
		chromium = p
	} else if _, err := os.Stat(chromium); err != nil {
		t.Fatal("chromium is missing: bash deploy/images/need-chromium.sh installs Debian's package (make test does)")
	}
	shots := os.Getenv("LIFECYCLE_TEST_ARTIFACTS")
	if shots == "" {
		shots = t.TempDir()
	}
	shots = filepath.Join(shots, "console")
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", shots)

	tokensFile, secrets := harness.TokensFile(t, map[string][]apitoken.Scope{
		"privacy-alice": {apitoken.ScopeErasureFile, apitoken.ScopeErasureApprove, apitoken.ScopeErasureRead},
		"privacy-bob":   {apitoken.ScopeErasureApprove, apitoken.ScopeErasureRead},
		"ops":           {apitoken.ScopeAdmin},
	})
	dev, base := harness.StartDev(t, "LIFECYCLE_ERASURE_APPROVAL=required", "LIFECYCLE_API_TOKENS_FILE="+tokensFile)
	redisURL := devRedisURL(t, dev)

	// Without a browser: no session, no page; no CSRF token, no change.
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := hc.Get(base + "/console/erasures")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/console/signin" {
		t.Errorf("a page without a session: %d to %q, want 303 to /console/signin", res.StatusCode, res.Header.Get("Location"))
	}
	if res, err = hc.PostForm(base+"/console/signin", url.Values{"token": {secrets["privacy-alice"]}}); err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res, err = hc.PostForm(base+"/console/erasures", url.Values{"request_id": {"gdpr-csrf"}, "user_id": {"2003"}, "filed_by": {"dpo"}}); err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("a form post without the CSRF token: %d, want 403", res.StatusCode)
	}

	// One browser for the whole test: chromium on two busy cores is slow.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx, chromedp.ExecPath(chromium), chromedp.Headless, chromedp.NoSandbox,
		chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(1280, 900), chromedp.UserDataDir(t.TempDir()))
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(alloc)
	defer cancelBrowser()
	downloads := t.TempDir()
	run := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(bctx, steps...); err != nil {
			loc, _ := chromedp.Run(bctx, chromedp.Location())
			t.Fatalf("%s (at %s): %v", what, loc, err)
		}
	}
	get := func(what string, a chromedp.Action[string]) string {
		t.Helper()
		v, err := chromedp.Run(bctx, a)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return v
	}
	var seen []string // every page's HTML and URL, checked for tokens at the end
	look := func(name string) string {
		t.Helper()
		loc := get("location", chromedp.Location())
		html := get("html of "+name, chromedp.OuterHTML(chromedp.CSS("html")))
		png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot of %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(shots, name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
		seen = append(seen, loc, html)
		return html
	}
	css := func(sel string) chromedp.CSS { return chromedp.CSS(sel) }
	signIn := func(who string) {
		t.Helper()
		run("sign in as "+who, chromedp.Navigate(base+"/console/signin"), chromedp.WaitVisible(css("#token")),
			chromedp.SendKeys(css("#token"), secrets[who]), chromedp.Submit(css("#token")), chromedp.WaitVisible(css("header nav")))
	}
	signOut := func() {
		t.Helper()
		run("sign out", chromedp.Click(css("header form button")), chromedp.WaitVisible(css("#token")))
	}
	status := func(path string) int64 {
		t.Helper()
		resp, err := chromedp.RunResponse(bctx, chromedp.Navigate(base+path))
		if err != nil {
			t.Fatalf("open %s: %v", path, err)
		}
		return resp.Status
	}
	run("allow downloads", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: downloads})
		return err
	}))

	run("open the console", chromedp.Navigate(base+"/console/erasures"), chromedp.WaitVisible(css("#token")))
	look("signin")

	// alice files two requests through the form: one today, one 27 days ago.
	signIn("privacy-alice")
	file := func(id, user, filedAt string) {
		t.Helper()
		steps := []chromedp.Action[chromedp.Void]{chromedp.Navigate(base + "/console/erasures/new"), chromedp.WaitVisible(css("#request_id")),
			chromedp.SendKeys(css("#request_id"), id), chromedp.SendKeys(css("#user_id"), user)}
		if filedAt != "" {
			steps = append(steps, chromedp.SendKeys(css("#filed_at"), filedAt))
		}
		run("file "+id, append(steps, chromedp.Click(css(`form.stack button`)), chromedp.WaitVisible(css("#state")))...)
	}
	run("a bad filing", chromedp.Navigate(base+"/console/erasures/new"), chromedp.WaitVisible(css("#request_id")),
		chromedp.Click(css(`form.stack button`), chromedp.NodeVisible))
	// The browser itself refuses the empty required fields; past it, the
	// server names them as the API does.
	run("a bad filing", chromedp.SetAttributeValue(css("form.stack"), "novalidate", ""), chromedp.Click(css(`form.stack button`)), chromedp.WaitVisible(css(".error")))
	if html := look("file-refused"); !strings.Contains(html, "<code>request_id</code>: required") {
		t.Errorf("the refused form does not name request_id")
	}
	file("gdpr-console-1", "2001", "")
	look("request-awaiting")
	file("gdpr-console-late", "2002", time.Now().UTC().AddDate(0, 0, -27).Format(time.RFC3339))
	run("list", chromedp.Navigate(base+"/console/erasures"), chromedp.WaitVisible(css("table")))
	atRisk, err := chromedp.Run(bctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("tr.at-risk")].map(r => r.dataset.request)`))
	if err != nil {
		t.Fatal(err)
	}
	if len(atRisk) != 1 || atRisk[0] != "gdpr-console-late" {
		t.Errorf("rows highlighted at risk: %v, want [gdpr-console-late]", atRisk)
	}
	look("requests")
	signOut()

	// bob approves; the worker erases; the receipt downloads and verifies.
	signIn("privacy-bob")
	run("approve", chromedp.Navigate(base+"/console/erasures/gdpr-console-1"), chromedp.WaitVisible(css("#approve-reason")),
		chromedp.SendKeys(css("#approve-reason"), "identity checked"), chromedp.Click(css(`form[action$="/approve"] button`)),
		// The page after the approval has no approve form. Waiting for
		// #state instead would return at once (the form's page has it too),
		// and the next navigation would then abort the approval's own load
		// (net::ERR_ABORTED).
		chromedp.WaitNotPresent(css("#approve-reason")), chromedp.WaitVisible(css("#state")))
	start := time.Now()
	for {
		run("reload", chromedp.Navigate(base+"/console/erasures/gdpr-console-1"), chromedp.WaitVisible(css("#state")))
		state := get("state", chromedp.Text(css("#state")))
		if state == "done" {
			break
		}
		if time.Since(start) > 60*time.Second {
			t.Fatalf("gdpr-console-1 is %q 60 s after approval", state)
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Logf("done %v after approval", time.Since(start).Round(time.Millisecond))
	if html := look("request-done"); !strings.Contains(html, "approved by privacy-bob: identity checked") {
		t.Errorf("the request's page does not show bob's approval")
	}
	run("download the receipt", chromedp.Click(css(`a[href$="/receipt"]`)))
	receipt := filepath.Join(downloads, "gdpr-console-1.json")
	for start := time.Now(); ; time.Sleep(100 * time.Millisecond) {
		if _, err := os.Stat(receipt); err == nil {
			break
		}
		if time.Since(start) > 10*time.Second {
			entries, _ := os.ReadDir(downloads)
			t.Fatalf("no receipt downloaded within 10 s: %v", entries)
		}
	}
	verify := exec.Command(harness.Binary(t), "receipt", "verify", receipt)
	verify.Env = devEnv(t, dev)
	if out, err := verify.CombinedOutput(); err != nil || !strings.Contains(string(out), "valid receipt of request gdpr-console-1") {
		t.Errorf("lifecycle receipt verify: %v\n%s", err, out)
	}
	if got := status("/monitor/"); got != http.StatusForbidden {
		t.Errorf("/monitor/ as privacy-bob: %d, want 403", got)
	}
	signOut()

	// ops retries a dead letter.
	opt, err := asynq.ParseRedisURI(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	client := asynq.NewClient(opt)
	defer client.Close()
	in := asynq.NewInspector(opt)
	defer in.Close()
	// A queue no worker serves: the retried task stays pending to be seen.
	info, err := client.Enqueue(asynq.NewTask("photo:delete", []byte(`{"photo_id":"p-1"}`)), asynq.Queue("console-test"), asynq.ProcessIn(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if err := in.ArchiveTask("console-test", info.ID); err != nil {
		t.Fatal(err)
	}
	signIn("ops")
	run("dead letters", chromedp.Navigate(base+"/console/deadletters?queue=console-test"), chromedp.WaitVisible(css(`tr[data-task="`+info.ID+`"]`)))
	look("deadletters")
	run("retry", chromedp.Click(css(`tr[data-task="`+info.ID+`"] form[action$="/retry"] button`)), chromedp.WaitNotPresent(css(`tr[data-task="`+info.ID+`"]`)))
	left, err := chromedp.Run(bctx, chromedp.Evaluate[int](`document.querySelectorAll('tr[data-task="`+info.ID+`"]').length`))
	if err != nil {
		t.Fatal(err)
	}
	if left != 0 {
		t.Errorf("the retried dead letter is still listed")
	}
	if ti, err := in.GetTaskInfo("console-test", info.ID); err != nil || ti.State != asynq.TaskStatePending {
		t.Errorf("the retried task: %v %v, want pending", ti, err)
	}
	trail := auditTrail(t, redisURL)
	for _, want := range []string{"privacy-alice erasure.file gdpr-console-1", "privacy-bob erasure.approve gdpr-console-1", "ops deadletter.retry console-test/" + info.ID} {
		if !strings.Contains(strings.Join(trail, "\n"), want) {
			t.Errorf("lifecycle audit list lacks %q:\n%s", want, strings.Join(trail, "\n"))
		}
	}
	run("audit", chromedp.Navigate(base+"/console/audit"), chromedp.WaitVisible(css("table")))
	look("audit")
	run("queues", chromedp.Navigate(base+"/console/queues"), chromedp.WaitVisible(css("table")))
	if html := look("queues"); !strings.Contains(html, "console-test") {
		t.Errorf("the queues page does not show the console-test queue")
	}
	run("sweeps", chromedp.Navigate(base+"/console/sweeps"), chromedp.WaitVisible(css("table")))
	look("sweeps")
	if got := status("/monitor/"); got != http.StatusOK {
		t.Errorf("/monitor/ as ops: %d, want 200", got)
	}
	run("monitor", chromedp.WaitVisible(css("#root")))
	time.Sleep(time.Second) // its page draws from its own API calls
	look("monitor")

	for who, secret := range secrets {
		for i, s := range seen {
			if strings.Contains(s, secret) {
				t.Errorf("page or URL %d holds %s's token", i, who)
			}
		}
		if strings.Contains(dev.Output(), secret) {
			t.Errorf("dev's log holds %s's token", who)
		}
	}
}

// devEnv is the CLI's environment for dev: what dev.env exports.
func devEnv(t *testing.T, dev *harness.Process) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dev.Dir(), ".lifecycle", "dev.env"))
	if err != nil {
		t.Fatal(err)
	}
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	for _, m := range regexp.MustCompile(`(?m)^export (\w+)='?([^'\n]*)'?$`).FindAllStringSubmatch(string(b), -1) {
		env = append(env, m[1]+"="+m[2])
	}
	return env
}
