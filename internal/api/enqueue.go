package api

import (
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/lifecycle-worker/lifecycle/internal/apitoken"
	"github.com/lifecycle-worker/lifecycle/tasks"
)

// Producers in any language enqueue photo deletions and merges here, with
// the payloads of the wire contract (tasks/CONTRACT.md) as request bodies.
// The task id is the contract's, so a producer can compute it beforehand and
// a request sent twice is one task.

// maxBatch bounds a batch: a checkout's or a clean-up job's worth, answered
// within the server's write timeout.
const maxBatch = 1000

// maxEnqueueBody bounds one payload (a storage key is at most 1 kB); a
// batch may be maxBatch times that.
const maxEnqueueBody = 8 << 10

// enqueueRoutes adds:
//
//	POST /v1/photo-deletions        a photo:delete payload: 202 with task_id and
//	                                status_url; 200 with the same id for a
//	                                request already in hand; 400 naming the bad
//	                                fields; 413; 415
//	POST /v1/merges                 a user:merge payload: the same answers
//	POST /v1/photo-deletions:batch  {"items": [payload, ...]}, 1 to 1,000: 200
//	POST /v1/merges:batch           with one result per item, in order, each
//	                                with the status the item alone would get;
//	                                400 when the batch itself is malformed
func enqueueRoutes(rt *router, p Params) {
	q := p.Tasks
	rt.handle(http.MethodPost, "/v1/photo-deletions", apitoken.ScopePhoto, single(p, q.EnqueuePhotoDelete))
	rt.handle(http.MethodPost, "/v1/merges", apitoken.ScopeMerge, single(p, q.EnqueueMerge))
	rt.handle(http.MethodPost, "/v1/photo-deletions:batch", apitoken.ScopePhoto, batch(p, q.EnqueuePhotoDelete))
	rt.handle(http.MethodPost, "/v1/merges:batch", apitoken.ScopeMerge, batch(p, q.EnqueueMerge))
}

// enqueued is the answer for one enqueued (or duplicate) request.
type enqueued struct {
	TaskID    string `json:"task_id"`
	Queue     string `json:"queue"`
	StatusURL string `json:"status_url"`
	Duplicate bool   `json:"duplicate"`
}

func enqueueAnswer(r tasks.Result) (int, enqueued) {
	status := http.StatusAccepted
	if r.Duplicate {
		status = http.StatusOK
	}
	return status, enqueued{TaskID: r.TaskID, Queue: r.Queue, StatusURL: taskURL(r.TaskID), Duplicate: r.Duplicate}
}

func single[P any](p Params, enqueue func(context.Context, P) (tasks.Result, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var payload P
		if err := readJSON(w, r, maxEnqueueBody, &payload); err != nil {
			writeError(w, p.Log, err)
			return
		}
		res, err := enqueue(r.Context(), payload)
		if err != nil {
			writeError(w, p.Log, err)
			return
		}
		status, body := enqueueAnswer(res)
		w.Header().Set("Location", body.StatusURL)
		p.Log.Info().Str("task_id", res.TaskID).Bool("duplicate", res.Duplicate).Msg("task enqueued over http")
		writeJSON(w, status, body)
	}
}

// batchResult is one item's answer: Status is what the item alone would
// have got, with its answer beside it.
type batchResult struct {
	Index  int `json:"index"`
	Status int `json:"status"`
	*enqueued
	*errorBody
}

func batch[P any](p Params, enqueue func(context.Context, P) (tasks.Result, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Items []P `json:"items"`
		}
		if err := readJSON(w, r, maxBatch*maxEnqueueBody, &body); err != nil {
			writeError(w, p.Log, err)
			return
		}
		switch n := len(body.Items); {
		case n == 0:
			writeError(w, p.Log, problem("items", "required: 1 to 1000 payloads"))
			return
		case n > maxBatch:
			writeError(w, p.Log, problem("items", fmt.Sprintf("too many (%d, max %d)", n, maxBatch)))
			return
		}
		results := make([]batchResult, len(body.Items))
		counts := map[string]int{}
		for i, item := range body.Items {
			results[i].Index = i
			res, err := enqueue(r.Context(), item)
			if err != nil {
				status, eb := errorAnswer(p.Log, err)
				results[i].Status, results[i].errorBody = status, &eb
				for j := range eb.Fields {
					eb.Fields[j].Field = fmt.Sprintf("items[%d].%s", i, eb.Fields[j].Field)
				}
				counts["failed"]++
				continue
			}
			status, e := enqueueAnswer(res)
			results[i].Status, results[i].enqueued = status, &e
			if res.Duplicate {
				counts["duplicates"]++
			} else {
				counts["accepted"]++
			}
		}
		p.Log.Info().Int("items", len(results)).Int("accepted", counts["accepted"]).Int("duplicates", counts["duplicates"]).
			Int("failed", counts["failed"]).Msg("batch enqueued over http")
		writeJSON(w, http.StatusOK, map[string]any{
			"results": results, "accepted": counts["accepted"], "duplicates": counts["duplicates"], "failed": counts["failed"],
		})
	}
}

// readJSON reads a JSON body of at most limit bytes strictly (decodeStrict)
// into v.
func readJSON(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	if err := requireJSON(r); err != nil {
		return err
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		return err
	}
	return decodeStrict(body, v)
}
