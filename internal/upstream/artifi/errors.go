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

// Evidence is what every answer of Artifi counts as, and where that rests
// (the seed page and line, or an assumption). decode reads answers through
// it; a "gone" or "done" row whose source is an assumption is recorded as
// unconfirmed (upstream.EvidenceRow.Effective). Rows are matched in order;
// Op "*" matches every operation.
//
// Only seed 000 (v3) documents 227 and only seed 001 (v4) documents 327: each
// counts as absence for the version whose page shows it, and is unconfirmed
// on the other. GetUserUploadedList and DeleteDesignsbyUserId appear in no
// seed at all. 221, 226, 261, 372 and 500 are codes of Artifi's error list
// that no seed page shows.
var Evidence = []upstream.EvidenceRow{
	{Op: opDeleteV3, Status: 200, Code: "", Shape: `{"Response":"Success"}`, Class: upstream.ClassDone, Source: "seed 000 line 56", Quote: `"Response": "Success"`, Example: BodyDeletePhotoV3Success},
	{Op: opDeleteV3, Status: 200, Code: "227", Shape: `{"Response":"Error","ErrorCode":"227"}`, Class: upstream.ClassGone, Source: "seed 000 line 79", Quote: `"ErrorCode": "227"`, Example: BodyDeletePhotoV3Err227},
	{Op: opDeleteV3, Code: "327", Shape: "Error envelope, code 327", Class: upstream.ClassGone, Source: upstream.Assumption},
	{Op: opDeleteV4, Status: 200, Code: "", Shape: `{"Response":"Success"}`, Class: upstream.ClassDone, Source: "seed 001 line 91", Quote: `"Response": "Success"`, Example: BodyDeletePhotoV4Success},
	{Op: opDeleteV4, Status: 200, Code: "327", Shape: `{"Response":"Error","ErrorCode":"327"}`, Class: upstream.ClassGone, Source: "seed 001 line 122", Quote: `"ErrorCode": "327"`, Example: BodyDeletePhotoV4Err327},
	{Op: opDeleteV4, Code: "227", Shape: "Error envelope, code 227", Class: upstream.ClassGone, Source: upstream.Assumption},
	{Op: opDeleteV3, Code: "261", Shape: "Error envelope, code 261", Class: upstream.ClassGone, Source: upstream.Assumption},
	{Op: opDeleteV4, Code: "261", Shape: "Error envelope, code 261", Class: upstream.ClassGone, Source: upstream.Assumption},
	// The listing is undocumented: its pages are read as content, proven
	// complete by upstream.AllPages; "unknown user" proves no absence.
	{Op: opList, Status: 200, Code: "", Shape: `Success envelope, Data {"AssetCount","AssetList":[{"Id"}]}`, Class: upstream.ClassRead, Source: upstream.Assumption},
	{Op: opList, Code: "227", Shape: "Error envelope, code 227", Class: upstream.ClassGone, Source: upstream.Assumption},
	{Op: opList, Code: "261", Shape: "Error envelope, code 261", Class: upstream.ClassGone, Source: upstream.Assumption},
	// DeleteDesignsbyUserId is undocumented too; its success is the Artifi
	// envelope that seeds 000, 001 and 003 show for their calls.
	{Op: opDeleteDesigns, Status: 200, Code: "", Shape: `{"Response":"Success"}`, Class: upstream.ClassDone, Source: "seed 001 line 91", Quote: `"Response": "Success"`},
	{Op: opDeleteDesigns, Code: "227", Shape: "Error envelope, code 227", Class: upstream.ClassGone, Source: upstream.Assumption},
	{Op: opDeleteDesigns, Code: "261", Shape: "Error envelope, code 261", Class: upstream.ClassGone, Source: upstream.Assumption},
	{Op: opUpdateUserID, Status: 200, Code: "", Shape: `{"Response":"Success"}`, Class: upstream.ClassDone, Source: "seed 003 line 106", Quote: `"Response": "Success"`, Example: BodyUpdateUserIDSuccess},
	// 232: the guest id is unknown: merged already (a retry after a lost
	// answer) or never had data. The merge verifies before believing it.
	{Op: opUpdateUserID, Status: 200, Code: "232", Shape: `{"Response":"Error","ErrorCode":"232"}`, Class: upstream.ClassGone, Source: "seed 003 line 160", Quote: `"ErrorCode": "232"`, Example: BodyUpdateUserIDErr232},
	// Here the user id in question is the new one we send: a bad id of ours.
	{Op: opUpdateUserID, Code: "227", Shape: "Error envelope, code 227", Class: upstream.ClassPermanent, Source: upstream.Assumption},
	{Op: opUpdateUserID, Code: "261", Shape: "Error envelope, code 261", Class: upstream.ClassPermanent, Source: upstream.Assumption},
	{Op: "*", Code: "221", Shape: "Error envelope, code 221 (websiteId)", Class: upstream.ClassPermanent, Source: upstream.Assumption},
	{Op: "*", Code: "372", Shape: "Error envelope, code 372 (websiteId)", Class: upstream.ClassPermanent, Source: upstream.Assumption},
	{Op: "*", Code: "226", Shape: "Error envelope, code 226 (webApiClientKey)", Class: upstream.ClassPermanent, Source: upstream.Assumption},
	{Op: "*", Code: "500", Shape: "Error envelope, code 500", Class: upstream.ClassRetry, Source: upstream.Assumption},
	{Op: "*", Code: "?", Shape: "any other code, or an unreadable body, on HTTP 2xx", Class: upstream.ClassUnconfirmed, Source: upstream.Assumption},
}

// sentinelOf is the sentinel an (op, code) matches with errors.Is.
func sentinelOf(op, code string) error {
	switch code {
	case "327":
		return ErrInvalidPhotoID
	case "227", "261":
		return ErrInvalidUserID
	case "232":
		if op == opUpdateUserID {
			return ErrInvalidOldUserID
		}
	case "221", "372":
		return ErrInvalidWebsite
	case "226":
		return ErrInvalidClientKey
	case "500":
		return ErrServer
	}
	return ErrUnexpected
}

func lookup(op, code string) (upstream.EvidenceRow, bool) {
	if code == "" || code == "?" {
		return upstream.EvidenceRow{}, false
	}
	return upstream.Lookup(Evidence, op, 0, code)
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
			return nil, errclass.AsUnconfirmed(e)
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
			// An answer no row names, on a 2xx: it proves nothing either
			// way, so it is unconfirmed (bounded retries, then a person).
			return nil, errclass.AsUnconfirmed(e)
		}
		return nil, upstream.ClassifyStatus(e, resp, now)
	}
	e := fail(&Error{Code: code, Message: env.Message, kind: sentinelOf(op, code)})
	if r.Class == upstream.ClassRetry {
		return nil, errclass.RetryAfter(e, upstream.ParseRetryAfter(resp.Header.Get("Retry-After"), now))
	}
	return nil, upstream.Apply(r, e)
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
