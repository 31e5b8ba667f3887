package bigin

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/lifecycle-worker/lifecycle/internal/errclass"
	"github.com/lifecycle-worker/lifecycle/internal/upstream"
)

// Error is a failure answered by Bigin or by Zoho's accounts server. It holds
// only what the server said about our request, never a credential.
type Error struct {
	Op         string // "delete photo", "get photo", "refresh token"
	HTTPStatus int
	Code       string // Bigin's code (INVALID_DATA) or the token endpoint's error (invalid_client)
	Message    string
	Details    map[string]any
}

func (e *Error) Error() string {
	s := "bigin: " + e.Op + ": not sent"
	if e.HTTPStatus != 0 {
		s = fmt.Sprintf("bigin: %s: HTTP %d", e.Op, e.HTTPStatus)
	}
	if e.Code != "" {
		s += " " + e.Code
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// Is lets errors.Is match an *Error against the sentinel of its code.
func (e *Error) Is(target error) bool {
	if e.Op == opRefresh {
		switch target {
		case ErrTokenRateLimited:
			return e.Code == tokenAccessDenied
		case ErrTokenRefused:
			// Only an explicit refusal; a 5xx from the accounts server is not.
			return e.Code != "" && e.Code != tokenAccessDenied
		}
		return false
	}
	if e.HTTPStatus == http.StatusNoContent {
		return target == ErrNoPhoto
	}
	s, ok := sentinels[e.Code]
	return ok && s == target
}

// Sentinels for errors.Is; see the package documentation for their classes.
var (
	ErrNoPhoto              = errors.New("bigin: record has no photo")
	ErrInvalidData          = errors.New("bigin: INVALID_DATA")
	ErrInvalidModule        = errors.New("bigin: INVALID_MODULE")
	ErrInvalidURLPattern    = errors.New("bigin: INVALID_URL_PATTERN")
	ErrInvalidRequestMethod = errors.New("bigin: INVALID_REQUEST_METHOD")
	ErrScopeMismatch        = errors.New("bigin: OAUTH_SCOPE_MISMATCH")
	ErrNoPermission         = errors.New("bigin: NO_PERMISSION")
	ErrAuthorizationFailed  = errors.New("bigin: AUTHORIZATION_FAILED")
	ErrInvalidToken         = errors.New("bigin: INVALID_TOKEN")
	ErrTooManyRequests      = errors.New("bigin: TOO_MANY_REQUESTS")
	ErrInternal             = errors.New("bigin: INTERNAL_ERROR")
	ErrTokenRefused         = errors.New("bigin: token refresh refused")
	ErrTokenRateLimited     = errors.New("bigin: token refresh rate limited")
)

var sentinels = map[string]error{
	"INVALID_DATA":           ErrInvalidData,
	"INVALID_MODULE":         ErrInvalidModule,
	"INVALID_URL_PATTERN":    ErrInvalidURLPattern,
	"INVALID_REQUEST_METHOD": ErrInvalidRequestMethod,
	"OAUTH_SCOPE_MISMATCH":   ErrScopeMismatch,
	"NO_PERMISSION":          ErrNoPermission,
	"AUTHORIZATION_FAILED":   ErrAuthorizationFailed,
	"INVALID_TOKEN":          ErrInvalidToken,
	"TOO_MANY_REQUESTS":      ErrTooManyRequests,
	"INTERNAL_ERROR":         ErrInternal,
}

const (
	opDelete  = "delete photo"
	opGet     = "get photo"
	opRefresh = "refresh token"

	// tokenAccessDenied is the accounts server's "error" once a refresh
	// token has minted its 10 tokens in 10 minutes (answered with HTTP 200).
	tokenAccessDenied = "Access Denied"
	// tokenRateLimitWait is how long to wait after "Access Denied": Zoho
	// gives no delay, and its window is 10 minutes long, so waiting a minute
	// lets other workers' cached tokens carry the load meanwhile.
	tokenRateLimitWait = time.Minute
)

// Evidence is what Bigin's answers count as, and where that rests. The seed
// (002) documents DELETE only: its success body and its error codes. The GET
// used to verify, and DELETE's 204, are assumptions. INVALID_DATA says only
// "the id given seems to be invalid": a record of another module, a typo, or
// a deleted record all answer it, so it proves no absence.
var Evidence = []upstream.EvidenceRow{
	{Op: opDelete, Status: 200, Code: "SUCCESS", Shape: `{"code":"SUCCESS","status":"success"}`, Class: upstream.ClassDone, Source: "seed 002 line 127", Quote: `"code": "SUCCESS"`, Example: "delete_photo_success.json"},
	{Op: opDelete, Status: 204, Shape: "no body", Class: upstream.ClassGone, Source: upstream.Assumption},
	{Op: "*", Status: 400, Code: "INVALID_DATA", Shape: `{"code":"INVALID_DATA"}`, Class: upstream.ClassUnconfirmed, Source: "seed 002 line 119", Quote: "INVALID_DATAHTTP 400", Example: "error_INVALID_DATA.json"},
	{Op: "*", Status: 400, Code: "INVALID_MODULE", Shape: `{"code":"INVALID_MODULE"}`, Class: upstream.ClassPermanent, Source: "seed 002 line 79", Quote: "INVALID_MODULEHTTP 400", Example: "error_INVALID_MODULE.json"},
	{Op: "*", Status: 404, Code: "INVALID_URL_PATTERN", Shape: `{"code":"INVALID_URL_PATTERN"}`, Class: upstream.ClassPermanent, Source: "seed 002 line 89", Quote: "INVALID_URL_PATTERNHTTP 404", Example: "error_INVALID_URL_PATTERN.json"},
	{Op: "*", Status: 401, Code: "OAUTH_SCOPE_MISMATCH", Shape: `{"code":"OAUTH_SCOPE_MISMATCH"}`, Class: upstream.ClassPermanent, Source: "seed 002 line 94", Quote: "OAUTH_SCOPE_MISMATCHHTTP 401", Example: "error_OAUTH_SCOPE_MISMATCH.json"},
	{Op: "*", Status: 403, Code: "NO_PERMISSION", Shape: `{"code":"NO_PERMISSION"}`, Class: upstream.ClassPermanent, Source: "seed 002 line 99", Quote: "NO_PERMISSIONHTTP 403", Example: "error_NO_PERMISSION.json"},
	{Op: "*", Status: 500, Code: "INTERNAL_ERROR", Shape: `{"code":"INTERNAL_ERROR"}`, Class: upstream.ClassRetry, Source: "seed 002 line 104", Quote: "INTERNAL_ERRORHTTP 500", Example: "error_INTERNAL_ERROR.json"},
	{Op: "*", Status: 400, Code: "INVALID_REQUEST_METHOD", Shape: `{"code":"INVALID_REQUEST_METHOD"}`, Class: upstream.ClassPermanent, Source: "seed 002 line 109", Quote: "INVALID_REQUEST_METHODHTTP 400", Example: "error_INVALID_REQUEST_METHOD.json"},
	{Op: "*", Status: 400, Code: "AUTHORIZATION_FAILED", Shape: `{"code":"AUTHORIZATION_FAILED"}`, Class: upstream.ClassPermanent, Source: "seed 002 line 114", Quote: "AUTHORIZATION_FAILEDHTTP 400", Example: "error_AUTHORIZATION_FAILED.json"},
	{Op: opGet, Status: 200, Shape: "the photo's bytes", Class: upstream.ClassRead, Source: upstream.Assumption},
	{Op: opGet, Status: 204, Shape: "no body: no photo", Class: upstream.ClassRead, Source: upstream.Assumption},
	{Op: "*", Code: "INVALID_TOKEN", Shape: `{"code":"INVALID_TOKEN"}`, Class: upstream.ClassRetry, Source: upstream.Assumption},
	{Op: "*", Code: "TOO_MANY_REQUESTS", Shape: `{"code":"TOO_MANY_REQUESTS"}`, Class: upstream.ClassRetry, Source: upstream.Assumption},
	{Op: "*", Status: 200, Code: "?", Shape: "a 200 that does not say success", Class: upstream.ClassUnconfirmed, Source: upstream.Assumption},
}

// classify gives e its errclass class; resp supplies the Retry-After header.
func classify(e *Error, resp *http.Response, now time.Time) error {
	switch e.Code {
	case "INVALID_DATA":
		return errclass.AsUnconfirmed(fmt.Errorf("%w [evidence: seed 002 line 119: the id seems invalid, which proves no absence]", e))
	case "INVALID_MODULE", "INVALID_URL_PATTERN", "INVALID_REQUEST_METHOD",
		"OAUTH_SCOPE_MISMATCH", "NO_PERMISSION", "AUTHORIZATION_FAILED":
		return errclass.AsPermanent(e)
	case "INVALID_TOKEN", "INTERNAL_ERROR":
		return errclass.RetryAfter(e, upstream.ParseRetryAfter(resp.Header.Get("Retry-After"), now))
	case "TOO_MANY_REQUESTS":
		d := upstream.ParseRetryAfter(resp.Header.Get("Retry-After"), now)
		if d == 0 {
			d = detailSeconds(e.Details["retry_after"])
		}
		return errclass.Throttled(e, d)
	}
	return upstream.ClassifyStatus(e, resp, now)
}

// detailSeconds reads details.retry_after, which Zoho sends as a number or
// a numeric string of seconds.
func detailSeconds(v any) time.Duration {
	switch v := v.(type) {
	case float64:
		if v > 0 {
			return time.Duration(v * float64(time.Second))
		}
	case string:
		if n, err := strconv.ParseFloat(v, 64); err == nil && n > 0 {
			return time.Duration(n * float64(time.Second))
		}
	}
	return 0
}
