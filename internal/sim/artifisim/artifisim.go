// Package artifisim is an in-memory Artifi that behaves as the documentation
// says Artifi behaves, for tests and for `lifecycle simulate`. It serves the
// documented bodies byte for byte (artifi.DocumentedBody) where the
// documentation shows one, and is wrapped in a faults.Injector so that
// clients can be run against the failures of a real network.
//
// Where the documentation is silent the simulator makes a choice, listed
// here so that it can be corrected when the real Artifi is observed:
//
//   - Errors are envelopes with Response "Error" and HTTP 200 (the v3 page
//     describes errors as a callback with an error message, i.e. a normal
//     answer). Options.ErrorStatus serves them with another status instead.
//   - Credentials: websiteId missing → 372; websiteId not a number or not
//     ours, or a wrong key → 221; key missing → 226. Messages other than the
//     documented ones ("Invalid user id.", "Invalid Photo Id", "Invalid old
//     User Id.") are made up.
//   - DeleteUserPhoto: an unknown user → 227 (the v3 body, on v3 and v4); a
//     photo the user does not have → 327 (the v4 body, on v3 and v4).
//   - GetUserUploadedList answers in camelCase with numeric ids and a null
//     errorCode, pageIndex is 1-based (a smaller one means 1), pageSize
//     defaults to 10; an unknown user → 261.
//   - DeleteDesignsbyUserId: an unknown user → 227 with a numeric ErrorCode.
//   - UpdateUserId: an unknown oldUserId → 232; a newUserId that exists
//     already receives the old user's data (merge); an empty newUserId → 227.
//   - A missing required parameter → the envelope error of that parameter,
//     or with Options.ProblemDetails an ASP.NET ProblemDetails 400, as
//     [ApiController] model validation sends. A malformed isGuest is always
//     a ProblemDetails 400 (model binding fails before Artifi's code runs).
//
// Photo ids are numeric strings, unique across users, never reused.
package artifisim

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/lifecycle-worker/lifecycle/internal/sim/faults"
	"github.com/lifecycle-worker/lifecycle/internal/sim/simserver"
	"github.com/lifecycle-worker/lifecycle/internal/upstream/artifi"
)

// Options configure a simulator.
type Options struct {
	WebsiteID      int    // the only website id accepted
	ClientKey      string // the only key accepted
	Faults         faults.Config
	ErrorStatus    int  // HTTP status of envelope errors; 0 means 200
	ProblemDetails bool // answer missing parameters with ProblemDetails
}

type user struct {
	photos  []string // in upload order, which is listing order
	designs int
	cart    int
}

// Server is the simulator. Its methods are safe for concurrent use.
type Server struct {
	opts Options
	inj  *faults.Injector

	mu          sync.Mutex
	users       map[string]*user
	nextPhoto   int
	deleteCount map[string]int // DeleteUserPhoto requests per photo id that reached the logic
	deleteLost  map[string]int // of those, the ones whose reply the fault injector dropped
	merges      int
	mergeCalls  map[string]int // UpdateUserId requests per old user id that reached the logic
	mergeLost   map[string]int // of those, the ones whose reply the fault injector dropped
	mergedFrom  map[string]int // UpdateUserId calls applied, per old user id

	http simserver.Server
}

// New returns a simulator with no users.
func New(opts Options) *Server {
	return &Server{
		opts:        opts,
		inj:         faults.New(artifi.System, opts.Faults),
		users:       map[string]*user{},
		nextPhoto:   100001,
		deleteCount: map[string]int{},
		deleteLost:  map[string]int{},
		mergeCalls:  map[string]int{},
		mergeLost:   map[string]int{},
		mergedFrom:  map[string]int{},
	}
}

// Faults is the simulator's fault injector, to change faults or read
// counters at run time.
func (s *Server) Faults() *faults.Injector { return s.inj }

