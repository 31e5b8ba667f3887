// Package simserver serves an upstream simulator over HTTP on a loopback
// address. The simulators accept well-known test credentials, so this one
// place refuses any address another machine could reach.
package simserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"
)

// closeTimeout is how long Close waits for requests in flight.
const closeTimeout = 5 * time.Second

// Server is one simulator's listener. The zero value is ready to Start.
type Server struct {
	mu  sync.Mutex
	srv *http.Server
	url string
}

// Start serves h on addr ("" means 127.0.0.1 on a free port) in the
// background and returns the base URL. name prefixes errors.
func (s *Server) Start(name, addr string, h http.Handler) (string, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	if err := CheckLoopback(addr); err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("%s: listen %s: %w", name, addr, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.srv = &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	s.url = "http://" + ln.Addr().String()
	go func() { _ = s.srv.Serve(ln) }()
	return s.url, nil
}

// URL is the base URL once started, "" before.
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.url
}

// Close stops serving, waiting up to 5 s for requests in flight. It is safe
// to call before Start and more than once.
func (s *Server) Close() error {
	s.mu.Lock()
	srv := s.srv
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return srv.Close()
	}
	return nil
}

// CheckLoopback accepts host:port whose host is a loopback address or
// "localhost".
func CheckLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("address %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("%q is not a loopback address: the simulators accept test credentials", addr)
	}
	return nil
}
