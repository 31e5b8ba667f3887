package taskscheck_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/google/go-cmp/cmp"
	"github.com/hibiken/asynq"

	"github.com/lifecycle-worker/lifecycle/internal/testutil"
	"github.com/lifecycle-worker/lifecycle/tasks"
)

func TestAssetsSweepTaskOptions(t *testing.T) {
	t.Parallel()
	p := tasks.AssetsSweepPayload{SweepID: "manual-1", DryRun: true}
	task, err := tasks.NewAssetsSweepTask(p)
	if err != nil {
		t.Fatal(err)
	}
	r := testutil.AsynqRedis(t)
	c := asynq.NewClient(r)
	defer c.Close()
	info, err := c.Enqueue(task)
	if err != nil {
		t.Fatal(err)
	}
	got := enqueued{ID: info.ID, Queue: info.Queue, Type: info.Type, Payload: string(info.Payload),
		MaxRetry: info.MaxRetry, Timeout: info.Timeout, Retention: info.Retention, State: info.State}
	want := enqueued{ID: p.TaskID(), Queue: "sweep", Type: "assets:sweep", Payload: `{"sweep_id":"manual-1","dry_run":true}`,
		MaxRetry: 5, Timeout: 6 * time.Hour, Retention: 24 * time.Hour, State: asynq.TaskStatePending}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("stored task (-want, +got):\n%s", diff)
	}
	// The same sweep in purge mode is a different task.
	if p.TaskID() == (tasks.AssetsSweepPayload{SweepID: "manual-1", Mode: "purge"}).TaskID() {
		t.Error("quarantine and purge of one sweep id share a task id")
	}
}

// TestUserEraseFiledTwiceIsOneTask: the request id alone decides the task;
// each continuation slice is a task of its own.
func TestUserEraseFiledTwiceIsOneTask(t *testing.T) {
	t.Parallel()
	c := newClient(t, testutil.AsynqRedis(t))
	p := tasks.UserErasePayload{RequestID: "gdpr-1", UserID: "u-1", FiledBy: "dpo-1", FiledAt: time.Now()}
	again := p
	again.BPMUser, again.FiledBy = "someone", "dpo-2"
	next := p
	next.Slice = 1
	var got []bool
	for _, q := range []tasks.UserErasePayload{p, again, next} {
		res, err := c.EnqueueErase(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		if res.Queue != tasks.QueueErase {
			t.Errorf("queue %q, want %q", res.Queue, tasks.QueueErase)
		}
		got = append(got, res.Duplicate)
	}
	if diff := cmp.Diff([]bool{false, true, false}, got); diff != "" {
		t.Errorf("duplicates (-want +got):\n%s", diff)
	}
}

// What a producer sees when it sends the same request twice: the second call
// succeeds, names the same task, and reports it as a duplicate.
func ExampleClient_EnqueueMerge() {
	m, err := miniredis.Run()
	if err != nil {
		panic(err)
	}
	defer m.Close()
	c := tasks.NewClient(asynq.RedisClientOpt{Addr: m.Addr()})
	defer c.Close()

	p := tasks.UserMergePayload{GuestID: "guest-8f3a", UserID: "cust-1001", RequestID: "order-5521"}
	for range 2 {
		res, err := c.EnqueueMerge(context.Background(), p)
		if err != nil {
			panic(err)
		}
		fmt.Printf("queue=%s duplicate=%v same id=%v\n", res.Queue, res.Duplicate, res.TaskID == p.TaskID())
	}
	// Output:
	// queue=merge duplicate=false same id=true
	// queue=merge duplicate=true same id=true
}

func newClient(t *testing.T, r asynq.RedisConnOpt) *tasks.Client {
	t.Helper()
	c := tasks.NewClient(r)
	t.Cleanup(func() { _ = c.Close() })
	return c
}
