package bigin_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"github.com/lifecycle-worker/lifecycle/internal/errclass"
	"github.com/lifecycle-worker/lifecycle/internal/sim/biginsim"
	"github.com/lifecycle-worker/lifecycle/internal/testutil"
	"github.com/lifecycle-worker/lifecycle/internal/upstream/bigin"
)

const seedPath = "../../../testdata/seeds/002_f722fdfe63ea7c2c.txt"

type bundle struct {
	sim *biginsim.Server
	url string
	mr  *miniredis.Miniredis
	rdb redis.UniversalClient
}

func setup(t *testing.T, opts biginsim.Options) *bundle {
	t.Helper()
	sim := biginsim.New(opts)
	u, err := sim.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Close() })
	mr, rdb := testutil.Redis(t)
	return &bundle{sim: sim, url: u, mr: mr, rdb: rdb}
}

func (b *bundle) config() bigin.Config {
	o := b.sim.Options()
	return bigin.Config{
		AccountsURL: b.url, APIDomain: b.url,
		ClientID: o.ClientID, ClientSecret: o.ClientSecret, RefreshToken: o.RefreshToken,
		Redis: b.rdb, Timeout: 5 * time.Second,
	}
}

func (b *bundle) client(t *testing.T, edit ...func(*bigin.Config)) *bigin.Client {
	t.Helper()
	cfg := b.config()
	for _, f := range edit {
		f(&cfg)
	}
	c, err := bigin.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// token fetches an access token from the simulator the way Zoho documents it.
func (b *bundle) token(t *testing.T) string {
	t.Helper()
	o := b.sim.Options()
	resp, err := http.PostForm(b.url+"/oauth/v2/token", url.Values{
		"client_id": {o.ClientID}, "client_secret": {o.ClientSecret},
		"grant_type": {"refresh_token"}, "refresh_token": {o.RefreshToken}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	tok, _, _ := strings.Cut(strings.TrimPrefix(string(body), `{"access_token":"`), `"`)
	if !strings.HasPrefix(tok, "1000.") {
		t.Fatalf("no token in %s", body)
	}
	return tok
}

// The testdata bodies are the seed's: the success body is in the seed byte
// for byte, and each error body carries a code, HTTP status and message that
// the seed lists together.
func TestSeedBodiesMatchTheSeed(t *testing.T) {
	seed, err := os.ReadFile(seedPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(seed, bigin.SeedBody("delete_photo_success.json")) {
		t.Error("delete_photo_success.json is not the seed's sample response byte for byte")
	}
	for _, name := range []string{
		"INVALID_MODULE", "INVALID_MODULE_unsupported", "INVALID_URL_PATTERN", "OAUTH_SCOPE_MISMATCH",
		"NO_PERMISSION", "INTERNAL_ERROR", "INVALID_REQUEST_METHOD", "AUTHORIZATION_FAILED", "INVALID_DATA",
	} {
		body := string(bigin.SeedBody("error_" + name + ".json"))
		code, _, _ := strings.Cut(name, "_unsupported")
		status := biginsim.Statuses[code]
		_, msg, _ := strings.Cut(body, `"message":"`)
		msg, _, _ = strings.Cut(msg, `"`)
		entry := fmt.Sprintf("%sHTTP %d\n\n    %s\n", code, status, msg)
		if !strings.Contains(string(seed), entry) {
			t.Errorf("%s: the seed has no entry %q", name, entry)
		}
		if want := `{"code":"` + code + `","details":{},"message":"` + msg + `","status":"error"}`; body != want {
			t.Errorf("%s: body %s, want %s", name, body, want)
		}
	}
}

// The simulator answers with the seed bodies byte for byte.
func TestSimulatorServesSeedBodies(t *testing.T) {
	b := setup(t, biginsim.Options{})
	b.sim.AddRecord("Contacts", "2034020000000489033", true)
	b.sim.AddRecord("Contacts", "2034020000000489034", false)
	tok := b.token(t)
	tests := []struct {
		name, method, path, token, failNext string
		wantStatus                          int
		wantBody                            string // testdata file; "" for none
	}{
		{"delete", "DELETE", "/bigin/v2/Contacts/2034020000000489033/photo", tok, "", 200, "delete_photo_success.json"},
		{"delete again", "DELETE", "/bigin/v2/Contacts/2034020000000489033/photo", tok, "", 204, ""},
		{"get without photo", "GET", "/bigin/v2/Contacts/2034020000000489034/photo", tok, "", 204, ""},
		{"no token", "DELETE", "/bigin/v2/Contacts/2034020000000489034/photo", "", "", 401, "error_INVALID_TOKEN.json"},
		{"unknown token", "DELETE", "/bigin/v2/Contacts/2034020000000489034/photo", "1000.nope", "", 401, "error_INVALID_TOKEN.json"},
		{"bad module", "DELETE", "/bigin/v2/Deals/2034020000000489034/photo", tok, "", 400, "error_INVALID_MODULE.json"},
		{"unsupported module", "DELETE", "/bigin/v2/Documents/2034020000000489034/photo", tok, "", 400, "error_INVALID_MODULE_unsupported.json"},
		{"bad url", "DELETE", "/bigin/v2/Contacts/2034020000000489034/photos", tok, "", 404, "error_INVALID_URL_PATTERN.json"},
		{"bad method", "PATCH", "/bigin/v2/Contacts/2034020000000489034/photo", tok, "", 400, "error_INVALID_REQUEST_METHOD.json"},
		{"bad id", "DELETE", "/bigin/v2/Contacts/abc/photo", tok, "", 400, "error_INVALID_DATA.json"},
		{"unknown id", "DELETE", "/bigin/v2/Contacts/42/photo", tok, "", 400, "error_INVALID_DATA.json"},
		{"scope", "DELETE", "/bigin/v2/Contacts/2034020000000489034/photo", tok, "OAUTH_SCOPE_MISMATCH", 401, "error_OAUTH_SCOPE_MISMATCH.json"},
		{"permission", "DELETE", "/bigin/v2/Contacts/2034020000000489034/photo", tok, "NO_PERMISSION", 403, "error_NO_PERMISSION.json"},
		{"authorization", "DELETE", "/bigin/v2/Contacts/2034020000000489034/photo", tok, "AUTHORIZATION_FAILED", 400, "error_AUTHORIZATION_FAILED.json"},
		{"internal", "DELETE", "/bigin/v2/Contacts/2034020000000489034/photo", tok, "INTERNAL_ERROR", 500, "error_INTERNAL_ERROR.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.failNext != "" {
				b.sim.FailNext(tt.failNext, 1)
			}
			req, _ := http.NewRequest(tt.method, b.url+tt.path, nil)
			if tt.token != "" {
				req.Header.Set("Authorization", "Zoho-oauthtoken "+tt.token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			got, _ := io.ReadAll(resp.Body)
			var want []byte
			if tt.wantBody != "" {
				want = bigin.SeedBody(tt.wantBody)
			}
			if resp.StatusCode != tt.wantStatus || !bytes.Equal(got, want) {
				t.Errorf("%s %s: got %d %q, want %d %q", tt.method, tt.path, resp.StatusCode, got, tt.wantStatus, want)
			}
		})
	}
}

type outcome struct {
	Class    errclass.Class
	Sentinel string
	Photo    bool // the record still has its photo
	Deletes  int  // successful deletes the simulator counted
}

var sentinels = []error{
	bigin.ErrNoPhoto, bigin.ErrInvalidData, bigin.ErrInvalidModule, bigin.ErrInvalidURLPattern,
	bigin.ErrInvalidRequestMethod, bigin.ErrScopeMismatch, bigin.ErrNoPermission,
	bigin.ErrAuthorizationFailed, bigin.ErrInvalidToken, bigin.ErrTooManyRequests, bigin.ErrInternal,
	bigin.ErrTokenRefused, bigin.ErrTokenRateLimited,
}

func sentinelOf(err error) string {
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return s.Error()
		}
	}
	return ""
}

type deleteCase struct {
	name     string
	module   string // "Contacts" if empty
	id       string // the record's id if empty
	photo    bool
	exists   bool
	failNext []string // codes the simulator answers first
	want     outcome
}

// Every answer of the seed, and the ones Zoho adds, reaches the caller with
// the class the package documentation promises.
func TestDeleteRecordPhoto(t *testing.T) {
	const id = "2034020000000489033"
	tests := []deleteCase{
		{name: "deleted", photo: true, exists: true, want: outcome{Deletes: 1}},
		// 204 is undocumented and INVALID_DATA only says the id seems
		// invalid: neither proves the photo gone.
		{name: "no photo", exists: true, want: outcome{Class: errclass.Unconfirmed, Sentinel: "bigin: record has no photo"}},
		{name: "record gone", want: outcome{Class: errclass.Unconfirmed, Sentinel: "bigin: INVALID_DATA"}},
		{name: "malformed id, not sent", id: "20340200../x", photo: true, exists: true,
			want: outcome{Class: errclass.Permanent, Sentinel: "bigin: INVALID_DATA", Photo: true}},
		{name: "unknown module, not sent", module: "Deals", photo: true, exists: true,
			want: outcome{Class: errclass.Permanent, Sentinel: "bigin: INVALID_MODULE", Photo: true}},
	}
	for _, code := range []string{"INVALID_MODULE", "INVALID_URL_PATTERN", "INVALID_REQUEST_METHOD",
		"OAUTH_SCOPE_MISMATCH", "NO_PERMISSION", "AUTHORIZATION_FAILED"} {
		tests = append(tests, deleteCase{name: code, photo: true, exists: true, failNext: []string{code},
			want: outcome{Class: errclass.Permanent, Sentinel: "bigin: " + code, Photo: true}})
	}
	tests = append(tests, []deleteCase{
		{name: "INVALID_DATA", photo: true, exists: true, failNext: []string{"INVALID_DATA"},
			want: outcome{Class: errclass.Unconfirmed, Sentinel: "bigin: INVALID_DATA", Photo: true}},
		{name: "INTERNAL_ERROR", photo: true, exists: true, failNext: []string{"INTERNAL_ERROR"},
			want: outcome{Class: errclass.Retry, Sentinel: "bigin: INTERNAL_ERROR", Photo: true}},
		{name: "TOO_MANY_REQUESTS", photo: true, exists: true, failNext: []string{"TOO_MANY_REQUESTS"},
			want: outcome{Class: errclass.Retry, Sentinel: "bigin: TOO_MANY_REQUESTS", Photo: true}},
		{name: "INVALID_TOKEN once: refreshed and resent", photo: true, exists: true, failNext: []string{"INVALID_TOKEN"},
			want: outcome{Deletes: 1}},
		{name: "INVALID_TOKEN twice: retry later", photo: true, exists: true, failNext: []string{"INVALID_TOKEN", "INVALID_TOKEN"},
			want: outcome{Class: errclass.Retry, Sentinel: "bigin: INVALID_TOKEN", Photo: true}},
	}...)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := setup(t, biginsim.Options{})
			if tt.exists {
				b.sim.AddRecord("Contacts", id, tt.photo)
			}
			for _, code := range tt.failNext {
				b.sim.FailNext(code, 1)
			}
			module, rid := cmpOr(tt.module, "Contacts"), cmpOr(tt.id, id)
			err := b.client(t).DeleteRecordPhoto(context.Background(), module, rid)
			got := outcome{Class: errclass.Of(err), Sentinel: sentinelOf(err),
				Photo: b.sim.HasPhoto("Contacts", id), Deletes: b.sim.PhotoDeletes("Contacts", id)}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("DeleteRecordPhoto(%s, %s) = %v; outcome (-want +got):\n%s", module, rid, err, diff)
			}
		})
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func TestThrottledCarriesTheDelay(t *testing.T) {
	b := setup(t, biginsim.Options{})
	b.sim.AddRecord("Contacts", "1", true)
	b.sim.FailNext("TOO_MANY_REQUESTS", 1)
	err := b.client(t).DeleteRecordPhoto(context.Background(), "Contacts", "1")
	d, _ := errclass.Delay(err)
	if !errclass.IsThrottled(err) || d != 2*time.Second {
		t.Errorf("got %v (throttled %v, delay %v), want throttled for 2s", err, errclass.IsThrottled(err), d)
	}
}

