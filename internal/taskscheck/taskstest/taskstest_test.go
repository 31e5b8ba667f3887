package taskstest_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hibiken/asynq"

	"github.com/lifecycle-worker/lifecycle/internal/testutil"
	"github.com/lifecycle-worker/lifecycle/tasks"
	"github.com/lifecycle-worker/lifecycle/tasks/taskstest"
)

var (
	photo = tasks.PhotoDeletePayload{System: tasks.SystemIBMBPM, UserID: "u-1", User: "jane.doe", RequestID: "r-1"}
	merge = tasks.UserMergePayload{GuestID: "g-1", UserID: "u-1"}
)

type testBundle struct {
	redis  asynq.RedisClientOpt
	client *tasks.Client
}

func setup(t *testing.T) testBundle {
	t.Helper()
	r := testutil.AsynqRedis(t)
	c := tasks.NewClient(r)
	t.Cleanup(func() { _ = c.Close() })
	return testBundle{redis: r, client: c}
}

// fakeTB records failures instead of failing the real test. Methods the
// helpers do not call are left to the nil embedded TB, so a new call panics
// here rather than passing unnoticed.
type fakeTB struct {
	testing.TB
	mu     sync.Mutex
	failed bool
	msg    string
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) Fatalf(format string, args ...any) {
	f.mu.Lock()
	f.failed, f.msg = true, fmt.Sprintf(format, args...)
	f.mu.Unlock()
	runtime.Goexit() // as testing.T does: nothing after Fatalf runs
}

// run calls fn with a fakeTB on its own goroutine, since Fatalf ends it.
func run(fn func(tb testing.TB)) *fakeTB {
	f := &fakeTB{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(f)
	}()
	<-done
	return f
}

func TestRequireEnqueued(t *testing.T) {
	t.Parallel()
	b := setup(t)
	if _, err := b.client.EnqueuePhotoDelete(t.Context(), photo); err != nil {
		t.Fatal(err)
	}
	info := taskstest.RequireEnqueued(t, b.redis, tasks.TypePhotoDelete, photo)
	got := []any{info.ID, info.Queue, info.MaxRetry}
	if diff := cmp.Diff([]any{photo.TaskID(), tasks.QueuePhoto, 20}, got); diff != "" {
		t.Errorf("returned task (-want, +got):\n%s", diff)
	}
	taskstest.RequireNotEnqueued(t, b.redis, tasks.TypeUserMerge)
}

