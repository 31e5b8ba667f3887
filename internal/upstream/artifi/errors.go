package artifi

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/lifecycle-worker/lifecycle/internal/errclass"
	"github.com/lifecycle-worker/lifecycle/internal/upstream"
)

// Sentinels, matched with errors.Is against the *Error a call returns. They
// name what Artifi meant, which depends on the endpoint as well as the code
// (see the table in the package doc).
var (
	ErrInvalidPhotoID   = errors.New("artifi: invalid photo id")               // 327
	ErrInvalidUserID    = errors.New("artifi: invalid user id")                // 227, 261
	ErrInvalidOldUserID = errors.New("artifi: invalid old user id")            // 232 (UpdateUserId)
	ErrInvalidWebsite   = errors.New("artifi: invalid or missing websiteId")   // 221, 372
	ErrInvalidClientKey = errors.New("artifi: invalid webApiClientKey")        // 226
	ErrServer           = errors.New("artifi: server error")                   // 500 in the envelope
	ErrValidation       = errors.New("artifi: request rejected by validation") // ProblemDetails
	ErrUnexpected       = errors.New("artifi: unexpected answer")              // unknown code, unreadable body, redirect
)

// Error is a failure Artifi reported. Message is Artifi's own text (for a
// ProblemDetails body, its title and the names of the invalid fields); it
// never holds our credentials.
type Error struct {
	Op         string // the client method, e.g. "DeleteUserPhotoV4"
	HTTPStatus int
	Code       string // Artifi's ErrorCode, "" when there was none
	Message    string

	kind error // the sentinel this (Op, Code) means
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("artifi ")
	b.WriteString(e.Op)
	b.WriteString(": ")
	b.WriteString(cmp.Or(e.Message, "error"))
	if e.Code != "" {
		fmt.Fprintf(&b, " (code %s, HTTP %d)", e.Code, e.HTTPStatus)
	} else {
		fmt.Fprintf(&b, " (HTTP %d)", e.HTTPStatus)
	}
	return b.String()
}

// Is reports whether e means target, one of the Err sentinels.
func (e *Error) Is(target error) bool { return e.kind != nil && e.kind == target }

// Operation names, as in Error.Op and in the mapping table.
const (
	opDeleteV3      = "DeleteUserPhotoV3"
	opDeleteV4      = "DeleteUserPhotoV4"
	opList          = "ListUserPhotos"
	opDeleteDesigns = "DeleteDesignsByUserID"
	opUpdateUserID  = "UpdateUserID"
)

type rule struct {
	kind  error
	class errclass.Class
}

// commonCodes mean the same on every endpoint: our configuration is wrong
// (no retry can fix it) or Artifi failed.
var commonCodes = map[string]rule{
	"221": {ErrInvalidWebsite, errclass.Permanent},
	"372": {ErrInvalidWebsite, errclass.Permanent},
	"226": {ErrInvalidClientKey, errclass.Permanent},
	"500": {ErrServer, errclass.Retry},
}

// opCodes are the codes whose meaning depends on the endpoint. The doc.go
// table explains each choice.
var opCodes = map[string]map[string]rule{
	opDeleteV3: {
		"327": {ErrInvalidPhotoID, errclass.AlreadyGone},
		"227": {ErrInvalidUserID, errclass.AlreadyGone},
		"261": {ErrInvalidUserID, errclass.AlreadyGone},
	},
	opDeleteV4: {
		"327": {ErrInvalidPhotoID, errclass.AlreadyGone},
		"227": {ErrInvalidUserID, errclass.AlreadyGone},
		"261": {ErrInvalidUserID, errclass.AlreadyGone},
	},
	opList: {
		"227": {ErrInvalidUserID, errclass.AlreadyGone},
		"261": {ErrInvalidUserID, errclass.AlreadyGone},
	},
	opDeleteDesigns: {
		"227": {ErrInvalidUserID, errclass.AlreadyGone},
		"261": {ErrInvalidUserID, errclass.AlreadyGone},
	},
	opUpdateUserID: {
		"232": {ErrInvalidOldUserID, errclass.AlreadyGone},
		// Here the user id in question is the new one we send: a bad id of
		// ours, which repeating will not fix.
		"227": {ErrInvalidUserID, errclass.Permanent},
		"261": {ErrInvalidUserID, errclass.Permanent},
	},
}

func lookup(op, code string) (rule, bool) {
	if r, ok := opCodes[op][code]; ok {
		return r, true
	}
	r, ok := commonCodes[code]
	return r, ok
}