func TestHasRecordPhoto(t *testing.T) {
	b := setup(t, biginsim.Options{})
	b.sim.AddRecord("Accounts", "1", true)
	b.sim.AddRecord("Accounts", "2", false)
	c := b.client(t)
	type result struct {
		Has   bool
		Class errclass.Class
	}
	tests := []struct {
		id   string
		want result
	}{
		{"1", result{Has: true}},
		{"2", result{Has: false}},
		{"3", result{Class: errclass.Unconfirmed}}, // INVALID_DATA: not proof of no photo
		{"x", result{Class: errclass.Permanent}},
	}
	for _, tt := range tests {
		has, err := c.HasRecordPhoto(context.Background(), "Accounts", tt.id)
		if diff := cmp.Diff(tt.want, result{has, errclass.Of(err)}); diff != "" {
			t.Errorf("HasRecordPhoto(%s) (-want +got):\n%s", tt.id, diff)
		}
	}
}

// The token endpoint's refusals say what to do: fix the configuration, or
// wait for the mint limit to pass.
func TestTokenRefused(t *testing.T) {
	tests := []struct {
		name string
		edit func(*bigin.Config)
		want outcome
	}{
		{"wrong secret", func(c *bigin.Config) { c.ClientSecret = "wrong" },
			outcome{Class: errclass.Permanent, Sentinel: "bigin: token refresh refused", Photo: true}},
		{"wrong client", func(c *bigin.Config) { c.ClientID = "1000.OTHER" },
			outcome{Class: errclass.Permanent, Sentinel: "bigin: token refresh refused", Photo: true}},
		{"revoked refresh token", func(c *bigin.Config) { c.RefreshToken = "1000.revoked" },
			outcome{Class: errclass.Permanent, Sentinel: "bigin: token refresh refused", Photo: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := setup(t, biginsim.Options{})
			b.sim.AddRecord("Products", "7", true)
			err := b.client(t, tt.edit).DeleteRecordPhoto(context.Background(), "Products", "7")
			got := outcome{Class: errclass.Of(err), Sentinel: sentinelOf(err), Photo: b.sim.HasPhoto("Products", "7")}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("%v (-want +got):\n%s", err, diff)
			}
		})
	}
}

