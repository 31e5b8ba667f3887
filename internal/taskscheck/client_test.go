package taskscheck_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/hibiken/asynq"

	"github.com/lifecycle-worker/lifecycle/internal/testutil"
	"github.com/lifecycle-worker/lifecycle/tasks"
)

var (
	photoPayload = tasks.PhotoDeletePayload{System: tasks.SystemBigin, UserID: "u-1", Module: tasks.BiginContacts, RecordID: "42", RequestID: "r-1"}
	mergePayload = tasks.UserMergePayload{GuestID: "g-1", UserID: "u-1", RequestID: "order-9"}
)

// enqueued is what asynq stored, reduced to what the contract decides.
type enqueued struct {
	ID, Queue, Type string
	Payload         string
	MaxRetry        int
	Timeout         time.Duration
	Retention       time.Duration
	State           asynq.TaskState
}

func TestClientOptionsPerType(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		enqueue func(context.Context, *tasks.Client) (tasks.Result, error)
		want    enqueued
	}{
		{
			name: "photo:delete",
			enqueue: func(ctx context.Context, c *tasks.Client) (tasks.Result, error) {
				return c.EnqueuePhotoDelete(ctx, photoPayload)
			},
			want: enqueued{
				ID: photoPayload.TaskID(), Queue: "photo", Type: "photo:delete",
				Payload:  `{"system":"bigin","user_id":"u-1","request_id":"r-1","module":"Contacts","record_id":"42"}`,
				MaxRetry: 20, Timeout: 2 * time.Minute, Retention: 24 * time.Hour, State: asynq.TaskStatePending,
			},
		},
		{
			name: "user:merge",
			enqueue: func(ctx context.Context, c *tasks.Client) (tasks.Result, error) {
				return c.EnqueueMerge(ctx, mergePayload)
			},
			want: enqueued{
				ID: mergePayload.TaskID(), Queue: "merge", Type: "user:merge",
				Payload:  `{"guest_id":"g-1","user_id":"u-1","request_id":"order-9"}`,
				MaxRetry: 20, Timeout: 30 * time.Second, Retention: 24 * time.Hour, State: asynq.TaskStatePending,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := testutil.AsynqRedis(t)
			c, in := newClient(t, r), testutil.Inspector(t, r)

			res, err := tt.enqueue(t.Context(), c)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tasks.Result{TaskID: tt.want.ID, Queue: tt.want.Queue}, res); diff != "" {
				t.Errorf("first enqueue (-want, +got):\n%s", diff)
			}
			info, err := in.GetTaskInfo(res.Queue, res.TaskID)
			if err != nil {
				t.Fatal(err)
			}
			got := enqueued{
				ID: info.ID, Queue: info.Queue, Type: info.Type, Payload: string(info.Payload),
				MaxRetry: info.MaxRetry, Timeout: info.Timeout, Retention: info.Retention, State: info.State,
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("stored task (-want, +got):\n%s", diff)
			}

			// The same request again, as a checkout retry would send it.
			res, err = tt.enqueue(t.Context(), c)
			if err != nil {
				t.Fatalf("second enqueue: %v, want no error", err)
			}
			if diff := cmp.Diff(tasks.Result{TaskID: tt.want.ID, Queue: tt.want.Queue, Duplicate: true}, res); diff != "" {
				t.Errorf("second enqueue (-want, +got):\n%s", diff)
			}
			qi, err := in.GetQueueInfo(tt.want.Queue)
			if err != nil {
				t.Fatal(err)
			}
			if qi.Size != 1 {
				t.Errorf("queue %s holds %d tasks, want 1", tt.want.Queue, qi.Size)
			}
		})
	}
}

func TestClientDistinctRequests(t *testing.T) {
	t.Parallel()
	r := testutil.AsynqRedis(t)
	c, in := newClient(t, r), testutil.Inspector(t, r)
	other := photoPayload
	other.RequestID = "r-2"
	for _, p := range []tasks.PhotoDeletePayload{photoPayload, other} {
		res, err := c.EnqueuePhotoDelete(t.Context(), p)
		if err != nil {
			t.Fatal(err)
		}
		if res.Duplicate {
			t.Errorf("request %s reported as a duplicate", p.RequestID)
		}
	}
	pending, err := in.ListPendingTasks(tasks.QueuePhoto)
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) != 2 {
		t.Errorf("%d pending tasks, want 2", len(pending))
	}
}

