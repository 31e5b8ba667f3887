package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/hibiken/asynq"

	"github.com/lifecycle-worker/lifecycle/internal/testutil"
)

// TestDLQRetryAllRetriesEveryOne: retrying takes dead letters out of the
// listing as it goes; with more than a page of them, none may be skipped.
func TestDLQRetryAllRetriesEveryOne(t *testing.T) {
	opt := testutil.AsynqRedis(t)
	in := testutil.Inspector(t, opt)
	client := asynq.NewClient(opt)
	defer client.Close()
	const n = 450 // over two pages
	for i := range n {
		id := fmt.Sprintf("d-%d", i)
		if _, err := client.Enqueue(asynq.NewTask("photo:delete", nil), asynq.Queue("photo"), asynq.TaskID(id)); err != nil {
			t.Fatal(err)
		}
		if err := in.ArchiveTask("photo", id); err != nil {
			t.Fatal(err)
		}
	}
	env := map[string]string{"LIFECYCLE_REDIS_URL": "redis://" + opt.Addr}
	code, out, errOut := run(t, env, "dlq", "retry", "--all")
	if want := fmt.Sprintf("retrying %d dead letters\n", n); code != exitOK || out != want {
		t.Errorf("dlq retry --all: exit %d, %q %q; want 0, %q", code, out, errOut, want)
	}
	info, err := in.GetQueueInfo("photo")
	if err != nil {
		t.Fatal(err)
	}
	if info.Archived != 0 || info.Pending != n {
		t.Errorf("after retry --all: %d dead letters, %d pending; want 0 and %d", info.Archived, info.Pending, n)
	}
}

// TestDLQListHasAHeader: the list reads like the other lists, a header row
// over one row per dead letter.
func TestDLQListHasAHeader(t *testing.T) {
	opt := testutil.AsynqRedis(t)
	in := testutil.Inspector(t, opt)
	client := asynq.NewClient(opt)
	defer client.Close()
	if _, err := client.Enqueue(asynq.NewTask("photo:delete", nil), asynq.Queue("photo"), asynq.TaskID("d-1")); err != nil {
		t.Fatal(err)
	}
	if err := in.ArchiveTask("photo", "d-1"); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := run(t, map[string]string{"LIFECYCLE_REDIS_URL": "redis://" + opt.Addr}, "dlq", "list")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != exitOK || len(lines) != 2 || !strings.HasPrefix(lines[0], "TASK ID  TYPE") || !strings.HasPrefix(lines[1], "d-1      photo:delete") {
		t.Errorf("dlq list: exit %d, %q %q; want a header row and d-1", code, out, errOut)
	}
}
