package artifi_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lifecycle-worker/lifecycle/internal/errclass"
	"github.com/lifecycle-worker/lifecycle/internal/sim/artifisim"
	"github.com/lifecycle-worker/lifecycle/internal/upstream/artifi"
)

const (
	websiteID = 422
	clientKey = "c961461a-b287-448c-b9ea-e1162bd80b8e+/="
)

// outcome is what a caller of the client can observe about an error.
type outcome struct {
	Class     errclass.Class
	Sentinel  error
	Code      string
	Delay     time.Duration
	Throttled bool
}

var sentinels = []error{
	artifi.ErrInvalidPhotoID, artifi.ErrInvalidUserID, artifi.ErrInvalidOldUserID,
	artifi.ErrInvalidWebsite, artifi.ErrInvalidClientKey, artifi.ErrServer,
	artifi.ErrValidation, artifi.ErrUnexpected,
}

func outcomeOf(err error) outcome {
	o := outcome{Class: errclass.Of(err), Throttled: errclass.IsThrottled(err)}
	o.Delay, _ = errclass.Delay(err)
	for _, s := range sentinels {
		if errors.Is(err, s) {
			o.Sentinel = s
		}
	}
	var ae *artifi.Error
	if errors.As(err, &ae) {
		o.Code = ae.Code
	}
	return o
}

var cmpErrors = cmp.Comparer(func(a, b error) bool { return a == b })

// recorder keeps the last response body the simulator sent, so that a test
// can check the bytes on the wire.
type recorder struct {
	mu   sync.Mutex
	last []byte
}

func (rec *recorder) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tw := &teeWriter{ResponseWriter: w}
		h.ServeHTTP(tw, r)
		rec.mu.Lock()
		rec.last = tw.buf.Bytes()
		rec.mu.Unlock()
	})
}

func (rec *recorder) body() []byte {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return rec.last
}

type teeWriter struct {
	http.ResponseWriter
	buf bytes.Buffer
}

func (t *teeWriter) Write(b []byte) (int, error) {
	t.buf.Write(b)
	return t.ResponseWriter.Write(b)
}

type bundle struct {
	url    string
	sim    *artifisim.Server
	client *artifi.Client
	rec    *recorder
}

func setup(t *testing.T, opts artifisim.Options) bundle {
	t.Helper()
	if opts.WebsiteID == 0 {
		opts.WebsiteID = websiteID
	}
	if opts.ClientKey == "" {
		opts.ClientKey = clientKey
	}
	sim := artifisim.New(opts)
	rec := &recorder{}
	srv := httptest.NewServer(rec.wrap(sim.Handler()))
	t.Cleanup(srv.Close)
	c, err := artifi.New(artifi.Config{BaseURL: srv.URL, WebsiteID: websiteID, ClientKey: clientKey, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return bundle{url: srv.URL, sim: sim, client: c, rec: rec}
}

// TestDocumentedBodiesMatchSeeds holds the testdata copies to the seed pages.
func TestDocumentedBodiesMatchSeeds(t *testing.T) {
	var seeds strings.Builder
	for _, f := range []string{"000_57ef57cf4ad0c8bc.txt", "001_e3985abe5d064d12.txt", "003_acfbb4ab90c2f91b.txt"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "..", "testdata", "seeds", f))
		if err != nil {
			t.Fatal(err)
		}
		// Undo the page extraction: NBSP for spaces, a blank line between lines.
		for _, line := range strings.Split(strings.ReplaceAll(string(b), "\u00a0", " "), "\n") {
			if strings.TrimSpace(line) != "" {
				seeds.WriteString(line + "\n")
			}
		}
	}
	names := []string{
		artifi.BodyDeletePhotoV3Success, artifi.BodyDeletePhotoV3Err227,
		artifi.BodyDeletePhotoV4Success, artifi.BodyDeletePhotoV4Err327,
		artifi.BodyUpdateUserIDSuccess, artifi.BodyUpdateUserIDErr232,
	}
	for _, name := range names {
		onDisk, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(onDisk, artifi.DocumentedBody(name)) {
			t.Errorf("%s: embedded body differs from the file", name)
		}
		if !strings.Contains(seeds.String(), string(onDisk)+"\n") {
			t.Errorf("%s is not a body of the seed pages:\n%s", name, onDisk)
		}
	}
}

