package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/lifecycle-worker/lifecycle/internal/testutil"
	"github.com/lifecycle-worker/lifecycle/tasks"
)

// taskAPI is the API with the task routes on a Redis of its own.
func taskAPI(t *testing.T) (http.Handler, asynq.RedisClientOpt, *asynq.Inspector) {
	t.Helper()
	r := testutil.AsynqRedis(t)
	c := tasks.NewClient(r)
	t.Cleanup(func() { _ = c.Close() })
	in := testutil.Inspector(t, r)
	h := New(Params{Gatherer: prometheus.NewRegistry(), Log: zerolog.Nop(), Tasks: NewTaskQueue(c, in)})
	return h, r, in
}

// call sends one request as curl on this machine would and decodes the
// JSON answer.
func call(t *testing.T, h http.Handler, method, path, body string) (int, map[string]any) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, local(httptest.NewRequest(method, path, strings.NewReader(body))))
	var out map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatalf("%s %s: answer %q is not a JSON object: %v", method, path, rec.Body.String(), err)
	}
	return rec.Code, out
}

func TestEnqueueOne(t *testing.T) {
	t.Parallel()
	photo := tasks.PhotoDeletePayload{System: "artifi-v4", UserID: "2001", PhotoID: "100001", RequestID: "r-1"}
	merge := tasks.UserMergePayload{GuestID: "guest-5001", UserID: "2002"}
	tests := []struct {
		name, path, body string
		wantQueue        string
		wantID           string
	}{
		{"photo deletion", "/v1/photo-deletions", `{"system":"artifi-v4","user_id":"2001","photo_id":"100001","request_id":"r-1"}`, "photo", photo.TaskID()},
		{"merge", "/v1/merges", `{"guest_id":"guest-5001","user_id":"2002"}`, "merge", merge.TaskID()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h, _, in := taskAPI(t)
			want := map[string]any{"task_id": tt.wantID, "queue": tt.wantQueue, "status_url": tt.path + "/" + tt.wantID, "duplicate": false}
			status, got := call(t, h, "POST", tt.path, tt.body)
			if status != http.StatusAccepted {
				t.Errorf("first POST: %d, want 202", status)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("first POST (-want +got):\n%s", diff)
			}
			// The same request again: the same task, nothing new enqueued.
			want["duplicate"] = true
			status, got = call(t, h, "POST", tt.path, tt.body)
			if status != http.StatusOK {
				t.Errorf("second POST: %d, want 200", status)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("second POST (-want +got):\n%s", diff)
			}
			qi, err := in.GetQueueInfo(tt.wantQueue)
			if err != nil {
				t.Fatal(err)
			}
			if qi.Size != 1 {
				t.Errorf("queue %s holds %d tasks, want 1", tt.wantQueue, qi.Size)
			}
		})
	}
}

func TestEnqueueRefusals(t *testing.T) {
	t.Parallel()
	h, _, in := taskAPI(t)
	tests := []struct {
		name, path, body string
		want             int
		wantFields       any
	}{
		{"missing photo_id", "/v1/photo-deletions", `{"system":"artifi-v4","user_id":"2001"}`, 400,
			[]any{map[string]any{"field": "photo_id", "problem": "required"}}},
		{"member in the wrong case", "/v1/photo-deletions", `{"system":"artifi-v4","USER_ID":"2001","photo_id":"1"}`, 400,
			[]any{map[string]any{"field": "USER_ID", "problem": "unknown member (names are case-sensitive)"}}},
		{"storage key of another user", "/v1/photo-deletions", `{"system":"storage","user_id":"u-1","key":"users/u-2/a.jpg"}`, 400,
			[]any{map[string]any{"field": "key", "problem": `must be under "users/u-1/" (the payload's user_id)`}}},
		{"merge into itself", "/v1/merges", `{"guest_id":"g-1","user_id":"g-1"}`, 400,
			[]any{map[string]any{"field": "user_id", "problem": "must differ from guest_id"}}},
		{"number for a string", "/v1/merges", `{"guest_id":1,"user_id":"u-1"}`, 400,
			[]any{map[string]any{"field": "guest_id", "problem": "want a JSON string, got number"}}},
		{"too large", "/v1/merges", `{"guest_id":"` + strings.Repeat("a", 9000) + `","user_id":"u-1"}`, 413, nil},
	}
	for _, tt := range tests {
		status, got := call(t, h, "POST", tt.path, tt.body)
		if status != tt.want {
			t.Errorf("%s: %d %v, want %d", tt.name, status, got, tt.want)
		}
		if diff := cmp.Diff(tt.wantFields, got["fields"]); diff != "" {
			t.Errorf("%s: fields (-want +got):\n%s", tt.name, diff)
		}
	}
	rec := httptest.NewRecorder()
	req := local(httptest.NewRequest("POST", "/v1/merges", strings.NewReader(`{"guest_id":"g-1","user_id":"u-1"}`)))
	req.Header.Set("Content-Type", "text/plain")
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusUnsupportedMediaType {
		t.Errorf("text/plain body: %d, want 415", rec.Code)
	}
	for _, q := range []string{tasks.QueuePhoto, tasks.QueueMerge} {
		if qi, err := in.GetQueueInfo(q); err == nil && qi.Size != 0 {
			t.Errorf("queue %s holds %d tasks after refusals only", q, qi.Size)
		}
	}
}

