package erasuretasks

import (
	"context"
	"errors"
	"fmt"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/lifecycle-worker/lifecycle/internal/erasure"
	"github.com/lifecycle-worker/lifecycle/internal/mentions"
	"github.com/lifecycle-worker/lifecycle/internal/rkeys"
	"github.com/lifecycle-worker/lifecycle/internal/tasklist"
	"github.com/lifecycle-worker/lifecycle/tasks"
)

// copiesPage is the tasks read per call to asynq.
const copiesPage = 500

// Copies is erasure.Copies on asynq's sets: the tasks of every queue, in
// every state a task waits or is kept in (pending, scheduled, retry,
// archived, completed), whose payload names a subject (mentions.Names).
// They are deleted whole: a task of an erased person has nothing left to
// act on, and its error message may quote the ids too. A running task is
// left to finish; verification finds it completed and forgets it then.
//
// user:erase tasks are never forgotten: each is an erasure request, the
// one running this erasure among them, and the request's record names the
// same ids anyway.
type Copies struct {
	in  *asynq.Inspector
	rdb redis.UniversalClient
}

var _ erasure.Copies = (*Copies)(nil)

// NewCopies reads and deletes tasks with in, and their completion records
// (rkeys.TaskCompleted) on rdb; the caller keeps both.
func NewCopies(in *asynq.Inspector, rdb redis.UniversalClient) *Copies {
	return &Copies{in: in, rdb: rdb}
}

type found struct {
	queue, id, state string
}

func (c *Copies) Forget(ctx context.Context, ids []string) (int, error) {
	ts, err := c.find(ctx, ids)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, t := range ts {
		err := c.in.DeleteTask(t.queue, t.id)
		switch {
		case errors.Is(err, asynq.ErrTaskNotFound), errors.Is(err, asynq.ErrQueueNotFound):
			continue // gone meanwhile: run, trimmed or deleted
		case err != nil:
			return n, fmt.Errorf("delete task %s/%s: %w", t.queue, t.id, err)
		}
		// The record that the task completed says nothing of the person
		// but outlives the task by a day: it goes with it.
		if err := c.rdb.Del(ctx, rkeys.TaskCompleted(t.queue, t.id)).Err(); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

func (c *Copies) Find(ctx context.Context, ids []string) ([]string, error) {
	ts, err := c.find(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = fmt.Sprintf("task %s/%s (%s)", t.queue, t.id, t.state)
	}
	return out, nil
}

// find reads every set whole before anything is deleted, so that deleting
// does not shift what a page holds.
func (c *Copies) find(ctx context.Context, ids []string) ([]found, error) {
	queues, err := c.in.Queues()
	if err != nil {
		return nil, fmt.Errorf("queues: %w", err)
	}
	lists := []struct {
		state string
		list  tasklist.Func
	}{
		{"pending", c.in.ListPendingTasks}, {"scheduled", c.in.ListScheduledTasks}, {"retry", c.in.ListRetryTasks},
		{"archived", c.in.ListArchivedTasks}, {"completed", c.in.ListCompletedTasks},
	}
	var out []found
	for _, q := range queues {
		for _, l := range lists {
			for t, err := range tasklist.All(l.list, q, copiesPage) {
				if err != nil {
					return nil, fmt.Errorf("list %s tasks of %s: %w", l.state, q, err)
				}
				if err := ctx.Err(); err != nil {
					return nil, err
				}
				if t.Type != tasks.TypeUserErase && mentions.Names(t.Payload, ids) {
					out = append(out, found{queue: q, id: t.ID, state: l.state})
				}
			}
		}
	}
	return out, nil
}
