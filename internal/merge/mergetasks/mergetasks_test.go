package mergetasks_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hibiken/asynq"
	"go.uber.org/goleak"

	"github.com/lifecycle-worker/lifecycle/internal/merge/mergetasks"
	"github.com/lifecycle-worker/lifecycle/internal/testutil"
	"github.com/lifecycle-worker/lifecycle/tasks"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestQueuedSeesEveryWaitingMerge: a merge pending, scheduled or
// dead-lettered makes its guest queued; a guest with no merge, or one
// whose id only starts like a queued guest's, is not.
func TestQueuedSeesEveryWaitingMerge(t *testing.T) {
	ctx := context.Background()
	opt := testutil.AsynqRedis(t)
	in := testutil.Inspector(t, opt)
	q := mergetasks.NewQueue(in)
	if got, err := q.Queued(ctx, "guest-1"); err != nil || got {
		t.Fatalf("before any merge was enqueued: %v, %v; want false", got, err)
	}

	c := asynq.NewClient(opt)
	defer c.Close()
	enqueue := func(guest string, opts ...asynq.Option) string {
		task, err := tasks.NewUserMergeTask(tasks.UserMergePayload{GuestID: guest, UserID: "u-" + guest}, opts...)
		if err != nil {
			t.Fatal(err)
		}
		info, err := c.Enqueue(task)
		if err != nil {
			t.Fatal(err)
		}
		return info.ID
	}
	enqueue("guest-pending")
	enqueue("guest-later", asynq.ProcessIn(time.Hour))
	if err := in.ArchiveTask(tasks.QueueMerge, enqueue("guest-dead")); err != nil {
		t.Fatal(err)
	}

	got := map[string]bool{}
	for _, g := range []string{"guest-pending", "guest-later", "guest-dead", "guest-p", "guest-none"} {
		queued, err := q.Queued(ctx, g)
		if err != nil {
			t.Fatal(err)
		}
		got[g] = queued
	}
	want := map[string]bool{"guest-pending": true, "guest-later": true, "guest-dead": true, "guest-p": false, "guest-none": false}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("queued (-want +got):\n%s", diff)
	}
}
