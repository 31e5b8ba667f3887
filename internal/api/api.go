// Package api is lifecycle's HTTP surface: liveness, readiness and metrics
// for operators, and the erasure routes of the privacy team.
package api

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"
)

// Pinger checks a dependency the process cannot work without.
type Pinger interface {
	Ping(ctx context.Context) error
}

// PingFunc adapts a function to Pinger.
type PingFunc func(ctx context.Context) error

func (f PingFunc) Ping(ctx context.Context) error { return f(ctx) }

// Params are what the HTTP server needs.
type Params struct {
	Redis    Pinger
	Gatherer prometheus.Gatherer
	Log      zerolog.Logger

	// Erasures serves the privacy team's /v1/erasures routes (erasures.go);
	// nil leaves them out.
	Erasures ErasureService

	// Token guards the /v1 routes: callers send "Authorization: Bearer
	// <Token>". Without one, /v1 answers loopback clients only: filing an
	// erasure deletes a person's data, so an address reachable from the
	// network must not accept it from anyone.
	Token string
}

// ReadyTimeout bounds the readiness probe's Redis ping, so that a hung Redis
// makes the probe fail rather than hang.
const ReadyTimeout = 2 * time.Second

// New returns the HTTP handler.
func New(p Params) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), ReadyTimeout)
		defer cancel()
		if err := p.Redis.Ping(ctx); err != nil {
			p.Log.Warn().Err(err).Msg("not ready: redis unreachable")
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "redis": "unreachable"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready", "redis": "ok"})
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(p.Gatherer, promhttp.HandlerOpts{}))
	if p.Erasures != nil {
		v1 := http.NewServeMux()
		erasureRoutes(v1, p)
		mux.Handle("/v1/", authorized(p.Token, v1))
	}
	return mux
}

// authorized lets through requests that carry the token, or, when there is
// no token, requests from this machine.
func authorized(token string, next http.Handler) http.Handler {
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if token == "" {
			host, _, _ := net.SplitHostPort(r.RemoteAddr)
			if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
				writeJSON(w, http.StatusForbidden, map[string]string{"error": "set LIFECYCLE_API_TOKEN to serve /v1 beyond this machine"})
				return
			}
		} else if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			w.Header().Set("WWW-Authenticate", "Bearer")
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "missing or wrong bearer token"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