// TestContract runs every call against the simulator, for every answer the
// documentation shows: the simulator must send the documented bytes and the
// client must read them as the mapping table says.
func TestContract(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name     string
		seed     func(*artifisim.Server) (userID, photoID string)
		call     func(c *artifi.Client, userID, photoID string) error
		wantBody string // a documented body, "" when the documentation shows none
		want     outcome
	}{
		{
			name:     "v3 delete",
			seed:     photoOf("u1"),
			call:     func(c *artifi.Client, u, p string) error { return c.DeleteUserPhotoV3(ctx, u, p) },
			wantBody: artifi.BodyDeletePhotoV3Success,
		},
		{
			name:     "v3 delete, unknown user",
			seed:     func(*artifisim.Server) (string, string) { return "nobody", "100001" },
			call:     func(c *artifi.Client, u, p string) error { return c.DeleteUserPhotoV3(ctx, u, p) },
			wantBody: artifi.BodyDeletePhotoV3Err227,
			want:     outcome{Class: errclass.AlreadyGone, Sentinel: artifi.ErrInvalidUserID, Code: "227"},
		},
		{
			name:     "v3 delete, unknown photo",
			seed:     func(s *artifisim.Server) (string, string) { s.AddUser("u1"); return "u1", "999" },
			call:     func(c *artifi.Client, u, p string) error { return c.DeleteUserPhotoV3(ctx, u, p) },
			wantBody: artifi.BodyDeletePhotoV4Err327,
			// Seed 000 (v3) does not document 327: no proof of absence.
			want: outcome{Class: errclass.Unconfirmed, Sentinel: artifi.ErrInvalidPhotoID, Code: "327"},
		},
		{
			name:     "v4 delete",
			seed:     photoOf("u1"),
			call:     func(c *artifi.Client, u, p string) error { return c.DeleteUserPhotoV4(ctx, u, p) },
			wantBody: artifi.BodyDeletePhotoV4Success,
		},
		{
			name:     "v4 delete, unknown photo",
			seed:     func(s *artifisim.Server) (string, string) { s.AddPhotos("u1", 1); return "u1", "999" },
			call:     func(c *artifi.Client, u, p string) error { return c.DeleteUserPhotoV4(ctx, u, p) },
			wantBody: artifi.BodyDeletePhotoV4Err327,
			want:     outcome{Class: errclass.AlreadyGone, Sentinel: artifi.ErrInvalidPhotoID, Code: "327"},
		},
		{
			name:     "v4 delete, unknown user",
			seed:     func(*artifisim.Server) (string, string) { return "nobody", "1" },
			call:     func(c *artifi.Client, u, p string) error { return c.DeleteUserPhotoV4(ctx, u, p) },
			wantBody: artifi.BodyDeletePhotoV3Err227,
			// Seed 001 (v4) does not document 227.
			want: outcome{Class: errclass.Unconfirmed, Sentinel: artifi.ErrInvalidUserID, Code: "227"},
		},
		{
			name:     "update user id",
			seed:     func(s *artifisim.Server) (string, string) { s.AddDesigns("guest-1", 2); return "guest-1", "" },
			call:     func(c *artifi.Client, u, _ string) error { return c.UpdateUserID(ctx, "reg-1", u, true) },
			wantBody: artifi.BodyUpdateUserIDSuccess,
		},
		{
			name:     "update user id, unknown old id",
			seed:     func(*artifisim.Server) (string, string) { return "guest-gone", "" },
			call:     func(c *artifi.Client, u, _ string) error { return c.UpdateUserID(ctx, "reg-1", u, true) },
			wantBody: artifi.BodyUpdateUserIDErr232,
			want:     outcome{Class: errclass.AlreadyGone, Sentinel: artifi.ErrInvalidOldUserID, Code: "232"},
		},
		{
			name: "delete designs",
			seed: func(s *artifisim.Server) (string, string) { s.AddDesigns("u1", 3); return "u1", "" },
			call: func(c *artifi.Client, u, _ string) error { return c.DeleteDesignsByUserID(ctx, u) },
		},
		{
			name: "delete designs, unknown user (numeric ErrorCode)",
			seed: func(*artifisim.Server) (string, string) { return "nobody", "" },
			call: func(c *artifi.Client, u, _ string) error { return c.DeleteDesignsByUserID(ctx, u) },
			want: outcome{Class: errclass.Unconfirmed, Sentinel: artifi.ErrInvalidUserID, Code: "227"},
		},
		{
			name: "list photos (camelCase, null errorCode)",
			seed: photoOf("u1"),
			call: func(c *artifi.Client, u, _ string) error { _, err := c.ListUserPhotos(ctx, u, 1, 10); return err },
		},
		{
			name: "list photos, unknown user",
			seed: func(*artifisim.Server) (string, string) { return "nobody", "" },
			call: func(c *artifi.Client, u, _ string) error { _, err := c.ListUserPhotos(ctx, u, 1, 10); return err },
			want: outcome{Class: errclass.Unconfirmed, Sentinel: artifi.ErrInvalidUserID, Code: "261"},
		},
	}
	for _, errorStatus := range []int{0, http.StatusUnauthorized} {
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s/errors as HTTP %d", tt.name, max(errorStatus, 200)), func(t *testing.T) {
				b := setup(t, artifisim.Options{ErrorStatus: errorStatus})
				userID, photoID := tt.seed(b.sim)
				err := tt.call(b.client, userID, photoID)
				if diff := cmp.Diff(tt.want, outcomeOf(err), cmpErrors); diff != "" {
					t.Errorf("outcome (-want +got):\n%s\nerror: %v", diff, err)
				}
				if tt.wantBody != "" {
					if diff := cmp.Diff(string(artifi.DocumentedBody(tt.wantBody)), string(b.rec.body())); diff != "" {
						t.Errorf("simulator body (-documented +served):\n%s", diff)
					}
				}
			})
		}
	}
}

