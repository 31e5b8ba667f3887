package api

import (
	"errors"
	"net/http"

	"github.com/rs/zerolog"

	"github.com/lifecycle-worker/lifecycle/internal/erasure"
	"github.com/lifecycle-worker/lifecycle/tasks"
)

// maxProblems bounds the problems one answer lists: a body of 20,000 bad
// records gets the first maxProblems and a count of the rest, not an answer
// fifty times its size.
const maxProblems = 20

// ErrNoReceipt means a request has no receipt (yet): it is not done.
var ErrNoReceipt = errors.New("no receipt: the request is not done")

// Error is an answer other than success that a route decides itself.
type Error struct {
	Status  int
	Message string
}

func (e *Error) Error() string { return e.Message }

// fieldProblem is one bad field of a request.
type fieldProblem struct {
	Field   string `json:"field"`
	Problem string `json:"problem"`
}

// errorBody is every error answer: a message, the first maxProblems bad
// fields, and how many more there were.
type errorBody struct {
	Error      string         `json:"error"`
	Fields     []fieldProblem `json:"fields,omitempty"`
	MoreFields int            `json:"more_fields,omitempty"`
}

// statusOf is the one mapping from errors to HTTP statuses.
func statusOf(err error) int {
	var e *Error
	var tooLarge *http.MaxBytesError
	var ves []*tasks.ValidationError
	switch {
	case errors.As(err, &e):
		return e.Status
	case errors.As(err, &tooLarge):
		return http.StatusRequestEntityTooLarge
	case collectValidation(err, &ves):
		return http.StatusBadRequest
	case errors.Is(err, erasure.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, erasure.ErrSameIdentity):
		return http.StatusForbidden
	case errors.Is(err, erasure.ErrNotAwaiting), errors.Is(err, erasure.ErrFinished), errors.Is(err, erasure.ErrAlreadyExtended):
		return http.StatusConflict
	case errors.Is(err, erasure.ErrNoIdentity):
		return http.StatusForbidden
	case errors.Is(err, ErrNoReceipt):
		return http.StatusNotFound
	}
	return http.StatusInternalServerError
}

// writeError answers err as JSON with the status statusOf gives it. Only
// internal errors are logged, and only they hide their message.
func writeError(w http.ResponseWriter, log zerolog.Logger, err error) {
	status, body := errorAnswer(log, err)
	writeJSON(w, status, body)
}

// errorAnswer is the status and body writeError answers err with.
func errorAnswer(log zerolog.Logger, err error) (int, errorBody) {
	status := statusOf(err)
	body := errorBody{Error: err.Error()}
	var ves []*tasks.ValidationError
	switch {
	case status == http.StatusInternalServerError:
		log.Error().Err(err).Msg("request failed")
		body.Error = "internal error"
	case status == http.StatusRequestEntityTooLarge:
		body.Error = "body too large"
	case status == http.StatusNotFound && errors.Is(err, erasure.ErrNotFound):
		body.Error = "no such erasure request"
	case collectValidation(err, &ves):
		body.Error = "invalid request"
		for i, v := range ves {
			if i == maxProblems {
				body.MoreFields = len(ves) - maxProblems
				break
			}
			body.Fields = append(body.Fields, fieldProblem{v.Field, v.Problem})
		}
	}
	return status, body
}

// jsonErrors answers what mux itself refuses (404 for an unknown path, 405
// for a known path with another method) as JSON too, keeping the Allow
// header mux sets.
func jsonErrors(mux *http.ServeMux, log zerolog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := mux.Handler(r); pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		rec := &statusOnly{header: w.Header(), status: http.StatusNotFound}
		mux.ServeHTTP(rec, r)
		writeError(w, log, &Error{Status: rec.status, Message: http.StatusText(rec.status)})
	})
}

// statusOnly keeps the status and headers a handler writes and drops its
// body.
type statusOnly struct {
	header http.Header
	status int
}

func (s *statusOnly) Header() http.Header         { return s.header }
func (s *statusOnly) Write(b []byte) (int, error) { return len(b), nil }
func (s *statusOnly) WriteHeader(status int)      { s.status = status }
