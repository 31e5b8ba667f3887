package api

import (
	"context"
	"crypto/subtle"
	"net"
	"net/http"
	"strings"

	"github.com/rs/zerolog"

	"github.com/lifecycle-worker/lifecycle/internal/apitoken"
	"github.com/lifecycle-worker/lifecycle/internal/audit"
)

// Route is one /v1 route and the scope a caller's token needs for it.
type Route struct {
	Method string
	Path   string         // as registered: /v1/erasures/{id}
	Scope  apitoken.Scope // anyScope: any valid token
}

// anyScope registers a route any caller with a valid token may use.
const anyScope apitoken.Scope = ""

// router registers /v1 routes, each with its scope: the one place a route
// and the scope that guards it are declared, so that Routes lists them all.
type router struct {
	mux    *http.ServeMux
	routes []Route
	log    zerolog.Logger
	// forbid answers a caller without the scope; nil: a JSON error.
	forbid func(w http.ResponseWriter, r *http.Request, msg string)
}

// handle registers h for method and path behind scope; an empty scope lets
// in every caller authenticated (console pages such as sign-out).
func (rt *router) handle(method, path string, scope apitoken.Scope, h http.HandlerFunc) {
	rt.routes = append(rt.routes, Route{Method: method, Path: path, Scope: scope})
	rt.mux.Handle(method+" "+path, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := callerOf(r.Context())
		if scope != anyScope && !c.all && !c.token.Has(scope) {
			msg := "token " + c.token.Name + " lacks scope " + string(scope)
			if rt.forbid != nil {
				rt.forbid(w, r, msg)
				return
			}
			writeError(w, rt.log, &Error{http.StatusForbidden, msg})
			return
		}
		h(w, r)
	}))
}

// Routes lists every route behind a scope New registers for p: the JSON
// API under /v1/, then the console's HTML pages under /console/ and asynq's
// monitor under /monitor/.
func Routes(p Params) []Route {
	rt := &router{mux: http.NewServeMux(), log: p.Log}
	v1Routes(rt, p)
	if p.Console != nil {
		consoleRoutes(rt, p)
	}
	return rt.routes
}

// caller is who sent a /v1 request.
type caller struct {
	token apitoken.Token
	all   bool // every scope: LIFECYCLE_API_TOKEN, or a loopback caller without tokens
}

type callerKey struct{}

func callerOf(ctx context.Context) caller {
	c, _ := ctx.Value(callerKey{}).(caller)
	return c
}

// Names the audit trail gives callers that have no token of their own.
const (
	allScopesTokenName = "api-token"
	loopbackCaller     = "loopback"
)

// authenticate finds the caller of a /v1 request: a token from the tokens
// file, the all-scopes LIFECYCLE_API_TOKEN, or, with neither configured, a
// client on this machine that names it by a loopback name (localhost,
// 127.0.0.1, [::1]): a page in a browser on this machine can reach a
// loopback port under any name its DNS points there (DNS rebinding), and
// the Host header is what shows the name it used. The caller's name goes
// into the request's audit context.
func authenticate(p Params, next http.Handler) http.Handler {
	want := []byte("Bearer " + p.Token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var c caller
		switch {
		case p.Token == "" && p.Tokens.Len() == 0:
			host, _, _ := net.SplitHostPort(r.RemoteAddr)
			if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
				writeError(w, p.Log, &Error{http.StatusForbidden, "set LIFECYCLE_API_TOKEN or LIFECYCLE_API_TOKENS_FILE to serve /v1 beyond this machine"})
				return
			}
			if !loopbackName(r.Host) {
				writeError(w, p.Log, &Error{http.StatusForbidden, "without LIFECYCLE_API_TOKEN, /v1 answers only requests addressed to localhost, 127.0.0.1 or [::1]"})
				return
			}
			c = caller{token: apitoken.Token{Name: loopbackCaller}, all: true}
		default:
			auth := r.Header.Get("Authorization")
			secret, ok := strings.CutPrefix(auth, "Bearer ")
			if t, found := p.Tokens.Lookup(secret); ok && found {
				c = caller{token: t}
			} else if p.Token != "" && subtle.ConstantTimeCompare([]byte(auth), want) == 1 {
				c = caller{token: apitoken.Token{Name: allScopesTokenName}, all: true}
			} else {
				w.Header().Set("WWW-Authenticate", "Bearer")
				writeError(w, p.Log, &Error{http.StatusUnauthorized, "missing or wrong bearer token"})
				return
			}
		}
		ctx := context.WithValue(r.Context(), callerKey{}, c)
		if p.Audit != nil {
			ctx = audit.NewContext(ctx, p.Audit, c.token.Name)
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}
