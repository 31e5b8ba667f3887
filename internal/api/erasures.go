package api

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/lifecycle-worker/lifecycle/internal/apitoken"
	"github.com/lifecycle-worker/lifecycle/internal/erasure"
	"github.com/lifecycle-worker/lifecycle/tasks"
)

// ErasureService is what the privacy team's routes need (erasure.Service).
type ErasureService interface {
	File(ctx context.Context, r erasure.Request) (erasure.Filed, error)
	Get(ctx context.Context, id string) (erasure.Record, error)
	List(ctx context.Context, f erasure.ListFilter) ([]erasure.Record, error)
	Approve(ctx context.Context, id, reason string) (erasure.Record, error)
	Deny(ctx context.Context, id, reason string) (erasure.Record, error)
	Extend(ctx context.Context, id, reason string) (erasure.Record, error)
}

var _ ErasureService = (*erasure.Service)(nil)

// maxErasureBody bounds a filing: a request is a few ids.
const maxErasureBody = 64 << 10

// filing is the body of POST /v1/erasures: the user:erase payload less the
// slice, which only the worker sets. filed_at is read as text so that a bad
// date is refused naming its field.
type filing struct {
	RequestID string                `json:"request_id"`
	UserID    string                `json:"user_id"`
	Bigin     []erasure.BiginRecord `json:"bigin"`
	BPMUser   string                `json:"bpm_user"`
	FiledBy   string                `json:"filed_by"`
	FiledAt   string                `json:"filed_at"`
	Slice     json.RawMessage       `json:"slice"`
}

// request reads the filing, or names its bad fields.
func (f filing) request() (erasure.Request, error) {
	r := erasure.Request{ID: f.RequestID, UserID: f.UserID, Bigin: f.Bigin, BPMUser: f.BPMUser, FiledBy: f.FiledBy}
	var bad []error
	if f.Slice != nil {
		bad = append(bad, problem("slice", "set by the worker only"))
	}
	if f.FiledAt != "" {
		at, err := time.Parse(time.RFC3339, f.FiledAt)
		if err != nil {
			bad = append(bad, problem("filed_at", "want RFC 3339 such as 2026-01-31T10:00:00Z"))
		}
		r.FiledAt = at
	}
	return r, errors.Join(bad...)
}

// erasureRoutes adds the privacy team's routes:
//
//	POST /v1/erasures        file a request (JSON user:erase payload without slice,
//	                         Content-Type application/json): 202 and the status
//	                         URL; 200 if the request id was filed before; 400
//	                         naming the bad fields; 413 past 64 kB; 415 for a
//	                         body of another type
//	GET  /v1/erasures/{id}   one request's status, deadline and progress
//	GET  /v1/erasures        requests, soonest due first: open ones, or by
//	                         ?state=done|failed|needs_review|awaiting_approval|denied|all
//	                         (comma-separated), ?since=RFC3339 (filed at or
//	                         after), ?format=json|csv
//	POST /v1/erasures/{id}/approve    {"reason"}: let an awaiting request run
//	POST /v1/erasures/{id}/deny       {"reason"} (required): refuse it
//	POST /v1/erasures/{id}/extension  {"reason"} (required): the one extension
//	GET  /v1/erasures/{id}/receipt    the signed receipt of a done request
func erasureRoutes(rt *router, p Params) {
	svc := p.Erasures
	rt.handle("POST", "/v1/erasures", apitoken.ScopeErasureFile, func(w http.ResponseWriter, r *http.Request) {
		req, err := readFiling(w, r)
		if err != nil {
			writeError(w, p.Log, err)
			return
		}
		filed, err := svc.File(r.Context(), req)
		if err != nil {
			writeError(w, p.Log, err)
			return
		}
		status := http.StatusAccepted
		if filed.Duplicate {
			status = http.StatusOK
		}
		url := "/v1/erasures/" + filed.Record.Request.ID
		w.Header().Set("Location", url)
		p.Log.Info().Str("request_id", filed.Record.Request.ID).Bool("duplicate", filed.Duplicate).Str("joined_to", filed.Record.JoinedTo).Msg("erasure filed")
		writeJSON(w, status, map[string]any{
			"request_id": filed.Record.Request.ID, "status_url": url, "duplicate": filed.Duplicate,
			"due_at": filed.Record.DueAt, "joined_to": filed.Record.JoinedTo, "task_id": filed.Record.TaskID,
			"status": filed.Record.State.Status,
		})
	})
	rt.handle("GET", "/v1/erasures/{id}", apitoken.ScopeErasureRead, func(w http.ResponseWriter, r *http.Request) {
		id, err := pathID(r)
		if err != nil {
			writeError(w, p.Log, err)
			return
		}
		rec, err := svc.Get(r.Context(), id)
		if err != nil {
			writeError(w, p.Log, err)
			return
		}
		writeJSON(w, http.StatusOK, view(rec))
	})
	rt.handle("GET", "/v1/erasures", apitoken.ScopeErasureRead, func(w http.ResponseWriter, r *http.Request) {
		f, format, err := listQuery(r.URL.Query())
		if err != nil {
			writeError(w, p.Log, err)
			return
		}
		recs, err := svc.List(r.Context(), f)
		if err != nil {
			writeError(w, p.Log, err)
			return
		}
		out := make([]erasure.Record, len(recs))
		for i, rec := range recs {
			out[i] = view(rec)
		}
		if format == "csv" {
			w.Header().Set("Content-Type", "text/csv; charset=utf-8")
			w.WriteHeader(http.StatusOK)
			_ = erasure.WriteCSV(w, out)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"erasures": out})
	})
	decision := func(name string, do func(ctx context.Context, id, reason string) (erasure.Record, error)) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			id, err := pathID(r)
			if err != nil {
				writeError(w, p.Log, err)
				return
			}
			reason, err := readReason(w, r, name != "approve")
			if err != nil {
				writeError(w, p.Log, err)
				return
			}
			rec, err := do(r.Context(), id, reason)
			if err != nil {
				writeError(w, p.Log, err)
				return
			}
			p.Log.Info().Str("request_id", id).Str("decision", name).Msg("erasure " + name)
			writeJSON(w, http.StatusOK, view(rec))
		}
	}
	rt.handle("POST", "/v1/erasures/{id}/approve", apitoken.ScopeErasureApprove, decision("approve", svc.Approve))
	rt.handle("POST", "/v1/erasures/{id}/deny", apitoken.ScopeErasureApprove, decision("deny", svc.Deny))
	rt.handle("POST", "/v1/erasures/{id}/extension", apitoken.ScopeErasureApprove, decision("extension", svc.Extend))
	if p.Receipts != nil {
		rt.handle("GET", "/v1/erasures/{id}/receipt", apitoken.ScopeErasureRead, func(w http.ResponseWriter, r *http.Request) {
			id, err := pathID(r)
			if err != nil {
				writeError(w, p.Log, err)
				return
			}
			doc, err := p.Receipts(r.Context(), id)
			if err != nil {
				writeError(w, p.Log, err)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Disposition", `attachment; filename="`+id+`.json"`)
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write(doc)
		})
	}
}

