package simserver

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestServesOnLoopbackOnly(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", "10.0.0.1:80", "example.com:80", "nonsense"} {
		var s Server
		if _, err := s.Start("sim", addr, http.NotFoundHandler()); err == nil {
			s.Close()
			t.Errorf("Start(%q) accepted a non-loopback address", addr)
		}
	}
	var s Server
	url, err := s.Start("sim", "", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hi") }))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(url, "http://127.0.0.1:") || s.URL() != url {
		t.Errorf("url %q, URL() %q", url, s.URL())
	}
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "hi" {
		t.Errorf("served %q", body)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get(url); err == nil {
		t.Error("still serving after Close")
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}
