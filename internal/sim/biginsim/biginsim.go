// Package biginsim simulates the parts of Zoho that the bigin client uses:
// the accounts server's refresh-token grant and Bigin's record photo
// endpoints, on one listener, with the bodies of the seed documentation
// (served from bigin.SeedBody) and faults injected by package faults.
//
// Behaviour that the seed leaves open, and what the simulator does:
//   - An unknown, missing or expired access token: 401 INVALID_TOKEN, the body
//     real Zoho sends ("invalid oauth token"). (Real Zoho answers a missing
//     Authorization header with AUTHENTICATION_FAILURE; the client always
//     sends one, so the simulator does not distinguish.)
//   - A record id that is not digits, or no record with that id:
//     400 INVALID_DATA "the id given seems to be invalid", as Bigin does.
//   - DELETE of a record without a photo: 204 with no body, like GET.
//   - The modules Documents and Projects: the seed's second INVALID_MODULE
//     message, "The given module is not supported in API".
//   - A refresh token past its MintLimit: HTTP 200 with "error":"Access
//     Denied", as Zoho answers; Zoho also keeps only the 15 newest access
//     tokens of a refresh token, and so does the simulator.
package biginsim

import (
	"cmp"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lifecycle-worker/lifecycle/internal/sim/faults"
	"github.com/lifecycle-worker/lifecycle/internal/sim/simserver"
	"github.com/lifecycle-worker/lifecycle/internal/upstream/bigin"
)

// Defaults for Options.
const (
	TokenLifetimeDefault = time.Hour
	MintLimitDefault     = 10
	MintWindowDefault    = 10 * time.Minute
	// activeTokensMax is how many access tokens of one refresh token Zoho
	// keeps valid; minting another invalidates the oldest.
	activeTokensMax = 15
)

// Options configures a Server. Empty credentials get fixed demo values.
type Options struct {
	Addr                                 string // listen address; "127.0.0.1:0" if empty
	ClientID, ClientSecret, RefreshToken string
	TokenLifetime                        time.Duration // expires_in of minted tokens
	MintLimit                            int           // tokens per MintWindow per refresh token
	MintWindow                           time.Duration
	Faults                               faults.Config
	Now                                  func() time.Time
}

// Server is a running (or startable) Bigin simulator.
type Server struct {
	opts    Options
	faults  *faults.Injector
	handler http.Handler
	http    simserver.Server

	mu       sync.Mutex
	records  map[string]*record // module + "/" + id
	tokens   map[string]time.Time
	order    []string    // tokens, oldest first, for the active-token cap
	mints    []time.Time // successful refreshes, for MintLimit
	minted   int
	issued   []string // every token minted, for tests that look for leaks
	failNext []forced
}

type record struct {
	photo   bool
	deletes int
}

type forced struct {
	code string
	n    int
}

// New returns a Server; Start makes it listen.
func New(opts Options) *Server {
	opts.ClientID = cmp.Or(opts.ClientID, "1000.SIMCLIENTID")
	opts.ClientSecret = cmp.Or(opts.ClientSecret, "sim-client-secret")
	opts.RefreshToken = cmp.Or(opts.RefreshToken, "1000.sim-refresh-token")
	if opts.TokenLifetime <= 0 {
		opts.TokenLifetime = TokenLifetimeDefault
	}
	if opts.MintLimit <= 0 {
		opts.MintLimit = MintLimitDefault
	}
	if opts.MintWindow <= 0 {
		opts.MintWindow = MintWindowDefault
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{
		opts:    opts,
		faults:  faults.New("bigin", opts.Faults),
		records: map[string]*record{},
		tokens:  map[string]time.Time{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/oauth/v2/token", s.token)
	mux.HandleFunc("/bigin/", s.api)
	mux.Handle(faults.AdminPrefix+"faults", s.faults.AdminHandler())
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeSeed(w, http.StatusNotFound, "error_INVALID_URL_PATTERN.json")
	})
	s.handler = s.faults.Wrap(mux)
	return s
}

// Options returns the options in force, credentials included, so that a
// caller can configure a client for this simulator.
func (s *Server) Options() Options { return s.opts }

// Handler is the simulator's HTTP handler, faults included (for httptest).
func (s *Server) Handler() http.Handler { return s.handler }

// Start listens on Options.Addr and serves in the background. It returns the
// base URL, which is both the accounts server and the API domain.
func (s *Server) Start() (string, error) { return s.http.Start("biginsim", s.opts.Addr, s.handler) }

// URL is the base URL once started.
func (s *Server) URL() string { return s.http.URL() }

// Close stops the server, waiting up to 5 s for requests in flight.
func (s *Server) Close() error { return s.http.Close() }

// Faults is the injector, to change faults at run time or read its Stats.
func (s *Server) Faults() *faults.Injector { return s.faults }

// AddRecord adds (or replaces) a record, with or without a photo.
func (s *Server) AddRecord(module, id string, withPhoto bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.records[module+"/"+id] = &record{photo: withPhoto}
}

// RemoveRecord deletes a record, as a Bigin user would.
func (s *Server) RemoveRecord(module, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.records, module+"/"+id)
}

