// Package bpmsim simulates the parts of IBM BPM that the ibmbpm client uses:
// POST /bpm/system/login and GET/DELETE /rest/bpm/wle/v1/avatar/{userNameOrID},
// with HTTP Basic auth, BPMCSRFToken checks, the seed's bodies (served from
// ibmbpm.SeedBody) and faults injected by package faults.
//
// Where the seed is silent, the simulator's choices:
//   - The CSRF token is checked on DELETE only (a state change); GET needs
//     Basic auth alone. A missing, unknown or expired token: 403 with
//     errorNumber CWTBG0651E.
//   - Error bodies follow the WLE error schema of the seed, under "Data" by
//     default (Options.ErrorEnvelope picks "data" or the top level instead).
//     Only CWTBG0651E is a real BPM message number; the other errors carry
//     no errorNumber (the schema makes it optional) rather than an invented one.
//   - Unknown user: 404. Methods other than GET and DELETE: 501.
//   - Accept: JSON by default, XML when asked (the seed's XML layout),
//     anything else 406.
//   - The login answers {"csrf_token": "..."}; the token lives for the
//     requested_lifetime, at most Options.CSRFLifetime.
package bpmsim

import (
	"cmp"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lifecycle-worker/lifecycle/internal/sim/faults"
	"github.com/lifecycle-worker/lifecycle/internal/sim/simserver"
	"github.com/lifecycle-worker/lifecycle/internal/upstream/ibmbpm"
)

// CSRFLifetimeDefault is the longest CSRF token lifetime BPM grants.
const CSRFLifetimeDefault = 7200 * time.Second

// Default avatar values BPM uses (REFERENCE: timestamps 946681200000).
const defaultTimestamp = "946681200000"

// Options configures a Server. Empty credentials get fixed demo values.
type Options struct {
	Addr               string // listen address; "127.0.0.1:0" if empty
	Username, Password string
	CSRFLifetime       time.Duration // the most a login grants
	ErrorEnvelope      string        // "Data" (default), "data", or "top" for the top level
	Faults             faults.Config
	Now                func() time.Time
}

// Server is a running (or startable) BPM simulator.
type Server struct {
	opts    Options
	faults  *faults.Injector
	handler http.Handler
	http    simserver.Server

	mu       sync.Mutex
	users    map[string]*user // by name
	byID     map[int]*user
	csrf     map[string]time.Time
	logins   int
	requests int
	failNext []forced
}

type user struct {
	name    string
	id      int
	avatar  bool // a custom avatar
	deletes int
}

type forced struct {
	method    string // "" for any
	status, n int
}

// New returns a Server; Start makes it listen.
func New(opts Options) *Server {
	opts.Username = cmp.Or(opts.Username, "bpmadmin")
	opts.Password = cmp.Or(opts.Password, "sim-bpm-password")
	opts.ErrorEnvelope = cmp.Or(opts.ErrorEnvelope, "Data")
	if opts.CSRFLifetime <= 0 {
		opts.CSRFLifetime = CSRFLifetimeDefault
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{
		opts:   opts,
		faults: faults.New("ibmbpm", opts.Faults),
		users:  map[string]*user{},
		byID:   map[int]*user{},
		csrf:   map[string]time.Time{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/bpm/system/login", s.login)
	mux.HandleFunc("/rest/bpm/wle/v1/avatar/{user}", s.avatar)
	mux.Handle(faults.AdminPrefix+"faults", s.faults.AdminHandler())
	s.handler = s.faults.Wrap(mux)
	return s
}

// Options returns the options in force, credentials included.
func (s *Server) Options() Options { return s.opts }

// Handler is the simulator's HTTP handler, faults included (for httptest).
func (s *Server) Handler() http.Handler { return s.handler }

// Faults is the injector, to change faults at run time or read its Stats.
func (s *Server) Faults() *faults.Injector { return s.faults }

// Start listens on Options.Addr and serves in the background; it returns
// the base URL.
func (s *Server) Start() (string, error) { return s.http.Start("bpmsim", s.opts.Addr, s.handler) }

// URL is the base URL once started.
func (s *Server) URL() string { return s.http.URL() }

// Close stops the server, waiting up to 5 s for requests in flight.
func (s *Server) Close() error { return s.http.Close() }

// AddUser adds (or replaces) a user, with a custom avatar or the default.
func (s *Server) AddUser(name string, id int, withAvatar bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := &user{name: name, id: id, avatar: withAvatar}
	s.users[name], s.byID[id] = u, u
}

// AvatarIsDefault reports whether the user has the default avatar (true for
// an unknown user: no avatar of their own).
func (s *Server) AvatarIsDefault(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.users[name]
	return u == nil || !u.avatar
}

// Deletes is how many DELETE requests for the user's avatar BPM carried out.
func (s *Server) Deletes(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u := s.users[name]; u != nil {
		return u.deletes
	}
	return 0
}

// Logins is how many logins succeeded.
func (s *Server) Logins() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logins
}

// Requests is how many login and avatar requests reached the simulator.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// PeakConcurrent is the most requests handled at once.
func (s *Server) PeakConcurrent() int { return s.faults.Stats().PeakConcurrent }

// ExpireCSRF makes every CSRF token issued so far stale.
func (s *Server) ExpireCSRF() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.csrf)
}