// Handler is the simulator's HTTP handler: the Artifi API behind the fault
// injector, plus /_sim/faults (see faults.Injector.AdminHandler) and
// /_sim/state (GET: users with their photo, design and cart counts).
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle(faults.AdminPrefix+"faults", s.inj.AdminHandler())
	mux.HandleFunc("GET "+faults.AdminPrefix+"state", s.serveState)
	mux.HandleFunc("/api/3/UploadImage/DeleteUserPhoto", s.only(http.MethodGet, s.deletePhotoV3))
	mux.HandleFunc("/api/4/UploadImage/DeleteUserPhoto", s.only(http.MethodGet, s.deletePhotoV4))
	mux.HandleFunc("/api/4/UploadImage/GetUserUploadedList", s.only(http.MethodGet, s.listPhotos))
	mux.HandleFunc("/api/4/Design/DeleteDesignsbyUserId", s.only(http.MethodDelete, s.deleteDesigns))
	mux.HandleFunc("/api/4/User/UpdateUserId", s.only(http.MethodPut, s.updateUserID))
	return s.inj.Wrap(mux)
}

// Start serves the simulator on 127.0.0.1 at a free port and returns its
// base URL.
func (s *Server) Start() (string, error) { return s.StartOn("127.0.0.1:0") }

// StartOn serves the simulator on addr, which must be a loopback address:
// the simulator accepts a test key and must not be reachable from outside.
func (s *Server) StartOn(addr string) (string, error) {
	return s.http.Start("artifisim", addr, s.Handler())
}

// Close stops the server started by Start.
func (s *Server) Close() { _ = s.http.Close() }

// --- seeding and reading state ---

func (s *Server) userLocked(id string) *user {
	u := s.users[id]
	if u == nil {
		u = &user{}
		s.users[id] = u
	}
	return u
}

// AddUser makes userID known to Artifi, with no data.
func (s *Server) AddUser(userID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.userLocked(userID)
}

// AddPhotos uploads n photos for userID (creating the user) and returns
// their ids.
func (s *Server) AddPhotos(userID string, n int) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.userLocked(userID)
	ids := make([]string, n)
	for i := range ids {
		ids[i] = strconv.Itoa(s.nextPhoto)
		s.nextPhoto++
	}
	u.photos = append(u.photos, ids...)
	return ids
}

// AddDesigns gives userID n more designs (creating the user).
func (s *Server) AddDesigns(userID string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.userLocked(userID).designs += n
}

// AddCartItems gives userID n more cart items (creating the user).
func (s *Server) AddCartItems(userID string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.userLocked(userID).cart += n
}

// Photos returns userID's photo ids, nil for an unknown user.
func (s *Server) Photos(userID string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u := s.users[userID]; u != nil {
		return slices.Clone(u.photos)
	}
	return nil
}

// Designs returns how many designs userID has.
func (s *Server) Designs(userID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u := s.users[userID]; u != nil {
		return u.designs
	}
	return 0
}

// CartItems returns how many cart items userID has.
func (s *Server) CartItems(userID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u := s.users[userID]; u != nil {
		return u.cart
	}
	return 0
}

// UserExists reports whether Artifi knows userID.
func (s *Server) UserExists(userID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.users[userID] != nil
}

// DeleteCount is how many DeleteUserPhoto requests for photoID reached the
// simulator's logic with valid credentials, whatever their outcome. Faults
// injected before the handler do not count; so for a client that retries
// only what it must, every deleted photo counts exactly 1.
func (s *Server) DeleteCount(photoID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.deleteCount[photoID]
}

// DoubleDeletes is the number of photo ids with a DeleteCount above 1.
func (s *Server) DoubleDeletes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.deleteCount {
		if c > 1 {
			n++
		}
	}
	return n
}

// DeleteLost is how many of photoID's DeleteCount requests had their reply
// dropped by the fault injector: repeats a client must make.
func (s *Server) DeleteLost(photoID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.deleteLost[photoID]
}

// MergeCalls is how many UpdateUserId requests for oldUserID reached the
// simulator's logic, applied or answered 232; lost is how many of them had
// their reply dropped by the fault injector; applied is how many moved the
// old user's data (a second one cannot: the old user is gone).
func (s *Server) MergeCalls(oldUserID string) (calls, lost, applied int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mergeCalls[oldUserID], s.mergeLost[oldUserID], s.mergedFrom[oldUserID]
}

// Merges is how many UpdateUserId calls were applied.
func (s *Server) Merges() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.merges
}

