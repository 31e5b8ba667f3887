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

// classify gives e its errclass class; resp supplies the Retry-After header.
func classify(e *Error, resp *http.Response, now time.Time) error {
	switch e.Code {
	case "INVALID_DATA":
		return errclass.AsGone(e)
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