// FailNext makes the next n avatar requests with this method ("" for any),
// after authentication, answer status with a WLE error body: how tests reach
// 403, 406, 409 and 5xx.
func (s *Server) FailNext(method string, status, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failNext = append(s.failNext, forced{method, status, n})
}

const teamworksException = "com.lombardisoftware.core.TeamWorksException"

// writeError sends a WLE error body in the configured envelope.
func (s *Server) writeError(w http.ResponseWriter, status int, e ibmbpm.WLEError) {
	e.Status = "error"
	var body any = e
	switch s.opts.ErrorEnvelope {
	case "Data":
		body = map[string]any{"status": "error", "Data": e}
	case "data":
		body = map[string]any{"status": "error", "data": e}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

func params(p ...string) json.RawMessage {
	b, _ := json.Marshal(p)
	return b
}

func (s *Server) authorized(w http.ResponseWriter, r *http.Request) bool {
	u, p, ok := r.BasicAuth()
	if ok && u == s.opts.Username && p == s.opts.Password {
		return true
	}
	w.Header().Set("WWW-Authenticate", `Basic realm="defaultWIMFileBasedRealm"`)
	s.writeError(w, http.StatusUnauthorized, ibmbpm.WLEError{
		ExceptionType: "com.ibm.websphere.security.auth.WSLoginFailedException",
		ErrorMessage:  "The user name or password is not valid."})
	return false
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests++
	if !s.authorized(w, r) {
		return
	}
	if r.Method != http.MethodPost {
		s.writeError(w, http.StatusNotImplemented, ibmbpm.WLEError{ExceptionType: teamworksException,
			ErrorMessage: "The method " + r.Method + " is not implemented for this resource.", ErrorMessageParameters: params(r.Method)})
		return
	}
	var req struct {
		RequestedLifetime int `json:"requested_lifetime"`
	}
	_ = json.NewDecoder(r.Body).Decode(&req)
	life := s.opts.CSRFLifetime
	if d := time.Duration(req.RequestedLifetime) * time.Second; d > 0 && d < life {
		life = d
	}
	tok := randHex(24)
	s.csrf[tok] = s.opts.Now().Add(life)
	s.logins++
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]string{"csrf_token": tok})
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Lying modes (faults.Config.Lies): well-formed answers that are wrong.
const (
	// LieHTML403: a proxy in front of BPM answers every avatar request with
	// an HTML 403 page.
	LieHTML403 = "bpm_html_403"
	// Lie500UnknownUser: BPM answers 500 (its own WLE error body), as a real
	// BPM does for a user it does not know, instead of 404.
	Lie500UnknownUser = "bpm_500_unknown_user"
	// LieDeleteNoop: DELETE answers 200 with the avatar and resets nothing.
	LieDeleteNoop = "bpm_delete_noop"
)

func (s *Server) avatar(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests++
	if s.faults.Lying(LieHTML403) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte("<html><body><h1>403 Forbidden</h1>Request blocked.</body></html>"))
		return
	}
	if !s.authorized(w, r) {
		return
	}
	if f := &s.failNext; len(*f) > 0 && ((*f)[0].method == "" || (*f)[0].method == r.Method) {
		status := (*f)[0].status
		if (*f)[0].n--; (*f)[0].n <= 0 {
			*f = (*f)[1:]
		}
		s.writeError(w, status, ibmbpm.WLEError{ExceptionType: teamworksException,
			ErrorMessage: "Simulated failure: " + http.StatusText(status)})
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodDelete {
		s.writeError(w, http.StatusNotImplemented, ibmbpm.WLEError{ExceptionType: teamworksException,
			ErrorMessage: "The method " + r.Method + " is not implemented for this resource.", ErrorMessageParameters: params(r.Method)})
		return
	}
	xml, ok := accepts(r.Header.Get("Accept"))
	if !ok {
		s.writeError(w, http.StatusNotAcceptable, ibmbpm.WLEError{ExceptionType: teamworksException,
			ErrorMessage: "The requested content type is not supported.", ErrorMessageParameters: params(r.Header.Get("Accept"))})
		return
	}
	if r.Method == http.MethodDelete {
		exp, known := s.csrf[r.Header.Get("BPMCSRFToken")]
		if !known || !s.opts.Now().Before(exp) {
			s.writeError(w, http.StatusForbidden, ibmbpm.WLEError{ExceptionType: teamworksException,
				ErrorNumber:  "CWTBG0651E",
				ErrorMessage: "CWTBG0651E: The BPMCSRFToken header is missing or its value is not valid."})
			return
		}
	}
	key := r.PathValue("user")
	u := s.users[key]
	if id, err := strconv.Atoi(key); err == nil && u == nil {
		u = s.byID[id]
	}
	if u == nil || s.faults.Lying(Lie500UnknownUser) {
		// With the lie on, every user is one BPM does not know.
		if s.faults.Lying(Lie500UnknownUser) {
			s.writeError(w, http.StatusInternalServerError, ibmbpm.WLEError{ExceptionType: teamworksException,
				ErrorMessage: "An unexpected error occurred.", ErrorMessageParameters: params(key)})
			return
		}
		s.writeError(w, http.StatusNotFound, ibmbpm.WLEError{ExceptionType: teamworksException,
			ErrorMessage: "The user " + key + " was not found.", ErrorMessageParameters: params(key)})
		return
	}
	if r.Method == http.MethodDelete && !s.faults.Lying(LieDeleteNoop) {
		u.avatar = false
		u.deletes++
	}
	if xml {
		w.Header().Set("Content-Type", "application/xml")
		_, _ = w.Write(avatarXML(u))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(avatarJSON(u))
}

// accepts reads an Accept header: JSON unless XML is asked for; ok is false
// for neither.
func accepts(h string) (xml, ok bool) {
	switch {
	case h == "" || strings.Contains(h, "json") || strings.Contains(h, "*/*"):
		return false, true
	case strings.Contains(h, "xml"):
		return true, true
	}
	return false, false
}

// seedUser is the user of the seed's examples: while it has its custom
// avatar, the simulator answers the seed's bytes.
func seedUser(u *user) bool { return u.name == "tw_admin" && u.id == 9 && u.avatar }

// The seed's avatar image, and the 1x1 PNG that stands for BPM's default.
const (
	customImage  = "iVBORw0KGgoAAAANSUhgILmO2Sz-truncated-R9uVQAAAABJRU5ErkJggg=="
	defaultImage = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGMAAQAABQABDQottAAAAABJRU5ErkJggg=="
	customStamp  = "1494925798718"
)

func avatarOf(u *user) ibmbpm.Avatar {
	if !u.avatar {
		return ibmbpm.Avatar{UserID: int64(u.id), UserName: u.name, UserAvatarImage: defaultImage,
			UserAvatarKey: defaultTimestamp, UserUpdateTimestamp: defaultTimestamp, ImageFormat: "png", IsDefault: "true"}
	}
	return ibmbpm.Avatar{UserID: int64(u.id), UserName: u.name, UserAvatarImage: customImage,
		UserAvatarKey: customStamp + "-" + strconv.Itoa(u.id), UserUpdateTimestamp: customStamp, ImageFormat: "jpg", IsDefault: "false"}
}

func avatarJSON(u *user) []byte {
	if seedUser(u) {
		return ibmbpm.SeedBody("avatar.json")
	}
	b, _ := json.Marshal(struct {
		Status string        `json:"status"`
		Data   ibmbpm.Avatar `json:"data"`
	}{"200", avatarOf(u)})
	return b
}

// xmlLayout is the seed's XML example with its values as verbs.
const xmlLayout = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<bpm:ResponseData xmlns:bpm="http://rest.bpm.ibm.com/v1/data" xmlns:ex="http://rest.bpm.ibm.com/v1/data/exception" xmlns:soc="http://rest.bpm.ibm.com/v1/data/social" xmlns:sys="http://rest.bpm.ibm.com/v1/data/system" xmlns:ug="http://rest.bpm.ibm.com/v1/data/usergroup">
<status>200</status>
<data xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:ns8="http://rest.bpm.ibm.com/v1/data/useravatar" xsi:type="ns8:UserAvatarData">
<userID>%d</userID>
<userName>%s</userName>
<userAvatarImage>%s</userAvatarImage>
<userAvatarKey>%s</userAvatarKey>
<userUpdateTimestamp>%s</userUpdateTimestamp>
<imageFormat>%s</imageFormat>
<isDefault>%s</isDefault>
</data>
</bpm:ResponseData>
`

func avatarXML(u *user) []byte {
	if seedUser(u) {
		return ibmbpm.SeedBody("seed_avatar_example.xml")
	}
	a := avatarOf(u)
	return fmt.Appendf(nil, xmlLayout, a.UserID, xmlEscape(a.UserName), a.UserAvatarImage,
		a.UserAvatarKey, a.UserUpdateTimestamp, a.ImageFormat, a.IsDefault)
}

var xmlEscape = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace
