package deadletter

import (
	"fmt"
	"iter"
	"slices"

	"github.com/hibiken/asynq"

	"github.com/lifecycle-worker/lifecycle/internal/tasklist"
)

// Letters finds dead letters for a person (`lifecycle dlq`): every one of
// some queues, or one by its id.
type Letters struct {
	Inspector interface {
		lister
		GetTaskInfo(queue, id string) (*asynq.TaskInfo, error)
	}
	// First are the queues that a listing of every queue shows first, in
	// this order (ours, busiest first); any other queue asynq knows follows.
	First []string
}

// lister lists archived tasks, queue by queue (asynq.Inspector).
type lister interface {
	Queues() ([]string, error)
	ListArchivedTasks(queue string, opts ...asynq.ListOption) ([]*asynq.TaskInfo, error)
}

// All yields every dead letter of queue (of every queue if it is empty), of
// type typ if given.
func (l Letters) All(queue, typ string) iter.Seq2[*asynq.TaskInfo, error] {
	return func(yield func(*asynq.TaskInfo, error) bool) {
		queues := []string{queue}
		if queue == "" {
			known, err := l.Inspector.Queues()
			if err != nil {
				yield(nil, err)
				return
			}
			queues = slices.Clone(l.First)
			for _, q := range known {
				if !slices.Contains(queues, q) {
					queues = append(queues, q)
				}
			}
		}
		for _, q := range queues {
			for t, err := range archived(l.Inspector, q) {
				if err != nil || typ == "" || t.Type == typ {
					if !yield(t, err) || err != nil {
						return
					}
				}
			}
		}
	}
}

// Find returns the dead letter with task id id, in queue if given, else in
// whichever queue holds it.
func (l Letters) Find(id, queue string) (*asynq.TaskInfo, error) {
	queues := []string{queue}
	if queue == "" {
		var err error
		if queues, err = l.Inspector.Queues(); err != nil {
			return nil, err
		}
	}
	for _, q := range queues {
		t, err := l.Inspector.GetTaskInfo(q, id)
		if err == nil && t.State == asynq.TaskStateArchived {
			return t, nil
		}
	}
	return nil, fmt.Errorf("no dead letter with id %q", id)
}

// archived yields the dead letters of queue. A queue asynq does not know
// holds none.
func archived(in lister, queue string) iter.Seq2[*asynq.TaskInfo, error] {
	return tasklist.All(in.ListArchivedTasks, queue, pageSize)
}
