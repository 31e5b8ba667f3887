package ibmbpm

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/lifecycle-worker/lifecycle/internal/errclass"
	"github.com/lifecycle-worker/lifecycle/internal/upstream"
)

// Error is a failure answered by BPM, read from its WLE error body when it
// sent one.
type Error struct {
	Op            string // "login", "get avatar", "delete avatar"
	HTTPStatus    int
	ExceptionType string
	ErrorNumber   string // e.g. CWTBG0651E
	ErrorMessage  string
}

func (e *Error) Error() string {
	s := fmt.Sprintf("ibmbpm: %s: HTTP %d", e.Op, e.HTTPStatus)
	if e.HTTPStatus == 0 {
		s = "ibmbpm: " + e.Op
	}
	if e.ErrorNumber != "" && !strings.HasPrefix(e.ErrorMessage, e.ErrorNumber) {
		s += " " + e.ErrorNumber
	}
	if e.ErrorMessage != "" {
		s += ": " + e.ErrorMessage
	}
	return s
}

// Is matches an *Error against the sentinels below.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrAlreadyDefault:
		return e.HTTPStatus == http.StatusOK
	case ErrUnauthorized:
		return e.HTTPStatus == http.StatusUnauthorized
	case ErrStaleCSRF:
		return e.HTTPStatus == http.StatusForbidden && e.ErrorNumber == csrfStale
	case ErrForbidden:
		return e.HTTPStatus == http.StatusForbidden && e.ErrorNumber != csrfStale
	case ErrUserNotFound:
		return e.HTTPStatus == http.StatusNotFound
	case ErrNotAcceptable:
		return e.HTTPStatus == http.StatusNotAcceptable
	case ErrConflict:
		return e.HTTPStatus == http.StatusConflict
	case ErrNotImplemented:
		return e.HTTPStatus == http.StatusNotImplemented
	}
	return false
}

// Sentinels for errors.Is; see the package documentation for their classes.
var (
	ErrAlreadyDefault = errors.New("ibmbpm: avatar is already the default")
	ErrUnauthorized   = errors.New("ibmbpm: unauthorized (user name or password)")
	ErrStaleCSRF      = errors.New("ibmbpm: CSRF token refused")
	ErrForbidden      = errors.New("ibmbpm: forbidden")
	ErrUserNotFound   = errors.New("ibmbpm: user not found")
	ErrNotAcceptable  = errors.New("ibmbpm: not acceptable")
	ErrConflict       = errors.New("ibmbpm: conflict")
	ErrNotImplemented = errors.New("ibmbpm: not implemented")
)

// csrfStale is the WLE error number of a missing, expired or wrong
// BPMCSRFToken.
const csrfStale = "CWTBG0651E"

// WLEError is BPM's error body ("WLE Error Response" in the documentation).
type WLEError struct {
	Status                 string          `json:"status"`
	ExceptionType          string          `json:"exceptionType"`
	ErrorNumber            string          `json:"errorNumber,omitempty"`
	ErrorMessage           string          `json:"errorMessage"`
	ErrorMessageParameters json.RawMessage `json:"errorMessageParameters,omitempty"` // a string or a list
	ProgrammersDetails     json.RawMessage `json:"programmersDetails,omitempty"`     // a string or an object
}

func (w *WLEError) empty() bool {
	return w == nil || (w.ExceptionType == "" && w.ErrorNumber == "" && w.ErrorMessage == "")
}

// DecodeWLEError reads a WLE error from body, at the top level or under
// "Data" or "data"; ok is false if body holds none.
func DecodeWLEError(body []byte) (WLEError, bool) {
	var env struct {
		WLEError
		Upper *WLEError       `json:"Data"`
		Lower json.RawMessage `json:"data"`
	}
	if json.Unmarshal(body, &env) != nil {
		return WLEError{}, false
	}
	if !env.Upper.empty() {
		return *env.Upper, true
	}
	var lower WLEError
	if len(env.Lower) > 0 && json.Unmarshal(env.Lower, &lower) == nil && !lower.empty() {
		return lower, true
	}
	if !env.WLEError.empty() {
		return env.WLEError, true
	}
	return WLEError{}, false
}

