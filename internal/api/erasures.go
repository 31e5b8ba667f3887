package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/lifecycle-worker/lifecycle/internal/erasure"
	"github.com/lifecycle-worker/lifecycle/tasks"
)

// ErasureService is what the privacy team's routes need (erasure.Service).
type ErasureService interface {
	File(ctx context.Context, r erasure.Request) (erasure.Filed, error)
	Get(ctx context.Context, id string) (erasure.Record, error)
	Open(ctx context.Context) ([]erasure.Record, error)
}

var _ ErasureService = (*erasure.Service)(nil)

// maxErasureBody bounds a filing: a request is a few ids.
const maxErasureBody = 64 << 10

// fieldProblem is one bad field of a filing.
type fieldProblem struct {
	Field   string `json:"field"`
	Problem string `json:"problem"`
}

// erasureRoutes adds the privacy team's routes:
//
//	POST /v1/erasures        file a request (JSON user:erase payload without slice):
//	                         202 and the status URL; 200 if the request id was
//	                         filed before; 400 naming every bad field
//	GET  /v1/erasures/{id}   one request's status, deadline and progress
//	GET  /v1/erasures        open requests, soonest due first
func erasureRoutes(mux *http.ServeMux, p Params) {
	svc := p.Erasures
	mux.HandleFunc("POST /v1/erasures", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxErasureBody))
		if err != nil {
			writeJSON(w, http.StatusRequestEntityTooLarge, map[string]string{"error": "body too large"})
			return
		}
		// The request as filed: the user:erase payload, whose slice only the
		// worker sets.
		var in struct {
			erasure.Request
			Slice int `json:"slice"`
		}
		dec := json.NewDecoder(bytes.NewReader(body))
		// Strict: a misspelt "bpm_usr" must fail rather than be dropped
		// and leave an avatar unerased.
		dec.DisallowUnknownFields()
		if err := dec.Decode(&in); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]any{"error": "invalid JSON: " + err.Error()})
			return
		}
		if in.Slice != 0 {
			writeJSON(w, http.StatusBadRequest, map[string]any{"error": "invalid request", "fields": []fieldProblem{{"slice", "set by the worker only"}}})
			return
		}
		filed, err := svc.File(r.Context(), in.Request)
		var ves []*tasks.ValidationError
		if collectValidation(err, &ves) {
			fields := make([]fieldProblem, len(ves))
			for i, v := range ves {
				fields[i] = fieldProblem{v.Field, v.Problem}
			}
			writeJSON(w, http.StatusBadRequest, map[string]any{"error": "invalid request", "fields": fields})
			return
		}
		if err != nil {
			p.Log.Error().Err(err).Str("request_id", in.ID).Msg("filing an erasure failed")
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "internal error"})
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
	mux.HandleFunc("GET /v1/erasures/{id}", func(w http.ResponseWriter, r *http.Request) {
		rec, err := svc.Get(r.Context(), r.PathValue("id"))
		if errors.Is(err, erasure.ErrNotFound) {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such erasure request"})
			return
		}
		if err != nil {
			p.Log.Error().Err(err).Msg("reading an erasure failed")
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "internal error"})
			return
		}
		writeJSON(w, http.StatusOK, view(rec))
	})
	mux.HandleFunc("GET /v1/erasures", func(w http.ResponseWriter, r *http.Request) {
		recs, err := svc.Open(r.Context())
		if err != nil {
			p.Log.Error().Err(err).Msg("listing erasures failed")
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "internal error"})
			return
		}
		out := make([]erasure.Record, len(recs))
		for i, rec := range recs {
			out[i] = view(rec)
		}
		writeJSON(w, http.StatusOK, map[string]any{"erasures": out})
	})
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
