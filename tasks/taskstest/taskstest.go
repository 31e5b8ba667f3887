// Package taskstest helps a producer's tests check what it enqueued, in the
// spirit of River's rivertest. Two ways, pick per test:
//
//   - Recorder is an in-memory tasks.Enqueuer: no Redis, the same validation
//     and duplicate answers as tasks.Client. For code that depends on the
//     interface.
//   - RequireEnqueued and RequireNotEnqueued read a real (or miniredis) Redis
//     through asynq's Inspector. For code that holds a *tasks.Client, or to
//     check the options the contract put on the task.
package taskstest

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hibiken/asynq"
)

// pageSize is how many tasks one Inspector call lists; tests hold few.
const pageSize = 500

// Enqueued returns every task of type typ that waits to run (pending or
// scheduled) in any queue of the Redis behind r. Tasks already running,
// retrying, archived or completed are not "enqueued" for a producer's test.
func Enqueued(tb testing.TB, r asynq.RedisConnOpt, typ string) []*asynq.TaskInfo {
	tb.Helper()
	in := asynq.NewInspector(r)
	defer in.Close()
	queues, err := in.Queues()
	if err != nil {
		tb.Fatalf("taskstest: list queues: %v", err)
	}
	var out []*asynq.TaskInfo
	for _, q := range queues {
		for _, list := range []func(string, ...asynq.ListOption) ([]*asynq.TaskInfo, error){in.ListPendingTasks, in.ListScheduledTasks} {
			for page := 1; ; page++ {
				infos, err := list(q, asynq.PageSize(pageSize), asynq.Page(page))
				if err != nil {
					tb.Fatalf("taskstest: list tasks of queue %s: %v", q, err)
				}
				for _, info := range infos {
					if info.Type == typ {
						out = append(out, info)
					}
				}
				if len(infos) < pageSize {
					break
				}
			}
		}
	}
	return out
}

// RequireEnqueued fails the test unless a task of type typ whose payload
// decodes to want waits to run, and returns it so the test can check its
// queue or options too. Payloads are compared decoded, not as bytes, so the
// check does not depend on field order or omitted empty fields.
func RequireEnqueued[P any](tb testing.TB, r asynq.RedisConnOpt, typ string, want P) *asynq.TaskInfo {
	tb.Helper()
	infos := Enqueued(tb, r, typ)
	var diffs []string
	for _, info := range infos {
		var got P
		if err := json.Unmarshal(info.Payload, &got); err != nil {
			diffs = append(diffs, fmt.Sprintf("task %s: payload %s does not decode: %v", info.ID, info.Payload, err))
			continue
		}
		diff := cmp.Diff(want, got)
		if diff == "" {
			return info
		}
		diffs = append(diffs, fmt.Sprintf("task %s in queue %s (-want, +got):\n%s", info.ID, info.Queue, diff))
	}
	if len(infos) == 0 {
		tb.Fatalf("taskstest: no %s task enqueued, want one with payload %+v", typ, want)
		return nil
	}
	tb.Fatalf("taskstest: no %s task with the wanted payload among %d enqueued:\n%s", typ, len(infos), strings.Join(diffs, "\n"))
	return nil
}

// RequireNotEnqueued fails the test if any task of type typ waits to run.
func RequireNotEnqueued(tb testing.TB, r asynq.RedisConnOpt, typ string) {
	tb.Helper()
	infos := Enqueued(tb, r, typ)
	if len(infos) == 0 {
		return
	}
	lines := make([]string, len(infos))
	for i, info := range infos {
		lines[i] = fmt.Sprintf("  %s in queue %s: %s", info.ID, info.Queue, info.Payload)
	}
	tb.Fatalf("taskstest: want no %s task, found %d:\n%s", typ, len(infos), strings.Join(lines, "\n"))
}
