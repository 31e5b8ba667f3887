// Package erasuretasks carries erasure requests as user:erase tasks: the
// conversions between erasure.Request and tasks.UserErasePayload, and
// erasure.Queue on asynq. It keeps internal/erasure free of the task
// contract, and the worker, the API and the CLI on one way to enqueue.
package erasuretasks

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"

	"github.com/lifecycle-worker/lifecycle/internal/erasure"
	"github.com/lifecycle-worker/lifecycle/tasks"
)

// Request reads a request out of its task payload.
func Request(p tasks.UserErasePayload) erasure.Request {
	r := erasure.Request{ID: p.RequestID, UserID: p.UserID, BPMUser: p.BPMUser, FiledBy: p.FiledBy, FiledAt: p.FiledAt.UTC()}
	for _, b := range p.Bigin {
		r.Bigin = append(r.Bigin, erasure.BiginRecord{Module: b.Module, RecordID: b.RecordID})
	}
	return r
}

// Payload is the task payload of slice n of r.
func Payload(r erasure.Request, n int) tasks.UserErasePayload {
	p := tasks.UserErasePayload{RequestID: r.ID, UserID: r.UserID, BPMUser: r.BPMUser, FiledBy: r.FiledBy, FiledAt: r.FiledAt, Slice: n}
	for _, b := range r.Bigin {
		p.Bigin = append(p.Bigin, tasks.BiginRecord{Module: b.Module, RecordID: b.RecordID})
	}
	return p
}

// Queue is erasure.Queue on the Redis that the workers serve.
type Queue struct {
	client    *tasks.Client
	inspector *asynq.Inspector
}

var _ erasure.Queue = (*Queue)(nil)

// NewQueue enqueues with client and finds waiting slices with inspector;
// the caller keeps both and closes them.
func NewQueue(client *tasks.Client, inspector *asynq.Inspector) *Queue {
	return &Queue{client: client, inspector: inspector}
}

// Check validates r as the payload of its first task, naming every bad field
// (*tasks.ValidationError).
func (q *Queue) Check(r erasure.Request) error {
	if err := Payload(r, 0).Validate(); err != nil {
		return fmt.Errorf("%s: invalid payload: %w", tasks.TypeUserErase, err)
	}
	return nil
}

func (q *Queue) Enqueue(ctx context.Context, r erasure.Request, n int, d time.Duration) error {
	var opts []asynq.Option
	if d > 0 {
		opts = append(opts, asynq.ProcessIn(d))
	}
	_, err := q.client.EnqueueErase(ctx, Payload(r, n), opts...)
	return err
}

func (q *Queue) RunNow(_ context.Context, r erasure.Request, n int) error {
	err := q.inspector.RunTask(tasks.QueueErase, q.TaskID(r, n))
	if errors.Is(err, asynq.ErrTaskNotFound) {
		return nil
	}
	return err
}

func (q *Queue) Cancel(_ context.Context, r erasure.Request, n int) error {
	err := q.inspector.DeleteTask(tasks.QueueErase, q.TaskID(r, n))
	if errors.Is(err, asynq.ErrTaskNotFound) {
		return nil
	}
	return err
}

func (q *Queue) TaskID(r erasure.Request, n int) string { return Payload(r, n).TaskID() }
