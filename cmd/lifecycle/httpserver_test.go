package main

import (
	"net/http"
	"strings"
	"testing"
)

// TestHTTPServerBoundsClients: idle keep-alive connections are closed, slow
// headers time out and headers are bounded, so that 800 idle connections
// are not held for ever (issue 13, finding 7).
func TestHTTPServerBoundsClients(t *testing.T) {
	srv := newHTTPServer(http.NotFoundHandler())
	if srv.ReadHeaderTimeout <= 0 || srv.IdleTimeout <= 0 || srv.MaxHeaderBytes <= 0 || srv.MaxHeaderBytes > 1<<16 {
		t.Errorf("server: ReadHeaderTimeout %v, IdleTimeout %v, MaxHeaderBytes %d; want all set, headers at most 64 kB",
			srv.ReadHeaderTimeout, srv.IdleTimeout, srv.MaxHeaderBytes)
	}
}

// TestWeakTokenExitsTwo: a token of whitespace or too short stops the API
// at start with exit status 2, naming the variable (issue 13, finding 5).
func TestWeakTokenExitsTwo(t *testing.T) {
	for _, token := range []string{" ", "x"} {
		code, _, errOut := run(t, map[string]string{"LIFECYCLE_API_TOKEN": token, "LIFECYCLE_REDIS_URL": "redis://127.0.0.1:1"}, "api")
		if code != exitUsage || !strings.Contains(errOut, "LIFECYCLE_API_TOKEN") {
			t.Errorf("token %q: exit %d, %q; want 2 naming LIFECYCLE_API_TOKEN", token, code, errOut)
		}
	}
}
