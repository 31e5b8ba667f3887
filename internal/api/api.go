// Package api is lifecycle's HTTP surface: liveness, readiness and metrics
// for operators, and the erasure routes of the privacy team.
package api

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"

	"github.com/lifecycle-worker/lifecycle/internal/apitoken"
	"github.com/lifecycle-worker/lifecycle/internal/audit"
	"github.com/lifecycle-worker/lifecycle/internal/storage"
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

	// Tasks serves the producers' enqueue routes (enqueue.go) and the task
	// status route (tasks_status.go); nil leaves them out.
	Tasks TaskQueue

	// Token guards the /v1 routes with every scope: callers send
	// "Authorization: Bearer <Token>". Tokens adds scoped ones
	// (LIFECYCLE_API_TOKENS_FILE). With neither, /v1 answers loopback
	// clients only: filing an erasure deletes a person's data, so an
	// address reachable from the network must not accept it from anyone.
	Token  string
	Tokens *apitoken.Set

	// Audit records the state changes the routes make, under the
	// caller's token name; GET /v1/audit lists it. nil leaves the route out.
	Audit *audit.Recorder

	// Receipts reads a finished request's signed receipt from storage
	// (GET /v1/erasures/{id}/receipt); nil leaves the route out.
	Receipts func(ctx context.Context, id string) ([]byte, error)

	// Bucket is what the process read of its storage bucket at start
	// (versioning, object lock), shown by /readyz; nil for a file store or
	// none.
	Bucket *storage.BucketConfig

	// Console serves the browser console at /console/ and asynq's monitor
	// at /monitor/ (console.go); nil leaves them out.
	Console *Console
}

// readiness is the answer of /readyz. Storage tells an operator how
// deletes behave: on a versioned bucket each version is removed, and with
// object lock some deletes end retained.
type readiness struct {
	Status  string                `json:"status"`
	Redis   string                `json:"redis"`
	Storage *storage.BucketConfig `json:"storage,omitempty"`
}

// ReadyTimeout bounds the readiness probe's Redis ping, so that a hung Redis
// makes the probe fail rather than hang.
const ReadyTimeout = 2 * time.Second

// New returns the HTTP handler. Every error it answers is JSON.
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
			writeJSON(w, http.StatusServiceUnavailable, readiness{Status: "unavailable", Redis: "unreachable", Storage: p.Bucket})
			return
		}
		writeJSON(w, http.StatusOK, readiness{Status: "ready", Redis: "ok", Storage: p.Bucket})
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(p.Gatherer, promhttp.HandlerOpts{}))
	rt := &router{mux: http.NewServeMux(), log: p.Log}
	v1Routes(rt, p)
	if len(rt.routes) > 0 {
		mux.Handle("/v1/", authenticate(p, sameSite(p.Log, jsonErrors(rt.mux, p.Log))))
	}
	if p.Console != nil {
		crt := &router{mux: http.NewServeMux(), log: p.Log}
		consoleRoutes(crt, p)
		open, authed := signIn(p), consoleAuth(p, crt.mux)
		h := sameSite(p.Log, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/console/signin" || strings.HasPrefix(r.URL.Path, "/console/static/") {
				open.ServeHTTP(w, r)
				return
			}
			authed.ServeHTTP(w, r)
		}))
		mux.Handle("/console/", consoleHeaders(h))
		mux.Handle("/monitor/", h)
	}
	return jsonErrors(mux, p.Log)
}

// v1Routes registers every /v1 route, each with its scope.
func v1Routes(rt *router, p Params) {
	if p.Erasures != nil {
		erasureRoutes(rt, p)
	}
	if p.Audit != nil {
		auditRoutes(rt, p)
	}
	if p.Tasks != nil {
		enqueueRoutes(rt, p)
		taskRoutes(rt, p)
	}
	if len(rt.routes) > 0 {
		openAPIRoute(rt)
	}
}

// consoleHeaders keeps the console's pages out of frames and caches and
// lets them load nothing but their own embedded assets.
func consoleHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'; form-action 'self'")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cache-Control", "no-store")
		// Not no-referrer: under it browsers send "Origin: null" with the
		// forms, which sameSite refuses.
		h.Set("Referrer-Policy", "same-origin")
		next.ServeHTTP(w, r)
	})
}

// loopbackName reports whether a Host header names this machine.
func loopbackName(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// sameSite refuses what a browser sends on behalf of another site: a
// request whose Origin is not this host, or that the browser marks
// cross-site or same-site (Sec-Fetch-Site). Tools such as curl send
// neither header. Unlike http.CrossOriginProtection it refuses GETs too:
// the answers hold personal data.
func sameSite(log zerolog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Header.Get("Sec-Fetch-Site") {
		case "", "same-origin", "none":
		default:
			writeError(w, log, &Error{http.StatusForbidden, "cross-site requests are refused"})
			return
		}
		if origin := r.Header.Get("Origin"); origin != "" {
			u, err := url.Parse(origin)
			if err != nil || u.Host == "" || !strings.EqualFold(u.Host, r.Host) {
				writeError(w, log, &Error{http.StatusForbidden, "cross-origin requests are refused"})
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// writeJSON answers v with status. v is encoded before anything is sent, so
// that a value that cannot be encoded is a 500, not a 200 with no body.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b, _ = json.Marshal(errorBody{Error: "internal error: the answer cannot be encoded"})
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