func TestMintLimitIsThrottling(t *testing.T) {
	b := setup(t, biginsim.Options{MintLimit: 1})
	b.sim.AddRecord("Products", "7", true)
	c := b.client(t)
	if _, err := c.HasRecordPhoto(context.Background(), "Products", "7"); err != nil {
		t.Fatal(err)
	}
	b.sim.ExpireTokens()
	err := c.DeleteRecordPhoto(context.Background(), "Products", "7")
	d, _ := errclass.Delay(err)
	if !errors.Is(err, bigin.ErrTokenRateLimited) || !errclass.IsThrottled(err) || d != time.Minute {
		t.Errorf("got %v (throttled %v, delay %v), want ErrTokenRateLimited throttled for 1m", err, errclass.IsThrottled(err), d)
	}
}

// Expiring every token while three clients (as three processes would) run
// concurrently costs one refresh, not one per client or per request.
func TestExpiredTokenRefreshedOnceAcrossClients(t *testing.T) {
	b := setup(t, biginsim.Options{})
	const n = 30
	for i := range n {
		b.sim.AddRecord("Contacts", strconv.Itoa(i), true)
	}
	clients := []*bigin.Client{b.client(t), b.client(t), b.client(t)}
	for _, c := range clients {
		if _, err := c.HasRecordPhoto(context.Background(), "Contacts", "0"); err != nil {
			t.Fatal(err)
		}
	}
	if got := b.sim.TokensMinted(); got != 1 {
		t.Fatalf("three clients minted %d tokens, want 1", got)
	}
	b.sim.ExpireTokens()
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			errs[i] = clients[i%3].DeleteRecordPhoto(context.Background(), "Contacts", strconv.Itoa(i))
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if got := b.sim.TokensMinted(); got != 2 {
		t.Errorf("after expiry, %d tokens minted in all, want 2", got)
	}
}