func TestRequireEnqueuedFindsScheduledTasks(t *testing.T) {
	t.Parallel()
	b := setup(t)
	task, err := tasks.NewUserMergeTask(merge, asynq.ProcessIn(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	ac := asynq.NewClient(b.redis)
	defer ac.Close()
	if _, err := ac.Enqueue(task); err != nil {
		t.Fatal(err)
	}
	info := taskstest.RequireEnqueued(t, b.redis, tasks.TypeUserMerge, merge)
	if info.State != asynq.TaskStateScheduled {
		t.Errorf("state = %v, want scheduled", info.State)
	}
}

func TestEnqueuedReadsEveryPage(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const n = 520 // more than one Inspector page
	for i := range n {
		p := tasks.UserMergePayload{GuestID: fmt.Sprintf("g-%d", i), UserID: "u-1"}
		if _, err := b.client.EnqueueMerge(t.Context(), p); err != nil {
			t.Fatal(err)
		}
	}
	if got := len(taskstest.Enqueued(t, b.redis, tasks.TypeUserMerge)); got != n {
		t.Errorf("Enqueued() found %d tasks, want %d", got, n)
	}
	taskstest.RequireEnqueued(t, b.redis, tasks.TypeUserMerge, tasks.UserMergePayload{GuestID: fmt.Sprintf("g-%d", n-1), UserID: "u-1"})
}

func TestHelpersFail(t *testing.T) {
	t.Parallel()
	b := setup(t)
	if _, err := b.client.EnqueuePhotoDelete(t.Context(), photo); err != nil {
		t.Fatal(err)
	}
	otherPhoto := photo
	otherPhoto.User = "john.roe"
	down := asynq.RedisClientOpt{Addr: "127.0.0.1:1", DialTimeout: 100 * time.Millisecond}

	tests := []struct {
		name     string
		fn       func(tb testing.TB)
		wantFail bool
		wantMsg  []string // substrings of the failure message
	}{
		{
			name: "enqueued passes",
			fn:   func(tb testing.TB) { taskstest.RequireEnqueued(tb, b.redis, tasks.TypePhotoDelete, photo) },
		},
		{
			name:     "nothing of that type",
			fn:       func(tb testing.TB) { taskstest.RequireEnqueued(tb, b.redis, tasks.TypeUserMerge, merge) },
			wantFail: true,
			wantMsg:  []string{"no user:merge task enqueued"},
		},
		{
			name:     "other payload",
			fn:       func(tb testing.TB) { taskstest.RequireEnqueued(tb, b.redis, tasks.TypePhotoDelete, otherPhoto) },
			wantFail: true,
			wantMsg:  []string{"no photo:delete task with the wanted payload among 1 enqueued", `-`, `"john.roe"`, `+`, `"jane.doe"`},
		},
		{
			name:     "payload of another shape",
			fn:       func(tb testing.TB) { taskstest.RequireEnqueued(tb, b.redis, tasks.TypePhotoDelete, 42) },
			wantFail: true,
			wantMsg:  []string{"does not decode"},
		},
		{
			name: "not enqueued passes",
			fn:   func(tb testing.TB) { taskstest.RequireNotEnqueued(tb, b.redis, tasks.TypeUserMerge) },
		},
		{
			name:     "not enqueued but is",
			fn:       func(tb testing.TB) { taskstest.RequireNotEnqueued(tb, b.redis, tasks.TypePhotoDelete) },
			wantFail: true,
			wantMsg:  []string{"want no photo:delete task, found 1", photo.TaskID()},
		},
		{
			name:     "redis down",
			fn:       func(tb testing.TB) { taskstest.RequireNotEnqueued(tb, down, tasks.TypePhotoDelete) },
			wantFail: true,
			wantMsg:  []string{"taskstest: list queues"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := run(tt.fn)
			if f.failed != tt.wantFail {
				t.Fatalf("failed = %v, want %v (message: %q)", f.failed, tt.wantFail, f.msg)
			}
			for _, s := range tt.wantMsg {
				if !strings.Contains(f.msg, s) {
					t.Errorf("message %q does not contain %q", f.msg, s)
				}
			}
		})
	}
}

// The Recorder must answer exactly as the real Client does, or a producer's
// tests would pass against behaviour production does not have.
func TestRecorderMatchesClient(t *testing.T) {
	t.Parallel()
	type call struct {
		Res tasks.Result
		Err string
	}
	script := func(ctx context.Context, e tasks.Enqueuer) []call {
		var calls []call
		add := func(res tasks.Result, err error) {
			c := call{Res: res}
			if err != nil {
				c.Err = err.Error()
			}
			calls = append(calls, c)
		}
		other := photo
		other.RequestID = "r-2"
		add(e.EnqueuePhotoDelete(ctx, photo))
		add(e.EnqueuePhotoDelete(ctx, photo)) // checkout retry
		add(e.EnqueuePhotoDelete(ctx, other))
		add(e.EnqueuePhotoDelete(ctx, tasks.PhotoDeletePayload{System: "foo"}))
		add(e.EnqueueMerge(ctx, merge))
		add(e.EnqueueMerge(ctx, tasks.UserMergePayload{GuestID: merge.GuestID, UserID: merge.UserID, RequestID: "again"}))
		add(e.EnqueueMerge(ctx, tasks.UserMergePayload{GuestID: "x", UserID: "x"}))
		return calls
	}
	b := setup(t)
	want := script(t.Context(), b.client)
	rec := &taskstest.Recorder{}
	got := script(t.Context(), rec)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Recorder vs Client (-client, +recorder):\n%s", diff)
	}

	other := photo
	other.RequestID = "r-2"
	if diff := cmp.Diff([]tasks.PhotoDeletePayload{photo, other}, rec.PhotoDeletes()); diff != "" {
		t.Errorf("PhotoDeletes() (-want, +got):\n%s", diff)
	}
	if diff := cmp.Diff([]tasks.UserMergePayload{merge}, rec.Merges()); diff != "" {
		t.Errorf("Merges() (-want, +got):\n%s", diff)
	}
}

func TestRecorderFailures(t *testing.T) {
	t.Parallel()
	rec := &taskstest.Recorder{}
	outage := errors.New("redis: connection refused")
	rec.FailWith(outage)

	if _, err := rec.EnqueueMerge(t.Context(), merge); !errors.Is(err, outage) {
		t.Errorf("err = %v, want %v", err, outage)
	}
	// Validation still comes first, as in the Client.
	var ve *tasks.ValidationError
	if _, err := rec.EnqueueMerge(t.Context(), tasks.UserMergePayload{}); !errors.As(err, &ve) {
		t.Errorf("err = %v, want a *ValidationError", err)
	}
	rec.FailWith(nil)

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := rec.EnqueuePhotoDelete(ctx, photo); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	if got := len(rec.Merges()) + len(rec.PhotoDeletes()); got != 0 {
		t.Errorf("%d tasks recorded from failed calls, want 0", got)
	}
	if _, err := rec.EnqueueMerge(t.Context(), merge); err != nil {
		t.Errorf("after FailWith(nil): %v", err)
	}
}