func photoOf(userID string) func(*artifisim.Server) (string, string) {
	return func(s *artifisim.Server) (string, string) { return userID, s.AddPhotos(userID, 1)[0] }
}

func TestErrorText(t *testing.T) {
	b := setup(t, artifisim.Options{})
	b.sim.AddUser("u1")
	err := b.client.DeleteUserPhotoV4(context.Background(), "u1", "42")
	if diff := cmp.Diff("artifi DeleteUserPhotoV4: Invalid Photo Id (code 327, HTTP 200)", err.Error()); diff != "" {
		t.Error(diff)
	}
}

// TestStateChanges checks that what the calls do to Artifi's data is what
// the documentation says they do.
func TestStateChanges(t *testing.T) {
	ctx := context.Background()
	b := setup(t, artifisim.Options{})
	guestPhotos := b.sim.AddPhotos("guest-7", 3)
	b.sim.AddDesigns("guest-7", 2)
	b.sim.AddCartItems("guest-7", 1)
	regPhotos := b.sim.AddPhotos("reg-7", 1)
	b.sim.AddDesigns("reg-7", 1)

	if err := b.client.UpdateUserID(ctx, "reg-7", "guest-7", true); err != nil {
		t.Fatal(err)
	}
	type state struct {
		GuestExists      bool
		Photos           []string
		Designs, Cart    int
		Merges           int
		GuestAfterRetry  errclass.Class
		MergesAfterRetry int
	}
	got := state{
		GuestExists: b.sim.UserExists("guest-7"),
		Photos:      b.sim.Photos("reg-7"),
		Designs:     b.sim.Designs("reg-7"),
		Cart:        b.sim.CartItems("reg-7"),
		Merges:      b.sim.Merges(),
	}
	// A retry after a lost answer: 232, already gone, nothing applied twice.
	got.GuestAfterRetry = errclass.Of(b.client.UpdateUserID(ctx, "reg-7", "guest-7", true))
	got.MergesAfterRetry = b.sim.Merges()
	want := state{
		Photos:  append(regPhotos, guestPhotos...),
		Designs: 3, Cart: 1, Merges: 1,
		GuestAfterRetry: errclass.AlreadyGone, MergesAfterRetry: 1,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("after UpdateUserId (-want +got):\n%s", diff)
	}

	if err := b.client.DeleteDesignsByUserID(ctx, "reg-7"); err != nil {
		t.Fatal(err)
	}
	if n := b.sim.Designs("reg-7"); n != 0 {
		t.Errorf("designs after DeleteDesignsbyUserId = %d, want 0", n)
	}
}

func TestAllUserPhotoIDs(t *testing.T) {
	ctx := context.Background()
	b := setup(t, artifisim.Options{})
	want := b.sim.AddPhotos("u1", 2*artifi.PageSizeDefault+37)
	b.sim.AddPhotos("someone-else", 5)
	got, err := b.client.AllUserPhotoIDs(ctx, "u1")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("AllUserPhotoIDs (-want +got):\n%s", diff)
	}
	if n := b.sim.Requests()["GET /api/4/UploadImage/GetUserUploadedList"]; n != 4 {
		t.Errorf("%d list requests, want 3 pages and the empty one after", n)
	}

	b.sim.AddUser("empty")
	got, err = b.client.AllUserPhotoIDs(ctx, "empty")
	if err != nil || got == nil || len(got) != 0 {
		t.Errorf("AllUserPhotoIDs(empty) = %#v, %v; want an empty list, nil", got, err)
	}
	// "Unknown user" on the undocumented listing proves no absence.
	if got, err := b.client.AllUserPhotoIDs(ctx, "unknown"); errclass.Of(err) != errclass.Unconfirmed || got != nil {
		t.Errorf("AllUserPhotoIDs(unknown) = %#v, %v; want nil and an unconfirmed error", got, err)
	}
}

// TestAllUserPhotoIDsNeverShort: a server whose pages do not add up (here a
// 0-based one, whose page 1 is the second) must not yield a short list that
// an erasure would take for everything.
func TestAllUserPhotoIDsNeverShort(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body := `{"Response":"Success","Message":"","Data":{"AssetCount":3,"AssetList":[]},"ErrorCode":""}`
		if r.URL.Query().Get("pageIndex") == "1" {
			body = `{"Response":"Success","Message":"","Data":{"AssetCount":3,"AssetList":[{"Id":3}]},"ErrorCode":""}`
		}
		_, _ = io.WriteString(w, body)
	}))
	defer srv.Close()
	c := newRawClient(t, srv.URL)
	got, err := c.AllUserPhotoIDs(context.Background(), "u1")
	if errclass.Of(err) != errclass.Unconfirmed || got != nil {
		t.Errorf("AllUserPhotoIDs = %v, %v; want nil and an unconfirmed error", got, err)
	}
}