func TestEnqueueBatch(t *testing.T) {
	t.Parallel()
	h, _, in := taskAPI(t)
	a := tasks.PhotoDeletePayload{System: "artifi-v3", UserID: "u-1", PhotoID: "1"}
	b := tasks.PhotoDeletePayload{System: "bigin", UserID: "u-1", Module: "Contacts", RecordID: "42"}
	body := `{"items":[
		{"system":"artifi-v3","user_id":"u-1","photo_id":"1"},
		{"system":"bigin","user_id":"u-1","module":"Contacts","record_id":"42"},
		{"system":"artifi-v3","user_id":"u-1","photo_id":"1"},
		{"system":"artifi-v3","user_id":"u-1"}]}`
	status, got := call(t, h, "POST", "/v1/photo-deletions:batch", body)
	if status != http.StatusOK {
		t.Fatalf("batch: %d %v, want 200", status, got)
	}
	ok := func(i int, id string, dup bool, st int) map[string]any {
		return map[string]any{"index": float64(i), "status": float64(st), "task_id": id, "queue": "photo", "status_url": "/v1/photo-deletions/" + id, "duplicate": dup}
	}
	want := map[string]any{
		"accepted": float64(2), "duplicates": float64(1), "failed": float64(1),
		"results": []any{
			ok(0, a.TaskID(), false, 202),
			ok(1, b.TaskID(), false, 202),
			ok(2, a.TaskID(), true, 200),
			map[string]any{"index": float64(3), "status": float64(400), "error": "invalid request",
				"fields": []any{map[string]any{"field": "items[3].photo_id", "problem": "required"}}},
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("batch (-want +got):\n%s", diff)
	}
	if qi, err := in.GetQueueInfo(tasks.QueuePhoto); err != nil || qi.Size != 2 {
		t.Errorf("queue photo after the batch: %+v %v, want 2 tasks", qi, err)
	}

	items := make([]string, 1001)
	for i := range items {
		items[i] = fmt.Sprintf(`{"guest_id":"g-%d","user_id":"u-1"}`, i)
	}
	for _, tt := range []struct {
		name, body string
		want       []any
	}{
		{"empty", `{"items":[]}`, []any{map[string]any{"field": "items", "problem": "required: 1 to 1000 payloads"}}},
		{"1001 items", `{"items":[` + strings.Join(items, ",") + `]}`, []any{map[string]any{"field": "items", "problem": "too many (1001, max 1000)"}}},
		{"unknown member in an item", `{"items":[{"guest_id":"g-1","user_id":"u-1","x":1}]}`, []any{map[string]any{"field": "items[0].x", "problem": "unknown member (names are case-sensitive)"}}},
	} {
		status, got := call(t, h, "POST", "/v1/merges:batch", tt.body)
		if status != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", tt.name, status)
		}
		if diff := cmp.Diff(tt.want, got["fields"]); diff != "" {
			t.Errorf("%s: fields (-want +got):\n%s", tt.name, diff)
		}
	}
	if qi, err := in.GetQueueInfo(tasks.QueueMerge); err == nil && qi.Size != 0 {
		t.Errorf("refused batches enqueued %d merges", qi.Size)
	}

	// A full batch is accepted, one result per item.
	status, got = call(t, h, "POST", "/v1/merges:batch", `{"items":[`+strings.Join(items[:1000], ",")+`]}`)
	if status != http.StatusOK || got["accepted"] != float64(1000) {
		t.Errorf("1000 merges: %d accepted %v, want 200 and 1000", status, got["accepted"])
	}
}

