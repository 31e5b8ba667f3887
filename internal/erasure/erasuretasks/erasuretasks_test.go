package erasuretasks_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/lifecycle-worker/lifecycle/internal/erasure"
	"github.com/lifecycle-worker/lifecycle/internal/erasure/erasuretasks"
	"github.com/lifecycle-worker/lifecycle/internal/rkeys"
	"github.com/lifecycle-worker/lifecycle/internal/testutil"
	"github.com/lifecycle-worker/lifecycle/tasks"
)

var filed = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func TestPayloadRoundTrip(t *testing.T) {
	r := erasure.Request{ID: "req-1", UserID: "u-1", BPMUser: "jdoe", FiledBy: "dpo-7", FiledAt: filed,
		Bigin: []erasure.BiginRecord{{Module: "Contacts", RecordID: "11"}}}
	p := erasuretasks.Payload(r, 3)
	if p.Slice != 3 || p.TaskID() != erasuretasks.NewQueue(nil, nil).TaskID(r, 3) {
		t.Errorf("payload of slice 3: %+v", p)
	}
	if diff := cmp.Diff(r, erasuretasks.Request(p)); diff != "" {
		t.Errorf("request after a round trip (-want +got):\n%s", diff)
	}
}

func TestCheckNamesEveryField(t *testing.T) {
	err := erasuretasks.NewQueue(nil, nil).Check(erasure.Request{ID: "req 1", FiledAt: filed})
	var got []string
	for _, e := range err.(interface{ Unwrap() error }).Unwrap().(interface{ Unwrap() []error }).Unwrap() {
		var ve *tasks.ValidationError
		if errors.As(e, &ve) {
			got = append(got, ve.Field)
		}
	}
	if diff := cmp.Diff([]string{"request_id", "user_id", "filed_by"}, got); diff != "" {
		t.Errorf("fields named (-want +got):\n%s\n(%v)", diff, err)
	}
}

func TestQueue(t *testing.T) {
	ctx := context.Background()
	opt := testutil.AsynqRedis(t)
	client := tasks.NewClient(opt)
	defer client.Close()
	in := testutil.Inspector(t, opt)
	q := erasuretasks.NewQueue(client, in)
	r := erasure.Request{ID: "req-1", UserID: "u-1", FiledBy: "dpo-7", FiledAt: filed}

	state := func(n int) string {
		info, err := in.GetTaskInfo(tasks.QueueErase, q.TaskID(r, n))
		if errors.Is(err, asynq.ErrTaskNotFound) {
			return "none"
		}
		if err != nil {
			t.Fatal(err)
		}
		return info.State.String()
	}
	steps := []struct {
		name string
		do   func() error
		n    int
		want string
	}{
		{"first slice at once", func() error { return q.Enqueue(ctx, r, 0, 0) }, 0, "pending"},
		{"filed again: the same task", func() error { return q.Enqueue(ctx, r, 0, 0) }, 0, "pending"},
		{"watchdog", func() error { return q.Enqueue(ctx, r, 1, 40*time.Second) }, 1, "scheduled"},
		{"handed over", func() error { return q.RunNow(ctx, r, 1) }, 1, "pending"},
		{"next watchdog", func() error { return q.Enqueue(ctx, r, 2, 40*time.Second) }, 2, "scheduled"},
		{"finished: watchdog cancelled", func() error { return q.Cancel(ctx, r, 2) }, 2, "none"},
		{"cancelling a gone slice is no error", func() error { return q.Cancel(ctx, r, 2) }, 2, "none"},
		{"running a gone slice is no error", func() error { return q.RunNow(ctx, r, 5) }, 5, "none"},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if got := state(s.n); got != s.want {
			t.Errorf("%s: slice %d is %s, want %s", s.name, s.n, got, s.want)
		}
	}
}

func TestCopiesForgetTheTasksNamingASubject(t *testing.T) {
	ctx := context.Background()
	opt := testutil.AsynqRedis(t)
	client := tasks.NewClient(opt)
	defer client.Close()
	ac := asynq.NewClient(opt)
	defer ac.Close()
	in := testutil.Inspector(t, opt)
	rdb := redis.NewClient(&redis.Options{Addr: opt.Addr})
	defer rdb.Close()

	enqueue := func(t *testing.T, task *asynq.Task, opts ...asynq.Option) string {
		t.Helper()
		info, err := ac.Enqueue(task, opts...)
		if err != nil {
			t.Fatal(err)
		}
		return info.ID
	}
	photo := func(user, key string) *asynq.Task {
		p := tasks.PhotoDeletePayload{System: "storage", UserID: user, Key: key}
		task, err := tasks.NewPhotoDeleteTask(p)
		if err != nil {
			t.Fatal(err)
		}
		return task
	}
	pending := enqueue(t, photo("u-1", "users/u-1/photos/1.jpg"))
	merge, err := tasks.NewUserMergeTask(tasks.UserMergePayload{GuestID: "g-1", UserID: "u-9"})
	if err != nil {
		t.Fatal(err)
	}
	scheduled := enqueue(t, merge, asynq.ProcessIn(time.Hour))
	archived := enqueue(t, asynq.NewTask("legacy:thing", []byte(`{"who":{"ids":["g-1"]}}`)), asynq.Queue("default"))
	if err := in.ArchiveTask("default", archived); err != nil {
		t.Fatal(err)
	}
	rdb.Set(ctx, rkeys.TaskCompleted(tasks.QueuePhoto, pending), "1", 0)
	neighbour := enqueue(t, photo("u-10", "users/u-10/photos/1.jpg"))
	opaque := enqueue(t, asynq.NewTask("legacy:raw", []byte("u-1")), asynq.Queue("default"))
	r := erasure.Request{ID: "req-1", UserID: "u-1", FiledBy: "dpo-7", FiledAt: filed}
	if err := erasuretasks.NewQueue(client, in).Enqueue(ctx, r, 0, 0); err != nil {
		t.Fatal(err)
	}

	c := erasuretasks.NewCopies(in, rdb)
	ids := []string{"u-1", "g-1"}
	found, err := c.Find(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"task default/" + archived + " (archived)",
		"task merge/" + scheduled + " (scheduled)",
		"task photo/" + pending + " (pending)",
	}
	slices.Sort(found)
	if diff := cmp.Diff(want, found); diff != "" {
		t.Errorf("found (-want +got):\n%s", diff)
	}
	if n, err := c.Forget(ctx, ids); err != nil || n != 3 {
		t.Errorf("Forget = %d, %v; want 3", n, err)
	}
	if n, err := c.Forget(ctx, ids); err != nil || n != 0 {
		t.Errorf("Forget again = %d, %v; want 0", n, err)
	}
	if rdb.Exists(ctx, rkeys.TaskCompleted(tasks.QueuePhoto, pending)).Val() != 0 {
		t.Error("the completion record of a forgotten task is left")
	}
	for q, id := range map[string]string{tasks.QueuePhoto: neighbour, "default": opaque, tasks.QueueErase: erasuretasks.NewQueue(nil, nil).TaskID(r, 0)} {
		if _, err := in.GetTaskInfo(q, id); err != nil {
			t.Errorf("task %s/%s: %v; want it kept", q, id, err)
		}
	}
}