// The token lives in Redis a little less than Zoho keeps it, and once a
// process has it, calls do not go back to Redis.
func TestTokenCachedInRedisAndInProcess(t *testing.T) {
	b := setup(t, biginsim.Options{})
	b.sim.AddRecord("Contacts", "1", true)
	c := b.client(t)
	if _, err := c.HasRecordPhoto(context.Background(), "Contacts", "1"); err != nil {
		t.Fatal(err)
	}
	keys := b.mr.Keys()
	if len(keys) != 1 || !strings.HasPrefix(keys[0], "lifecycle:zoho:token:") {
		t.Fatalf("Redis keys %v, want one lifecycle:zoho:token:*", keys)
	}
	if got, want := b.mr.TTL(keys[0]), 55*time.Minute; got != want {
		t.Errorf("token TTL %v, want %v (an hour minus the safety margin)", got, want)
	}
	before := b.mr.CommandCount()
	for range 10 {
		if _, err := c.HasRecordPhoto(context.Background(), "Contacts", "1"); err != nil {
			t.Fatal(err)
		}
	}
	if got := b.mr.CommandCount() - before; got != 0 {
		t.Errorf("10 calls sent %d Redis commands, want 0", got)
	}
}

// A 5xx injected by the fault middleware (not Bigin's JSON) is retryable.
func TestInjectedFaultsAreRetryable(t *testing.T) {
	b := setup(t, biginsim.Options{})
	b.sim.AddRecord("Contacts", "1", true)
	c := b.client(t)
	if _, err := c.HasRecordPhoto(context.Background(), "Contacts", "1"); err != nil {
		t.Fatal(err)
	}
	cfg := b.sim.Faults().Config()
	cfg.ErrorRate = 1
	b.sim.Faults().Set(cfg)
	err := c.DeleteRecordPhoto(context.Background(), "Contacts", "1")
	if errclass.Of(err) != errclass.Retry || err == nil {
		t.Errorf("got %v (%s), want a retryable error", err, errclass.Of(err))
	}
}