// TestTaskStatus runs a worker on the photo queue whose handler succeeds,
// finds the photo already gone, fails for now, or fails for good, by
// request id; merges are not served and stay pending.
func TestTaskStatus(t *testing.T) {
	t.Parallel()
	h, r, in := taskAPI(t)
	srv := asynq.NewServer(r, asynq.Config{
		Queues: map[string]int{tasks.QueuePhoto: 1}, Concurrency: 2, LogLevel: asynq.FatalLevel,
		RetryDelayFunc: func(int, error, *asynq.Task) time.Duration { return time.Hour },
	})
	mux := asynq.NewServeMux()
	mux.HandleFunc(tasks.TypePhotoDelete, func(ctx context.Context, t *asynq.Task) error {
		p, err := tasks.Decode[tasks.PhotoDeletePayload](t)
		if err != nil {
			return err
		}
		switch p.RequestID {
		case "gone":
			_, _ = t.ResultWriter().Write([]byte(`{"outcome":"already_gone"}`))
		case "flaky":
			return errors.New("artifi: 503 service unavailable")
		case "bad":
			return fmt.Errorf("artifi: 401 wrong key: %w", asynq.SkipRetry)
		}
		return nil
	})
	if err := srv.Start(mux); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)

	enqueue := func(path, body string) string {
		t.Helper()
		status, got := call(t, h, "POST", path, body)
		if status != http.StatusAccepted {
			t.Fatalf("POST %s: %d %v", path, status, got)
		}
		return got["task_id"].(string)
	}
	photo := func(req string) string {
		return enqueue("/v1/photo-deletions", `{"system":"artifi-v4","user_id":"2001","photo_id":"1","request_id":"`+req+`"}`)
	}
	ids := map[string]string{
		"ok": photo("ok"), "gone": photo("gone"), "flaky": photo("flaky"), "bad": photo("bad"),
		"merge": enqueue("/v1/merges", `{"guest_id":"g-1","user_id":"u-1"}`),
	}
	testutil.WaitTask(t, in, tasks.QueuePhoto, ids["ok"], asynq.TaskStateCompleted, 10*time.Second)
	testutil.WaitTask(t, in, tasks.QueuePhoto, ids["gone"], asynq.TaskStateCompleted, 10*time.Second)
	testutil.WaitTask(t, in, tasks.QueuePhoto, ids["flaky"], asynq.TaskStateRetry, 10*time.Second)
	testutil.WaitTask(t, in, tasks.QueuePhoto, ids["bad"], asynq.TaskStateArchived, 10*time.Second)

	tests := []struct {
		name string
		want map[string]any
	}{
		{"ok", map[string]any{"state": "completed", "outcome": "succeeded"}},
		{"gone", map[string]any{"state": "completed", "outcome": "already_gone"}},
		{"flaky", map[string]any{"state": "retry", "last_error": "artifi: 503 service unavailable", "retried": float64(1)}},
		{"bad", map[string]any{"state": "dead-lettered", "reason": "artifi: 401 wrong key: skip retry for the task"}},
		{"merge", map[string]any{"state": "pending", "queue": "merge", "type": "user:merge"}},
	}
	for _, tt := range tests {
		status, got := call(t, h, "GET", "/v1/tasks/"+ids[tt.name], "")
		if status != http.StatusOK {
			t.Errorf("%s: %d %v, want 200", tt.name, status, got)
			continue
		}
		if got["task_id"] != ids[tt.name] {
			t.Errorf("%s: task_id %v, want %s", tt.name, got["task_id"], ids[tt.name])
		}
		sub := map[string]any{}
		for k := range tt.want {
			sub[k] = got[k]
		}
		if diff := cmp.Diff(tt.want, sub); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.name, diff)
		}
		if tt.name == "flaky" {
			next, err := time.Parse(time.RFC3339Nano, fmt.Sprint(got["next_attempt_at"]))
			if err != nil || time.Until(next) < 50*time.Minute {
				t.Errorf("flaky: next_attempt_at %v, want about an hour from now", got["next_attempt_at"])
			}
		}
	}

	for _, tt := range []struct {
		id   string
		want int
	}{
		{tasks.UserMergePayload{GuestID: "g-9", UserID: "u-9"}.TaskID(), 404}, // never enqueued
		{"user:merge:xyz", 400},
		{"nosuch:type:" + strings.Repeat("a", 32), 400},
		{"photo:delete:" + strings.Repeat("A", 32), 400},
	} {
		if status, got := call(t, h, "GET", "/v1/tasks/"+tt.id, ""); status != tt.want {
			t.Errorf("GET /v1/tasks/%s: %d %v, want %d", tt.id, status, got, tt.want)
		}
	}

	// The typed routes a producer's status_url names answer their own
	// type only, so the photo scope never reads a merge.
	for _, tt := range []struct {
		path string
		want int
	}{
		{"/v1/photo-deletions/" + ids["ok"], 200},
		{"/v1/merges/" + ids["merge"], 200},
		{"/v1/merges/" + ids["ok"], 400},
		{"/v1/photo-deletions/" + ids["merge"], 400},
	} {
		if status, got := call(t, h, "GET", tt.path, ""); status != tt.want {
			t.Errorf("GET %s: %d %v, want %d", tt.path, status, got, tt.want)
		}
	}
}
