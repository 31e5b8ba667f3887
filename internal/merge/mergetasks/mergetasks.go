// Package mergetasks reads user:merge tasks out of asynq's merge queue for
// the sweep (sweep.MergeQueue), keeping internal/sweep and internal/merge
// free of the task contract.
package mergetasks

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/hibiken/asynq"

	"github.com/lifecycle-worker/lifecycle/internal/sweep"
	"github.com/lifecycle-worker/lifecycle/internal/tasklist"
	"github.com/lifecycle-worker/lifecycle/tasks"
)

// pageSize is the tasks read per call to asynq.
const pageSize = 500

// Queue answers whether a merge of a guest waits in asynq's merge queue.
type Queue struct{ in *asynq.Inspector }

var _ sweep.MergeQueue = (*Queue)(nil)

// NewQueue reads the queue through in; the caller keeps it and closes it.
func NewQueue(in *asynq.Inspector) *Queue { return &Queue{in: in} }

// Queued reports whether a user:merge task of guestID is pending, running,
// scheduled, waiting for a retry or dead-lettered.
//
// Why asynq's queue, rather than a mark we write at enqueue: producers
// enqueue merges through tasks (which imports nothing of ours, so writes
// none of our keys) or through asynq itself, and a task's id is derived
// from the guest and the user, which the sweep does not know. The queue is
// the one place every merge passes through whoever enqueued it, and it
// needs no mark to clean up when a task is deleted. A dead letter counts:
// it waits for a person, who may retry it. Merges drain in seconds, so the
// queue read here is short; what is completed is recorded by the merge
// itself (identity.MergedInto).
func (q *Queue) Queued(ctx context.Context, guestID string) (bool, error) {
	lists := []tasklist.Func{
		q.in.ListActiveTasks, q.in.ListPendingTasks, q.in.ListRetryTasks, q.in.ListScheduledTasks, q.in.ListArchivedTasks,
	}
	for _, list := range lists {
		for ti, err := range tasklist.All(list, tasks.QueueMerge, pageSize) {
			if err != nil {
				return false, fmt.Errorf("merge queue: %w", err)
			}
			if err := ctx.Err(); err != nil {
				return false, err
			}
			if ti.Type != tasks.TypeUserMerge {
				continue
			}
			var p tasks.UserMergePayload
			// A payload that does not decode is a dead letter already,
			// and names no guest we could match.
			if json.Unmarshal(ti.Payload, &p) == nil && p.GuestID == guestID {
				return true, nil
			}
		}
	}
	return false, nil
}
