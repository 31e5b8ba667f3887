package taskstest

import (
	"context"
	"slices"
	"sync"

	"github.com/lifecycle-worker/lifecycle/tasks"
)

// Recorder is an in-memory tasks.Enqueuer that remembers what was enqueued.
// It answers as tasks.Client does: the same validation errors, the same task
// ids and queues, and Duplicate for a request it has already accepted (it
// never forgets one, as if retention were endless). Safe for concurrent use.
type Recorder struct {
	mu           sync.Mutex
	err          error
	seen         map[string]bool
	photoDeletes []tasks.PhotoDeletePayload
	merges       []tasks.UserMergePayload
}

var _ tasks.Enqueuer = (*Recorder)(nil)

// FailWith makes every later enqueue of a valid payload return err, as a
// Redis outage would; nil restores success. Validation still comes first, as
// it does in tasks.Client.
func (r *Recorder) FailWith(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.err = err
}

// EnqueuePhotoDelete records p unless it is invalid, a duplicate, or the
// recorder is failing.
func (r *Recorder) EnqueuePhotoDelete(ctx context.Context, p tasks.PhotoDeletePayload) (tasks.Result, error) {
	if _, err := tasks.NewPhotoDeleteTask(p); err != nil {
		return tasks.Result{}, err
	}
	return r.record(ctx, p.TaskID(), tasks.QueuePhoto, func() { r.photoDeletes = append(r.photoDeletes, p) })
}

// EnqueueMerge records p unless it is invalid, a duplicate, or the recorder
// is failing.
func (r *Recorder) EnqueueMerge(ctx context.Context, p tasks.UserMergePayload) (tasks.Result, error) {
	if _, err := tasks.NewUserMergeTask(p); err != nil {
		return tasks.Result{}, err
	}
	return r.record(ctx, p.TaskID(), tasks.QueueMerge, func() { r.merges = append(r.merges, p) })
}

func (r *Recorder) record(ctx context.Context, id, queue string, add func()) (tasks.Result, error) {
	if err := ctx.Err(); err != nil {
		return tasks.Result{}, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return tasks.Result{}, r.err
	}
	if r.seen[id] {
		return tasks.Result{TaskID: id, Queue: queue, Duplicate: true}, nil
	}
	if r.seen == nil {
		r.seen = make(map[string]bool)
	}
	r.seen[id] = true
	add()
	return tasks.Result{TaskID: id, Queue: queue}, nil
}

// PhotoDeletes returns the accepted photo deletes in order, duplicates left
// out: what the queue would hold.
func (r *Recorder) PhotoDeletes() []tasks.PhotoDeletePayload {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.photoDeletes)
}

// Merges returns the accepted merges in order, duplicates left out.
func (r *Recorder) Merges() []tasks.UserMergePayload {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.merges)
}
