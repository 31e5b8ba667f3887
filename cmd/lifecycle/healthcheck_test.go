package main

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestHealthcheck: the container health check passes only on a 200, and
// says in one line what it got otherwise.
func TestHealthcheck(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	type result struct {
		Code   int
		Stdout string
		Stderr string
	}
	tests := []struct {
		url  string
		want result
	}{
		{srv.URL + "/healthz", result{exitOK, srv.URL + "/healthz: 200 OK\n", ""}},
		{srv.URL + "/readyz", result{exitFailure, "", "lifecycle healthcheck: " + srv.URL + "/readyz: 503 Service Unavailable\n"}},
		{"ftp://x/healthz", result{exitUsage, "", "lifecycle healthcheck: --url: want http://host:port/path, got \"ftp://x/healthz\"\n"}},
	}
	for _, tt := range tests {
		code, out, errOut := run(t, nil, "healthcheck", "--url", tt.url)
		if diff := cmp.Diff(tt.want, result{code, out, errOut}); diff != "" {
			t.Errorf("healthcheck --url %s (-want +got):\n%s", tt.url, diff)
		}
	}
	// Without --url it probes the port the server was told to listen on,
	// on loopback when that is every address.
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	code, out, errOut := run(t, map[string]string{"LIFECYCLE_HTTP_ADDR": "0.0.0.0:" + port}, "healthcheck")
	if diff := cmp.Diff(result{exitOK, "http://127.0.0.1:" + port + "/healthz: 200 OK\n", ""}, result{code, out, errOut}); diff != "" {
		t.Errorf("healthcheck with LIFECYCLE_HTTP_ADDR (-want +got):\n%s", diff)
	}
	if code, _, errOut := run(t, nil, "healthcheck", "--url", closed.URL+"/healthz"); code != exitFailure || errOut == "" {
		t.Errorf("healthcheck of a closed port: exit %d, stderr %q; want exit 1 with the reason", code, errOut)
	}
}