// Requests is how many requests per endpoint ("GET /api/4/...") reached the
// simulator's logic, as opposed to being answered by an injected fault.
func (s *Server) Requests() map[string]int64 { return s.inj.Stats().Handled }

func (s *Server) serveState(w http.ResponseWriter, r *http.Request) {
	type userState struct {
		Photos    int `json:"photos"`
		Designs   int `json:"designs"`
		CartItems int `json:"cart_items"`
	}
	s.mu.Lock()
	st := struct {
		Users         map[string]userState `json:"users"`
		Merges        int                  `json:"merges"`
		DoubleDeletes int                  `json:"double_deletes"`
	}{Users: map[string]userState{}, Merges: s.merges}
	for id, u := range s.users {
		st.Users[id] = userState{len(u.photos), u.designs, u.cart}
	}
	for _, c := range s.deleteCount {
		if c > 1 {
			st.DoubleDeletes++
		}
	}
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(st)
}

// --- the API ---

// only answers other methods the way ASP.NET does: 405 with an empty body.
func (s *Server) only(method string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != method {
			w.Header().Set("Allow", method)
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		h(w, r)
	}
}

// envelope is Artifi's answer in PascalCase; ErrorCode is any so that the
// simulator can send it as a string, a number or null.
type envelope struct {
	Response  string `json:"Response"`
	Message   string `json:"Message"`
	Data      any    `json:"Data"`
	ErrorCode any    `json:"ErrorCode"`
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// documented serves one of the documentation's bodies as it is.
func (s *Server) documented(w http.ResponseWriter, name string, isError bool) {
	status := http.StatusOK
	if isError && s.opts.ErrorStatus != 0 {
		status = s.opts.ErrorStatus
	}
	writeJSON(w, status, artifi.DocumentedBody(name))
}

func (s *Server) fail(w http.ResponseWriter, code any, msg string) {
	b, _ := json.Marshal(envelope{Response: "Error", Message: msg, ErrorCode: code})
	status := http.StatusOK
	if s.opts.ErrorStatus != 0 {
		status = s.opts.ErrorStatus
	}
	writeJSON(w, status, b)
}

func (s *Server) succeed(w http.ResponseWriter, msg string, data any) {
	b, _ := json.Marshal(envelope{Response: "Success", Message: msg, Data: data, ErrorCode: ""})
	writeJSON(w, http.StatusOK, b)
}

// problem answers as ASP.NET model validation does.
func problem(w http.ResponseWriter, errs map[string][]string) {
	b, _ := json.Marshal(map[string]any{
		"type":    "https://tools.ietf.org/html/rfc9110#section-15.5.1",
		"title":   "One or more validation errors occurred.",
		"status":  400,
		"errors":  errs,
		"traceId": "00-00000000000000000000000000000000-0000000000000000-00",
	})
	w.Header().Set("Content-Type", "application/problem+json; charset=utf-8")
	w.WriteHeader(http.StatusBadRequest)
	_, _ = w.Write(b)
}

// missing reports (and answers) a missing required parameter; names are as
// Artifi declares them, q is keyed in lower case. envCode and
// envMsg are the envelope error when ProblemDetails is off.
func (s *Server) missing(w http.ResponseWriter, q map[string]string, names []string, envCode any, envMsg string) bool {
	var errs map[string][]string
	for _, n := range names {
		if strings.TrimSpace(q[strings.ToLower(n)]) == "" {
			if errs == nil {
				errs = map[string][]string{}
			}
			errs[n] = []string{"The " + n + " field is required."}
		}
	}
	if errs == nil {
		return false
	}
	if s.opts.ProblemDetails {
		problem(w, errs)
	} else {
		s.fail(w, envCode, envMsg)
	}
	return true
}

// authorize checks the credentials, which v3 reads from the query and v4
// from the headers, and answers the error if they are wrong.
func (s *Server) authorize(w http.ResponseWriter, websiteID, key string) bool {
	switch {
	case strings.TrimSpace(websiteID) == "":
		s.fail(w, "372", "WebsiteId is required.")
	case strings.TrimSpace(key) == "":
		s.fail(w, "226", "WebApiClientKey is required.")
	case websiteID != strconv.Itoa(s.opts.WebsiteID) || key != s.opts.ClientKey:
		// One answer for both, as a careful API gives: it does not tell
		// which of the two was wrong.
		s.fail(w, "221", "Invalid WebsiteId or WebApiClientKey.")
	default:
		return true
	}
	return false
}

// params reads the query case-insensitively, as ASP.NET model binding does.
func params(r *http.Request) map[string]string {
	out := map[string]string{}
	for k, v := range r.URL.Query() {
		if len(v) > 0 {
			out[strings.ToLower(k)] = v[0]
		}
	}
	return out
}

func (s *Server) deletePhotoV3(w http.ResponseWriter, r *http.Request) {
	q := params(r)
	if !s.authorize(w, q["websiteid"], q["webapiclientkey"]) {
		return
	}
	s.deletePhoto(w, r, q, artifi.BodyDeletePhotoV3Success)
}

func (s *Server) deletePhotoV4(w http.ResponseWriter, r *http.Request) {
	if !s.authorize(w, r.Header.Get("websiteId"), r.Header.Get("webApiClientKey")) {
		return
	}
	s.deletePhoto(w, r, params(r), artifi.BodyDeletePhotoV4Success)
}

// Lying modes (faults.Config.Lies): well-formed answers that are wrong.
const (
	// LieUnknownCode: every call answers HTTP 200 with an error code no
	// documentation names ("999"), changing nothing.
	LieUnknownCode = "artifi_unknown_code"
	// LieGoneForExisting: calls about a user that exists answer 227
	// "Invalid user id." (UpdateUserId: 232 for an old id that exists),
	// changing nothing.
	LieGoneForExisting = "artifi_227_for_existing_user"
	// LieListNoTotal: listing pages leave out AssetCount.
	LieListNoTotal = "artifi_list_without_total"
	// LieListDropPage: the listing skips its second page (page 2 answers
	// what page 3 holds, and so on).
	LieListDropPage = "artifi_list_drops_page"
	// LieDeleteNoop: deletes (photos, designs) answer success and delete
	// nothing.
	LieDeleteNoop = "artifi_delete_noop"
)

// lie answers for the lying modes that apply to every call; it reports
// whether it answered.
func (s *Server) lie(w http.ResponseWriter, userID string) bool {
	if s.inj.Lying(LieUnknownCode) {
		s.fail(w, "999", "Something went wrong.")
		return true
	}
	if s.inj.Lying(LieGoneForExisting) && s.UserExists(userID) {
		s.fail(w, "227", "Invalid user id.")
		return true
	}
	return false
}

func (s *Server) deletePhoto(w http.ResponseWriter, r *http.Request, q map[string]string, success string) {
	if s.missing(w, q, []string{"userId"}, "227", "Invalid user id.") ||
		s.missing(w, q, []string{"photoId"}, "327", "Invalid Photo Id") {
		return
	}
	userID, photoID := q["userid"], q["photoid"]
	if s.lie(w, userID) {
		return
	}
	if s.inj.Lying(LieDeleteNoop) {
		s.documented(w, success, false)
		return
	}
	s.mu.Lock()
	s.deleteCount[photoID]++
	if faults.Dropped(r.Context()) {
		s.deleteLost[photoID]++
	}
	u := s.users[userID]
	found := false
	if u != nil {
		if i := slices.Index(u.photos, photoID); i >= 0 {
			u.photos = slices.Delete(u.photos, i, i+1)
			found = true
		}
	}
	s.mu.Unlock()
	switch {
	case u == nil:
		s.documented(w, artifi.BodyDeletePhotoV3Err227, true)
	case !found:
		s.documented(w, artifi.BodyDeletePhotoV4Err327, true)
	default:
		s.documented(w, success, false)
	}
}

func (s *Server) listPhotos(w http.ResponseWriter, r *http.Request) {
	if !s.authorize(w, r.Header.Get("websiteId"), r.Header.Get("webApiClientKey")) {
		return
	}
	q := params(r)
	if s.missing(w, q, []string{"userId"}, "261", "Invalid user id.") {
		return
	}
	if s.lie(w, q["userid"]) {
		return
	}
	pageIndex, _ := strconv.Atoi(q["pageindex"])
	pageIndex = max(pageIndex, 1)
	if pageIndex >= 2 && s.inj.Lying(LieListDropPage) {
		pageIndex++
	}
	pageSize, _ := strconv.Atoi(q["pagesize"])
	if pageSize < 1 {
		pageSize = 10
	}
	search := strings.ToLower(q["searchkey"])

	s.mu.Lock()
	u := s.users[q["userid"]]
	var matching []string
	if u != nil {
		for _, id := range u.photos {
			if search == "" || strings.Contains(strings.ToLower(photoName(id)), search) {
				matching = append(matching, id)
			}
		}
	}
	s.mu.Unlock()
	if u == nil {
		s.fail(w, "261", "Invalid user id.")
		return
	}

	type asset struct {
		ID       int    `json:"id"`
		Name     string `json:"name"`
		ImageURL string `json:"imageUrl"`
	}
	list := []asset{}
	if from := (pageIndex - 1) * pageSize; from < len(matching) {
		for _, id := range matching[from:min(from+pageSize, len(matching))] {
			n, _ := strconv.Atoi(id)
			list = append(list, asset{ID: n, Name: photoName(id), ImageURL: "/UserImages/" + photoName(id)})
		}
	}
	data := map[string]any{"assetCount": len(matching), "assetList": list}
	if s.inj.Lying(LieListNoTotal) {
		delete(data, "assetCount")
	}
	b, _ := json.Marshal(map[string]any{
		"response":  "Success",
		"message":   "",
		"data":      data,
		"errorCode": nil,
	})
	writeJSON(w, http.StatusOK, b)
}

func photoName(id string) string { return "photo-" + id + ".png" }

func (s *Server) deleteDesigns(w http.ResponseWriter, r *http.Request) {
	if !s.authorize(w, r.Header.Get("websiteId"), r.Header.Get("webApiClientKey")) {
		return
	}
	q := params(r)
	if s.missing(w, q, []string{"userId"}, 227, "Invalid user id.") {
		return
	}
	if s.lie(w, q["userid"]) {
		return
	}
	if s.inj.Lying(LieDeleteNoop) {
		s.succeed(w, "Designs deleted successfully.", nil)
		return
	}
	s.mu.Lock()
	u := s.users[q["userid"]]
	if u != nil {
		u.designs = 0
	}
	s.mu.Unlock()
	if u == nil {
		s.fail(w, 227, "Invalid user id.")
		return
	}
	s.succeed(w, "Designs deleted successfully.", nil)
}

func (s *Server) updateUserID(w http.ResponseWriter, r *http.Request) {
	if !s.authorize(w, r.Header.Get("websiteId"), r.Header.Get("webApiClientKey")) {
		return
	}
	q := params(r)
	// isGuest changes nothing the simulator keeps, but a malformed one
	// fails model binding.
	if v := q["isguest"]; v != "" {
		if _, err := strconv.ParseBool(v); err != nil {
			problem(w, map[string][]string{"isGuest": {"The value '" + v + "' is not valid."}})
			return
		}
	}
	if s.missing(w, q, []string{"oldUserId"}, "232", "Invalid old User Id.") ||
		s.missing(w, q, []string{"newUserId"}, "227", "Invalid user id.") {
		return
	}
	oldID, newID := q["olduserid"], q["newuserid"]
	if s.inj.Lying(LieUnknownCode) {
		s.fail(w, "999", "Something went wrong.")
		return
	}
	if s.inj.Lying(LieGoneForExisting) && s.UserExists(oldID) {
		// This endpoint's "unknown id" answer, for a guest that exists.
		s.documented(w, artifi.BodyUpdateUserIDErr232, true)
		return
	}
	s.mu.Lock()
	s.mergeCalls[oldID]++
	if faults.Dropped(r.Context()) {
		s.mergeLost[oldID]++
	}
	old := s.users[oldID]
	if old != nil && oldID != newID {
		nu := s.userLocked(newID)
		nu.photos = append(nu.photos, old.photos...)
		nu.designs += old.designs
		nu.cart += old.cart
		delete(s.users, oldID)
		s.merges++
		s.mergedFrom[oldID]++
	}
	s.mu.Unlock()
	if old == nil {
		s.documented(w, artifi.BodyUpdateUserIDErr232, true)
		return
	}
	s.documented(w, artifi.BodyUpdateUserIDSuccess, false)
}
