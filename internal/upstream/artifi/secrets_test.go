package artifi_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/lifecycle-worker/lifecycle/internal/sim/artifisim"
	"github.com/lifecycle-worker/lifecycle/internal/upstream/artifi"
)

// TestNoCredentialInErrors runs every call against upstreams that fail in
// every way we can provoke, some of which echo the key back, and checks that
// no error text anywhere in the chain shows it. (The client does not log.)
func TestNoCredentialInErrors(t *testing.T) {
	echo := func(status int, body string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			key := r.Header.Get("webApiClientKey") + r.URL.Query().Get("webApiClientKey")
			w.WriteHeader(status)
			_, _ = io.WriteString(w, strings.ReplaceAll(body, "KEY", key))
		})
	}
	wrongKeySim := artifisim.New(artifisim.Options{WebsiteID: websiteID, ClientKey: "another-key"})
	servers := map[string]http.Handler{
		"simulator with another key": wrongKeySim.Handler(),
		"envelope echoing the key":   echo(200, `{"Response":"Error","Message":"Invalid key KEY","ErrorCode":"226"}`),
		"problem echoing the key": echo(400, `{"title":"The value 'KEY' is not valid.","status":400,`+
			`"errors":{"webApiClientKey":["The value 'KEY' is not valid."]}}`),
		"HTML echoing the key": echo(500, `<html>bad key KEY</html>`),
		"hanging": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-time.After(2 * time.Second):
			}
		}),
	}
	ctx := context.Background()
	calls := map[string]func(*artifi.Client) error{
		"DeleteUserPhotoV3":     func(c *artifi.Client) error { return c.DeleteUserPhotoV3(ctx, "u1", "1") },
		"DeleteUserPhotoV4":     func(c *artifi.Client) error { return c.DeleteUserPhotoV4(ctx, "u1", "1") },
		"ListUserPhotos":        func(c *artifi.Client) error { _, err := c.ListUserPhotos(ctx, "u1", 1, 10); return err },
		"AllUserPhotoIDs":       func(c *artifi.Client) error { _, err := c.AllUserPhotoIDs(ctx, "u1"); return err },
		"DeleteDesignsByUserID": func(c *artifi.Client) error { return c.DeleteDesignsByUserID(ctx, "u1") },
		"UpdateUserID":          func(c *artifi.Client) error { return c.UpdateUserID(ctx, "u2", "u1", true) },
	}
	forms := []string{clientKey, url.QueryEscape(clientKey), url.PathEscape(clientKey)}

	check := func(t *testing.T, where string, err error) {
		t.Helper()
		if err == nil {
			t.Errorf("%s: no error", where)
			return
		}
		for e := err; e != nil; e = errors.Unwrap(e) {
			for _, text := range []string{e.Error(), fmt.Sprintf("%+v", e), fmt.Sprintf("%#v", e)} {
				for _, f := range forms {
					if strings.Contains(text, f) {
						t.Errorf("%s: the key is in the error: %s", where, text)
					}
				}
			}
		}
	}

	for name, h := range servers {
		srv := httptest.NewServer(h)
		c, err := artifi.New(artifi.Config{BaseURL: srv.URL, WebsiteID: websiteID, ClientKey: clientKey, Timeout: 200 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		for op, call := range calls {
			check(t, name+"/"+op, call(c))
		}
		srv.Close()
	}

	// Nothing listening: the transport error prints the URL, which for v3
	// carries the key in its query.
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close()
	c, err := artifi.New(artifi.Config{BaseURL: srv.URL, WebsiteID: websiteID, ClientKey: clientKey})
	if err != nil {
		t.Fatal(err)
	}
	for op, call := range calls {
		check(t, "connection refused/"+op, call(c))
	}
	v3err := c.DeleteUserPhotoV3(ctx, "u1", "1")
	if !strings.Contains(v3err.Error(), "webApiClientKey=REDACTED") {
		t.Errorf("v3 transport error %q: want the URL kept with the key redacted", v3err)
	}
	var ue *url.Error
	if !errors.As(v3err, &ue) {
		t.Errorf("v3 transport error lost its *url.Error: %#v", v3err)
	}
}
