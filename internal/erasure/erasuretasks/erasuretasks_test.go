package erasuretasks_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hibiken/asynq"

	"github.com/lifecycle-worker/lifecycle/internal/erasure"
	"github.com/lifecycle-worker/lifecycle/internal/erasure/erasuretasks"
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