func TestClientValidatesBeforeRedis(t *testing.T) {
	t.Parallel()
	// Nothing listens here: any attempt to reach Redis fails.
	c := tasks.NewClient(asynq.RedisClientOpt{Addr: "127.0.0.1:1", DialTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { _ = c.Close() })

	_, err := c.EnqueuePhotoDelete(t.Context(), tasks.PhotoDeletePayload{System: "storage", UserID: "u-1", Key: "users/u-2/x"})
	var ve *tasks.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("invalid photo: err = %v, want a *ValidationError", err)
	}
	if diff := cmp.Diff(tasks.ValidationError{Field: "key", Problem: `must be under "users/u-1/" (the payload's user_id)`}, *ve); diff != "" {
		t.Errorf("(-want, +got):\n%s", diff)
	}
	if got, want := err.Error(), `photo:delete: invalid payload: key: must be under "users/u-1/" (the payload's user_id)`; got != want {
		t.Errorf("err = %q, want %q", got, want)
	}

	_, err = c.EnqueueMerge(t.Context(), tasks.UserMergePayload{GuestID: "x", UserID: "x"})
	if !errors.As(err, &ve) || ve.Field != "user_id" {
		t.Errorf("invalid merge: err = %v, want a *ValidationError on user_id", err)
	}

	// A valid payload does reach for Redis, and that failure is not a
	// validation error: the producer should retry it, not blame the input.
	_, err = c.EnqueueMerge(t.Context(), mergePayload)
	if err == nil || errors.As(err, &ve) {
		t.Errorf("Redis down: err = %v, want a non-validation error", err)
	}
}

// A completed task keeps deduplicating for its Retention: the producer's retry
// after the worker already did the job must not do it again.
func TestClientDuplicateOfCompletedTask(t *testing.T) {
	r := testutil.AsynqRedis(t)
	c, in := newClient(t, r), testutil.Inspector(t, r)

	srv := asynq.NewServer(r, asynq.Config{
		Concurrency: 1,
		Queues:      tasks.QueueWeights(),
		LogLevel:    asynq.FatalLevel,
	})
	done := make(chan struct{}, 1)
	mux := asynq.NewServeMux()
	mux.HandleFunc(tasks.TypeUserMerge, func(ctx context.Context, t *asynq.Task) error {
		done <- struct{}{}
		return nil
	})
	if err := srv.Start(mux); err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()

	first, err := c.EnqueueMerge(t.Context(), mergePayload)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the task was not processed")
	}
	// The handler has returned; wait for asynq to mark the task completed.
	testutil.WaitTask(t, in, first.Queue, first.TaskID, asynq.TaskStateCompleted, 5*time.Second)

	again, err := c.EnqueueMerge(t.Context(), mergePayload)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(tasks.Result{TaskID: first.TaskID, Queue: first.Queue, Duplicate: true}, again); diff != "" {
		t.Errorf("enqueue after completion (-want, +got):\n%s", diff)
	}
}

func TestWrapClientLeavesOwnership(t *testing.T) {
	t.Parallel()
	r := testutil.AsynqRedis(t)
	ac := asynq.NewClient(r)
	defer ac.Close()
	c := tasks.WrapClient(ac)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	// The wrapped client still works after the wrapper is closed.
	if _, err := c.EnqueueMerge(t.Context(), mergePayload); err != nil {
		t.Fatalf("enqueue through the wrapper after Close: %v", err)
	}
}

// TestClientHeaders: a producer's HeaderFunc (its trace context) travels in
// the task's headers, with the spec's options intact; without one, a task
// has no headers.
func TestClientHeaders(t *testing.T) {
	t.Parallel()
	r := testutil.AsynqRedis(t)
	in := asynq.NewInspector(r)
	defer in.Close()
	type ctxKey struct{}
	traced := tasks.NewClient(r, tasks.WithHeaders(func(ctx context.Context, h map[string]string) {
		h["traceparent"], _ = ctx.Value(ctxKey{}).(string)
	}))
	defer traced.Close()
	plain := tasks.NewClient(r)
	defer plain.Close()

	const tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	ctx := context.WithValue(t.Context(), ctxKey{}, tp)
	res, err := traced.EnqueueMerge(ctx, mergePayload)
	if err != nil {
		t.Fatal(err)
	}
	plainRes, err := plain.EnqueuePhotoDelete(ctx, photoPayload)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]map[string]string{}
	for _, r := range []tasks.Result{res, plainRes} {
		info, err := in.GetTaskInfo(r.Queue, r.TaskID)
		if err != nil {
			t.Fatal(err)
		}
		if info.MaxRetry != 20 || info.Retention != 24*time.Hour {
			t.Errorf("%s: max retry %d, retention %v: the spec's options were lost", r.TaskID, info.MaxRetry, info.Retention)
		}
		got[info.Type] = info.Headers
	}
	want := map[string]map[string]string{"user:merge": {"traceparent": tp}, "photo:delete": {}}
	if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("headers (-want +got):\n%s", diff)
	}
}