// envelope is every shape of body Artifi answers with. encoding/json matches
// keys case-insensitively, so one struct reads both the PascalCase envelope
// ("Response") and the camelCase one ("response"); the ProblemDetails fields
// share it because they do not collide with the envelope's.
type envelope struct {
	Response  string          `json:"Response"`
	Message   string          `json:"Message"`
	Data      json.RawMessage `json:"Data"`
	ErrorCode json.RawMessage `json:"ErrorCode"`

	// ASP.NET ProblemDetails, sent by model validation instead of the
	// envelope when a parameter is missing or malformed.
	Title  string                     `json:"title"`
	Status json.RawMessage            `json:"status"`
	Errors map[string]json.RawMessage `json:"errors"`
}

// code reads ErrorCode, which arrives as "", null, "227" or 227.
func (e *envelope) code() string {
	raw := bytes.TrimSpace(e.ErrorCode)
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return strings.TrimSpace(s)
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String()
	}
	return string(raw)
}

func (e *envelope) isProblem() bool {
	return e.Response == "" && (e.Title != "" || e.Errors != nil)
}

// decode turns an answer into nil (success, with its envelope) or a
// classified *Error. body has been read already; key is redacted from any
// text that comes back.
func (c *Client) decode(op string, resp *http.Response, body []byte) (*envelope, error) {
	now := c.cfg.Now()
	fail := func(e *Error) error {
		e.Op = op
		e.HTTPStatus = resp.StatusCode
		e.Message = c.redact(e.Message)
		return e
	}

	// Throttling is a property of the HTTP exchange, whatever the body says.
	if resp.StatusCode == http.StatusTooManyRequests {
		return nil, errclass.Throttled(fail(&Error{Message: "rate limited", kind: ErrUnexpected}),
			upstream.ParseRetryAfter(resp.Header.Get("Retry-After"), now))
	}
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		// Redirects are not followed (they would carry the credential
		// headers elsewhere); one means BaseURL is wrong.
		return nil, errclass.AsPermanent(fail(&Error{Message: "unexpected redirect; check BaseURL", kind: ErrUnexpected}))
	}

	var env envelope
	if err := json.Unmarshal(body, &env); err != nil || (env.Response == "" && !env.isProblem()) {
		// An HTML page from a proxy or load balancer, an empty body, or JSON
		// of an unknown shape: only the status can tell.
		msg := "unreadable body"
		if err == nil {
			msg = "unexpected JSON body"
		}
		e := fail(&Error{Message: msg, kind: ErrUnexpected})
		if resp.StatusCode < 300 {
			return nil, errclass.RetryAfter(e, 0)
		}
		return nil, upstream.ClassifyStatus(e, resp, now)
	}

	if env.isProblem() {
		fields := make([]string, 0, len(env.Errors))
		for k := range env.Errors {
			fields = append(fields, k)
		}
		slices.Sort(fields)
		msg := cmp.Or(env.Title, "validation failed")
		if len(fields) > 0 {
			msg += " (fields: " + strings.Join(fields, ", ") + ")"
		}
		e := fail(&Error{Message: msg, kind: ErrValidation})
		if problemStatus(env.Status, resp.StatusCode) >= 500 {
			return nil, upstream.ClassifyStatus(e, resp, now)
		}
		return nil, errclass.AsPermanent(e)
	}

	if strings.EqualFold(env.Response, "Success") && resp.StatusCode < 300 {
		return &env, nil
	}

	code := env.code()
	r, known := lookup(op, code)
	if !known {
		e := fail(&Error{Code: code, Message: env.Message, kind: ErrUnexpected})
		if resp.StatusCode < 300 {
			// An error Artifi did not document, on a 200: unknown failures
			// are retried (errclass's rule), within the task's retry budget.
			return nil, errclass.RetryAfter(e, 0)
		}
		return nil, upstream.ClassifyStatus(e, resp, now)
	}
	e := fail(&Error{Code: code, Message: env.Message, kind: r.kind})
	switch r.class {
	case errclass.AlreadyGone:
		return nil, errclass.AsGone(e)
	case errclass.Permanent:
		return nil, errclass.AsPermanent(e)
	default:
		return nil, errclass.RetryAfter(e, upstream.ParseRetryAfter(resp.Header.Get("Retry-After"), now))
	}
}

// problemStatus is the ProblemDetails "status" member, or the HTTP status
// when the member is absent or unreadable.
func problemStatus(raw json.RawMessage, httpStatus int) int {
	var n int
	if json.Unmarshal(raw, &n) == nil && n > 0 {
		return n
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if n, err := strconv.Atoi(s); err == nil && n > 0 {
			return n
		}
	}
	return httpStatus
}