func pathID(r *http.Request) (string, error) {
	id := r.PathValue("id")
	return id, tasks.CheckID("id", id)
}

// maxReason bounds a reason: a few sentences.
const maxReason = 2000

// readReason reads {"reason": "..."}; required refuses an empty one.
func readReason(w http.ResponseWriter, r *http.Request, required bool) (string, error) {
	var body struct {
		Reason string `json:"reason"`
	}
	if r.ContentLength != 0 || r.Header.Get("Content-Type") != "" {
		if err := requireJSON(r); err != nil {
			return "", err
		}
		b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxErasureBody))
		if err != nil {
			return "", err
		}
		if err := decodeStrict(b, &body); err != nil {
			return "", err
		}
	}
	body.Reason = strings.TrimSpace(body.Reason)
	switch {
	case required && body.Reason == "":
		return "", problem("reason", "required")
	case len(body.Reason) > maxReason:
		return "", problem("reason", fmt.Sprintf("longer than %d bytes", maxReason))
	}
	return body.Reason, nil
}

// listQuery reads the filters of GET /v1/erasures.
func listQuery(q url.Values) (erasure.ListFilter, string, error) {
	var f erasure.ListFilter
	var bad []error
	if v := q.Get("state"); v != "" {
		var err error
		if f, err = erasure.ParseStates(v); err != nil {
			bad = append(bad, problem("state", err.Error()))
		}
	}
	if v := q.Get("since"); v != "" {
		at, err := time.Parse(time.RFC3339, v)
		if err != nil {
			bad = append(bad, problem("since", "want RFC 3339 such as 2026-01-31T10:00:00Z"))
		}
		f.Since = at
	}
	format := cmp.Or(q.Get("format"), "json")
	if format != "json" && format != "csv" {
		bad = append(bad, problem("format", "want json or csv"))
	}
	return f, format, errors.Join(bad...)
}

// readFiling reads a filing: JSON only (a browser can send text/plain or a
// form across sites without asking, never application/json), at most
// maxErasureBody, strictly (see decodeStrict).
func readFiling(w http.ResponseWriter, r *http.Request) (erasure.Request, error) {
	if err := requireJSON(r); err != nil {
		return erasure.Request{}, err
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxErasureBody))
	if err != nil {
		return erasure.Request{}, err
	}
	var f filing
	if err := decodeStrict(body, &f); err != nil {
		return erasure.Request{}, err
	}
	return f.request()
}

// requireJSON refuses a body that is not declared application/json (in
// UTF-8, if a charset is given) with 415.
func requireJSON(r *http.Request) error {
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return &Error{http.StatusUnsupportedMediaType, "Content-Type must be application/json"}
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return &Error{http.StatusUnsupportedMediaType, "Content-Type must be application/json in UTF-8"}
	}
	return nil
}

// view is a record as the API shows it: without the BPM user name, which the
// status readers do not need and which is personal data.
func view(rec erasure.Record) erasure.Record {
	if rec.Request.BPMUser != "" {
		rec.Request.BPMUser = "(set)"
	}
	return rec
}

// collectValidation gathers every *tasks.ValidationError in err's tree.
func collectValidation(err error, out *[]*tasks.ValidationError) bool {
	if err == nil {
		return false
	}
	var ve *tasks.ValidationError
	if errors.As(err, &ve) && !hasMulti(err) {
		*out = append(*out, ve)
		return true
	}
	switch u := err.(type) {
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			collectValidation(e, out)
		}
	case interface{ Unwrap() error }:
		collectValidation(u.Unwrap(), out)
	}
	return len(*out) > 0
}

func hasMulti(err error) bool {
	for err != nil {
		if _, ok := err.(interface{ Unwrap() []error }); ok {
			return true
		}
		err = errors.Unwrap(err)
	}
	return false
}