// HasPhoto reports whether the record exists and has a photo.
func (s *Server) HasPhoto(module, id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.records[module+"/"+id]
	return r != nil && r.photo
}

// PhotoDeletes is how many DELETE requests for the record's photo succeeded
// (answered 200), so a test can see whether a retry deleted twice.
func (s *Server) PhotoDeletes(module, id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.records[module+"/"+id]; r != nil {
		return r.deletes
	}
	return 0
}

// TokensMinted is how many access tokens the accounts server has issued.
func (s *Server) TokensMinted() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.minted
}

// IssuedTokens returns every access token minted so far, expired or not.
func (s *Server) IssuedTokens() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.issued...)
}

// PeakConcurrent is the most API and token requests handled at once.
func (s *Server) PeakConcurrent() int { return s.faults.Stats().PeakConcurrent }

// ExpireTokens invalidates every access token issued so far, as if they had
// all reached their expiry at once.
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.tokens)
	s.order = nil
}

// FailNext makes the next n API requests (after authentication) answer the
// error of code: one of the seed's codes, INTERNAL_ERROR or
// TOO_MANY_REQUESTS. It is how tests reach errors that a well-behaved client
// cannot provoke (NO_PERMISSION, OAUTH_SCOPE_MISMATCH...).
func (s *Server) FailNext(code string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failNext = append(s.failNext, forced{code: code, n: n})
}

// Statuses are the HTTP statuses of the error codes, from the seed (and, for
// INVALID_TOKEN and TOO_MANY_REQUESTS, from Zoho's general documentation).
var Statuses = map[string]int{
	"INVALID_MODULE":         http.StatusBadRequest,
	"INVALID_URL_PATTERN":    http.StatusNotFound,
	"OAUTH_SCOPE_MISMATCH":   http.StatusUnauthorized,
	"NO_PERMISSION":          http.StatusForbidden,
	"INTERNAL_ERROR":         http.StatusInternalServerError,
	"INVALID_REQUEST_METHOD": http.StatusBadRequest,
	"AUTHORIZATION_FAILED":   http.StatusBadRequest,
	"INVALID_DATA":           http.StatusBadRequest,
	"INVALID_TOKEN":          http.StatusUnauthorized,
	"TOO_MANY_REQUESTS":      http.StatusTooManyRequests,
}

func writeSeed(w http.ResponseWriter, status int, name string) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	_, _ = w.Write(bigin.SeedBody(name))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (s *Server) writeError(w http.ResponseWriter, code string) {
	if code == "TOO_MANY_REQUESTS" {
		// Not in the seed; Zoho's general error shape with the wait in
		// both places a client may look.
		w.Header().Set("Retry-After", "2")
		writeJSON(w, http.StatusTooManyRequests, map[string]any{
			"code": code, "details": map[string]any{"retry_after": 2},
			"message": "too many requests", "status": "error"})
		return
	}
	writeSeed(w, Statuses[code], "error_"+code+".json")
}