func TestNewValidates(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer rdb.Close()
	good := bigin.Config{DataCenter: "eu", ClientID: "id", ClientSecret: "s3cret", RefreshToken: "r3fresh", Redis: rdb}
	tests := []struct {
		name string
		edit func(*bigin.Config)
		want string // "" for no error
	}{
		{"data centre", func(*bigin.Config) {}, ""},
		{"explicit URLs", func(c *bigin.Config) {
			c.DataCenter, c.AccountsURL, c.APIDomain = "", "http://127.0.0.1:1", "http://127.0.0.1:2"
		}, ""},
		{"unknown data centre", func(c *bigin.Config) { c.DataCenter = "mars" }, `bigin: Config.DataCenter "mars" is not one of us, eu, in, au, jp, cn, sa, ca`},
		{"no URLs", func(c *bigin.Config) { c.DataCenter = "" }, "bigin: Config.AccountsURL is required (or set Config.DataCenter)"},
		{"bad URL", func(c *bigin.Config) { c.APIDomain = "ftp://x" }, `bigin: Config.APIDomain "ftp://x" is not an http(s) URL`},
		{"client id", func(c *bigin.Config) { c.ClientID = "" }, "bigin: Config.ClientID is required"},
		{"secret", func(c *bigin.Config) { c.ClientSecret = "" }, "bigin: Config.ClientSecret is required"},
		{"refresh token", func(c *bigin.Config) { c.RefreshToken = "" }, "bigin: Config.RefreshToken is required"},
		{"redis", func(c *bigin.Config) { c.Redis = nil }, "bigin: Config.Redis is required (the access token is shared by every process)"},
	}
	for _, tt := range tests {
		cfg := good
		tt.edit(&cfg)
		_, err := bigin.New(cfg)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tt.want {
			t.Errorf("%s: New() error %q, want %q", tt.name, got, tt.want)
		}
	}
}