// Evidence is what BPM's answers count as, and where that rests. The seed
// (004) documents DELETE /avatar/{user} answering 200 (the UserAvatar), 406
// and 500 (a severe problem, with programmer's details). The GET used to read
// the avatar first and to verify, its "already the default", and 404 "user
// not found" are assumptions: they never count as absence on their own.
var Evidence = []upstream.EvidenceRow{
	{Op: opDelete, Status: 200, Shape: "WLE envelope with the UserAvatar", Class: upstream.ClassDone, Source: "seed 004 line 163", Quote: "| 200 OK |"},
	{Op: "*", Status: 406, Shape: "WLE error", Class: upstream.ClassPermanent, Source: "seed 004 line 164", Quote: "| 406 Not Acceptable |"},
	// A 500 with BPM's own error body is BPM's considered answer ("a severe
	// problem"), which a real BPM also gives for a user it does not know:
	// retried a bounded number of times, then left to a person. A 500
	// without it (a proxy) is an ordinary transient failure.
	{Op: "*", Status: 500, Code: "WLE", Shape: "WLE error response", Class: upstream.ClassUnconfirmed, Source: "seed 004 line 165", Quote: "| 500 Internal Server Error |"},
	{Op: "*", Status: 500, Shape: "no WLE body", Class: upstream.ClassRetry, Source: upstream.Assumption},
	{Op: opGet, Status: 200, Code: "default", Shape: `UserAvatar with isDefault "true" before a delete`, Class: upstream.ClassGone, Source: upstream.Assumption},
	{Op: opGet, Status: 200, Shape: "UserAvatar (read to verify)", Class: upstream.ClassRead, Source: upstream.Assumption},
	{Op: "*", Status: 404, Shape: "user not found", Class: upstream.ClassGone, Source: upstream.Assumption},
	{Op: "*", Status: 403, Code: "WLE", Shape: "WLE error, stale CSRF token", Class: upstream.ClassRetry, Source: upstream.Assumption},
	{Op: "*", Status: 403, Shape: "anything else (an HTML page from a proxy, say)", Class: upstream.ClassPermanent, Source: upstream.Assumption},
	{Op: "*", Status: 401, Shape: "login refused", Class: upstream.ClassPermanent, Source: upstream.Assumption},
	{Op: "*", Status: 409, Shape: "conflict", Class: upstream.ClassRetry, Source: upstream.Assumption},
	{Op: "*", Status: 200, Code: "?", Shape: "a 200 whose body is not a UserAvatar", Class: upstream.ClassUnconfirmed, Source: upstream.Assumption},
}

// classify reads an error answer into a classified *Error. scrub blanks
// secrets out of BPM's text.
func classify(op string, resp *http.Response, body []byte, scrub func(string) string, now time.Time) error {
	e := &Error{Op: op, HTTPStatus: resp.StatusCode}
	if w, ok := DecodeWLEError(body); ok {
		e.ExceptionType, e.ErrorNumber, e.ErrorMessage = w.ExceptionType, w.ErrorNumber, scrub(w.ErrorMessage)
	} else {
		e.ErrorMessage = http.StatusText(resp.StatusCode)
	}
	switch resp.StatusCode {
	case http.StatusUnauthorized, http.StatusNotAcceptable, http.StatusNotImplemented:
		return errclass.AsPermanent(e)
	case http.StatusForbidden:
		if e.ErrorNumber == csrfStale {
			// Only reached when a fresh login's token was refused too.
			return errclass.RetryAfter(e, 0)
		}
		return errclass.AsPermanent(e)
	case http.StatusNotFound:
		row, _ := upstream.Lookup(Evidence, "*", http.StatusNotFound, "")
		return upstream.Apply(row, e)
	case http.StatusInternalServerError:
		if _, ok := DecodeWLEError(body); ok {
			row, _ := upstream.Lookup(Evidence, "*", http.StatusInternalServerError, "WLE")
			return upstream.Apply(row, e)
		}
	case http.StatusConflict:
		return errclass.RetryAfter(e, upstream.ParseRetryAfter(resp.Header.Get("Retry-After"), now))
	}
	return upstream.ClassifyStatus(e, resp, now)
}