// token serves POST /oauth/v2/token (grant_type=refresh_token only).
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request"})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// Zoho answers these with HTTP 200 and an "error" field.
	switch {
	case r.PostForm.Get("client_id") != s.opts.ClientID || r.PostForm.Get("client_secret") != s.opts.ClientSecret:
		writeJSON(w, http.StatusOK, map[string]string{"error": "invalid_client"})
		return
	case r.PostForm.Get("grant_type") != "refresh_token":
		writeJSON(w, http.StatusOK, map[string]string{"error": "unsupported_grant_type"})
		return
	case r.PostForm.Get("refresh_token") != s.opts.RefreshToken:
		writeJSON(w, http.StatusOK, map[string]string{"error": "invalid_code"})
		return
	}
	now := s.opts.Now()
	for len(s.mints) > 0 && now.Sub(s.mints[0]) >= s.opts.MintWindow {
		s.mints = s.mints[1:]
	}
	if len(s.mints) >= s.opts.MintLimit {
		writeJSON(w, http.StatusOK, map[string]string{
			"error_description": "You have made too many requests continuously. Please try again after some time.",
			"error":             "Access Denied",
			"status":            "failure",
		})
		return
	}
	s.mints = append(s.mints, now)
	s.minted++
	tok := "1000." + randHex(16) + "." + randHex(16)
	s.tokens[tok] = now.Add(s.opts.TokenLifetime)
	s.issued = append(s.issued, tok)
	s.order = append(s.order, tok)
	if len(s.order) > activeTokensMax {
		delete(s.tokens, s.order[0])
		s.order = s.order[1:]
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": tok,
		"scope":        "ZohoBigin.modules.ALL",
		"api_domain":   s.http.URL(),
		"token_type":   "Bearer",
		"expires_in":   int(s.opts.TokenLifetime / time.Second),
	})
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// unsupportedModules are Bigin modules that exist but that this API refuses.
var unsupportedModules = map[string]bool{"Documents": true, "Projects": true}

// api serves /bigin/v2/{module}/{id}/photo.
// Lying modes (faults.Config.Lies): well-formed answers that are wrong.
const (
	// LieInvalidData: a record that has a photo answers INVALID_DATA, as
	// Bigin does for an id of another module.
	LieInvalidData = "bigin_invalid_data_with_photo"
	// LieDeleteNoop: DELETE answers the documented success and keeps the
	// photo.
	LieDeleteNoop = "bigin_delete_noop"
)

func (s *Server) api(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Zoho-oauthtoken ")
	if exp, known := s.tokens[tok]; !ok || !known || !s.opts.Now().Before(exp) {
		writeSeed(w, http.StatusUnauthorized, "error_INVALID_TOKEN.json")
		return
	}
	if len(s.failNext) > 0 {
		f := &s.failNext[0]
		code := f.code
		if f.n--; f.n <= 0 {
			s.failNext = s.failNext[1:]
		}
		s.writeError(w, code)
		return
	}
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/"), "/")
	if len(parts) != 5 || parts[0] != "bigin" || parts[1] != "v2" || parts[4] != "photo" {
		s.writeError(w, "INVALID_URL_PATTERN")
		return
	}
	module, id := parts[2], parts[3]
	switch {
	case unsupportedModules[module]:
		writeSeed(w, http.StatusBadRequest, "error_INVALID_MODULE_unsupported.json")
		return
	case module != bigin.ModuleContacts && module != bigin.ModuleAccounts && module != bigin.ModuleProducts:
		s.writeError(w, "INVALID_MODULE")
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodDelete {
		// POST (upload) exists in Bigin but not here; the others never do.
		s.writeError(w, "INVALID_REQUEST_METHOD")
		return
	}
	rec := s.records[module+"/"+id]
	if _, err := strconv.ParseUint(id, 10, 64); err != nil || rec == nil ||
		(rec.photo && s.faults.Lying(LieInvalidData)) {
		s.writeError(w, "INVALID_DATA")
		return
	}
	if rec.photo && r.Method == http.MethodDelete && s.faults.Lying(LieDeleteNoop) {
		writeSeed(w, http.StatusOK, "delete_photo_success.json")
		return
	}
	switch {
	case !rec.photo:
		w.WriteHeader(http.StatusNoContent)
	case r.Method == http.MethodGet:
		w.Header().Set("Content-Type", "image/png")
		_, _ = w.Write(pngPixel)
	default:
		rec.photo = false
		rec.deletes++
		writeSeed(w, http.StatusOK, "delete_photo_success.json")
	}
}

// pngPixel is a 1x1 transparent PNG: the photo GET returns.
var pngPixel = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\x00\x01\x00\x00\x05\x00\x01\r\n-\xb4\x00\x00\x00\x00IEND\xaeB`\x82")