// TestAllUserPhotoIDsNeedsTheTotal: pages without AssetCount prove nothing
// about what they left out.
func TestAllUserPhotoIDsNeedsTheTotal(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"Response":"Success","Message":"","Data":{"AssetList":[{"Id":1},{"Id":2}]},"ErrorCode":""}`)
	}))
	defer srv.Close()
	got, err := newRawClient(t, srv.URL).AllUserPhotoIDs(context.Background(), "u1")
	if errclass.Of(err) != errclass.Unconfirmed || got != nil {
		t.Errorf("AllUserPhotoIDs = %v, %v; want nil and an unconfirmed error", got, err)
	}
}

func newRawClient(t *testing.T, url string) *artifi.Client {
	t.Helper()
	c, err := artifi.New(artifi.Config{BaseURL: url, WebsiteID: websiteID, ClientKey: clientKey, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestVariants feeds the client the other shapes Artifi's answers come in.
func TestVariants(t *testing.T) {
	ctx := context.Background()
	deleteV4 := func(c *artifi.Client) error { return c.DeleteUserPhotoV4(ctx, "u1", "1") }
	update := func(c *artifi.Client) error { return c.UpdateUserID(ctx, "new", "old", false) }
	tests := []struct {
		name   string
		status int
		header map[string]string
		body   string
		call   func(*artifi.Client) error
		want   outcome
	}{
		{"success, null ErrorCode", 200, nil,
			`{"Response":"Success","Message":"The Image has been successfully deleted.","Data":null,"ErrorCode":null}`,
			deleteV4, outcome{}},
		{"success, camelCase", 200, nil,
			`{"response":"Success","message":"ok","data":null,"errorCode":""}`, deleteV4, outcome{}},
		{"success, lower-case value", 200, nil, `{"Response":"success","ErrorCode":""}`, deleteV4, outcome{}},
		{"numeric ErrorCode", 200, nil,
			`{"Response":"Error","Message":"Invalid Photo Id","Data":null,"ErrorCode":327}`,
			deleteV4, outcome{Class: errclass.AlreadyGone, Sentinel: artifi.ErrInvalidPhotoID, Code: "327"}},
		{"camelCase error", 200, nil,
			`{"response":"Error","message":"Invalid Photo Id","data":null,"errorCode":"327"}`,
			deleteV4, outcome{Class: errclass.AlreadyGone, Sentinel: artifi.ErrInvalidPhotoID, Code: "327"}},
		{"error with null ErrorCode", 200, nil,
			`{"Response":"Error","Message":"Something failed","Data":null,"ErrorCode":null}`,
			deleteV4, outcome{Class: errclass.Unconfirmed, Sentinel: artifi.ErrUnexpected}},
		{"undocumented code", 200, nil, `{"Response":"Error","Message":"?","ErrorCode":"999"}`,
			deleteV4, outcome{Class: errclass.Unconfirmed, Sentinel: artifi.ErrUnexpected, Code: "999"}},
		{"232 on a delete is not a merge", 400, nil, `{"Response":"Error","Message":"?","ErrorCode":"232"}`,
			deleteV4, outcome{Class: errclass.Permanent, Sentinel: artifi.ErrUnexpected, Code: "232"}},
		{"numeric 232 on UpdateUserId", 200, nil, `{"Response":"Error","Message":"Invalid old User Id.","ErrorCode":232}`,
			update, outcome{Class: errclass.AlreadyGone, Sentinel: artifi.ErrInvalidOldUserID, Code: "232"}},
		{"227 on UpdateUserId is ours", 200, nil, `{"Response":"Error","Message":"Invalid user id.","ErrorCode":"227"}`,
			update, outcome{Class: errclass.Permanent, Sentinel: artifi.ErrInvalidUserID, Code: "227"}},
		{"221 website", 200, nil, `{"Response":"Error","Message":"Invalid website.","ErrorCode":"221"}`,
			deleteV4, outcome{Class: errclass.Permanent, Sentinel: artifi.ErrInvalidWebsite, Code: "221"}},
		{"372 missing website", 401, nil, `{"Response":"Error","Message":"WebsiteId is required.","ErrorCode":"372"}`,
			deleteV4, outcome{Class: errclass.Permanent, Sentinel: artifi.ErrInvalidWebsite, Code: "372"}},
		{"226 key", 200, nil, `{"Response":"Error","Message":"Key is required.","ErrorCode":"226"}`,
			update, outcome{Class: errclass.Permanent, Sentinel: artifi.ErrInvalidClientKey, Code: "226"}},
		{"500 in the envelope, 503 with Retry-After", 503, map[string]string{"Retry-After": "2"},
			`{"Response":"Error","Message":"Internal error","ErrorCode":"500"}`,
			deleteV4, outcome{Class: errclass.Retry, Sentinel: artifi.ErrServer, Code: "500", Delay: 2 * time.Second}},
		{"ProblemDetails", 400, map[string]string{"Content-Type": "application/problem+json"},
			`{"type":"https://tools.ietf.org/html/rfc9110#section-15.5.1","title":"One or more validation errors occurred.","status":400,"errors":{"userId":["The userId field is required."],"photoId":["x"]}}`,
			deleteV4, outcome{Class: errclass.Permanent, Sentinel: artifi.ErrValidation}},
		{"ProblemDetails 500", 500, nil, `{"title":"Server error","status":500}`,
			deleteV4, outcome{Class: errclass.Retry, Sentinel: artifi.ErrValidation}},
		{"HTML 502 from a proxy", 502, map[string]string{"Content-Type": "text/html"},
			`<html><body><h1>502 Bad Gateway</h1></body></html>`,
			deleteV4, outcome{Class: errclass.Retry, Sentinel: artifi.ErrUnexpected}},
		{"HTML 404", 404, nil, `<html>Not Found</html>`,
			deleteV4, outcome{Class: errclass.Permanent, Sentinel: artifi.ErrUnexpected}},
		{"HTML 200", 200, nil, `<html>maintenance</html>`,
			deleteV4, outcome{Class: errclass.Unconfirmed, Sentinel: artifi.ErrUnexpected}},
		{"empty 200", 200, nil, ``, deleteV4, outcome{Class: errclass.Unconfirmed, Sentinel: artifi.ErrUnexpected}},
		{"429 with Retry-After", 429, map[string]string{"Retry-After": "7"}, `{"Response":"Error","ErrorCode":"327"}`,
			deleteV4, outcome{Class: errclass.Retry, Sentinel: artifi.ErrUnexpected, Delay: 7 * time.Second, Throttled: true}},
		{"redirect not followed", 302, map[string]string{"Location": "http://elsewhere.invalid/"}, ``,
			deleteV4, outcome{Class: errclass.Permanent, Sentinel: artifi.ErrUnexpected}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tt.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tt.status)
				_, _ = io.WriteString(w, tt.body)
			}))
			defer srv.Close()
			err := tt.call(newRawClient(t, srv.URL))
			if diff := cmp.Diff(tt.want, outcomeOf(err), cmpErrors); diff != "" {
				t.Errorf("outcome (-want +got):\n%s\nerror: %v", diff, err)
			}
		})
	}
}

func TestProblemDetailsNamesTheFields(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(400)
		_, _ = io.WriteString(w, `{"title":"One or more validation errors occurred.","status":400,"errors":{"userId":["The value 'secret-ish' is not valid."],"photoId":["x"]}}`)
	}))
	defer srv.Close()
	err := newRawClient(t, srv.URL).DeleteUserPhotoV4(context.Background(), "u", "p")
	want := "artifi DeleteUserPhotoV4: One or more validation errors occurred. (fields: photoId, userId) (HTTP 400)"
	if diff := cmp.Diff(want, err.Error()); diff != "" {
		t.Error(diff)
	}
}

// TestSimulatorProblemDetails: with the switch on, the simulator answers a
// missing parameter as ASP.NET validation does, and the client reads it.
func TestSimulatorProblemDetails(t *testing.T) {
	b := setup(t, artifisim.Options{ProblemDetails: true})
	req, _ := http.NewRequest(http.MethodGet, b.url+"/api/4/UploadImage/DeleteUserPhoto?userId=u1", nil)
	req.Header.Set("websiteId", "422")
	req.Header.Set("webApiClientKey", clientKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || !strings.Contains(string(body), `"errors":{"photoId":["The photoId field is required."]}`) {
		t.Errorf("got %d %s, want a ProblemDetails 400 naming photoId", resp.StatusCode, body)
	}
}

func TestNewValidates(t *testing.T) {
	good := artifi.Config{BaseURL: "https://api.artifi.net", WebsiteID: 1, ClientKey: clientKey}
	tests := []struct {
		name  string
		edit  func(*artifi.Config)
		field string // "" : valid
	}{
		{"valid", func(*artifi.Config) {}, ""},
		{"no base URL", func(c *artifi.Config) { c.BaseURL = "" }, "BaseURL"},
		{"relative base URL", func(c *artifi.Config) { c.BaseURL = "api.artifi.net" }, "BaseURL"},
		{"base URL with query", func(c *artifi.Config) { c.BaseURL = "https://a/?k=v" }, "BaseURL"},
		{"no website", func(c *artifi.Config) { c.WebsiteID = 0 }, "WebsiteID"},
		{"no key", func(c *artifi.Config) { c.ClientKey = " " }, "ClientKey"},
		{"negative timeout", func(c *artifi.Config) { c.Timeout = -time.Second }, "Timeout"},
	}
	for _, tt := range tests {
		cfg := good
		tt.edit(&cfg)
		_, err := artifi.New(cfg)
		switch {
		case tt.field == "" && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.field != "" && (err == nil || !strings.Contains(err.Error(), tt.field)):
			t.Errorf("%s: error %v, want one naming %s", tt.name, err, tt.field)
		case err != nil && strings.Contains(err.Error(), clientKey):
			t.Errorf("%s: error shows the key", tt.name)
		}
	}
}

func TestEmptyParametersArePermanentAndNotSent(t *testing.T) {
	ctx := context.Background()
	b := setup(t, artifisim.Options{})
	calls := map[string]error{
		"v3":      b.client.DeleteUserPhotoV3(ctx, "", "1"),
		"v4":      b.client.DeleteUserPhotoV4(ctx, "u", " "),
		"designs": b.client.DeleteDesignsByUserID(ctx, ""),
		"update":  b.client.UpdateUserID(ctx, "", "old", false),
	}
	for name, err := range calls {
		if errclass.Of(err) != errclass.Permanent {
			t.Errorf("%s: %v, want permanent", name, err)
		}
	}
	if st := b.sim.Faults().Stats(); len(st.Requests) != 0 {
		t.Errorf("requests sent: %v, want none", st.Requests)
	}
}

// countingLimiter checks that every call holds a slot and gives it back.
type countingLimiter struct {
	mu                 sync.Mutex
	acquired, released int
}

func (l *countingLimiter) Acquire(context.Context) (func(), error) {
	l.mu.Lock()
	l.acquired++
	l.mu.Unlock()
	return func() { l.mu.Lock(); l.released++; l.mu.Unlock() }, nil
}

func TestEveryCallHoldsTheLimiter(t *testing.T) {
	ctx := context.Background()
	sim := artifisim.New(artifisim.Options{WebsiteID: websiteID, ClientKey: clientKey})
	url, err := sim.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	lim := &countingLimiter{}
	c, err := artifi.New(artifi.Config{BaseURL: url, WebsiteID: websiteID, ClientKey: clientKey, Limiter: lim})
	if err != nil {
		t.Fatal(err)
	}
	ids := sim.AddPhotos("u1", 2)
	_ = c.DeleteUserPhotoV3(ctx, "u1", ids[0])
	_ = c.DeleteUserPhotoV4(ctx, "u1", ids[1])
	_, _ = c.ListUserPhotos(ctx, "u1", 1, 10)
	_ = c.DeleteDesignsByUserID(ctx, "u1")
	_ = c.UpdateUserID(ctx, "u2", "u1", false)
	if diff := cmp.Diff([2]int{5, 5}, [2]int{lim.acquired, lim.released}); diff != "" {
		t.Errorf("[acquired released] (-want +got):\n%s", diff)
	}
}
