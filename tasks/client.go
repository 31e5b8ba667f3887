package tasks

import (
	"context"
	"errors"
	"fmt"

	"github.com/hibiken/asynq"
)

// Enqueuer is what a producer needs from this package. Depend on it rather
// than on *Client so tests can use taskstest.Recorder instead of Redis.
type Enqueuer interface {
	EnqueuePhotoDelete(ctx context.Context, p PhotoDeletePayload) (Result, error)
	EnqueueMerge(ctx context.Context, p UserMergePayload) (Result, error)
}

var _ Enqueuer = (*Client)(nil)

// Result says where a request went.
type Result struct {
	// TaskID is the deterministic id of the task (see the payloads' TaskID).
	// With the queue it finds the task in asynq's Inspector.
	TaskID string
	Queue  string
	// Duplicate is true when a task with this id already existed in the
	// queue (pending, running, retrying, archived, or completed within its
	// retention), so nothing new was enqueued. It is not an error: the request
	// is in hand. The existing task may have come from a different producer
	// call carrying the same request.
	Duplicate bool
}

// Client enqueues this package's tasks with the options their specs decide.
// It is safe for concurrent use.
type Client struct {
	ac      *asynq.Client
	owned   bool
	headers HeaderFunc
}

// HeaderFunc adds headers to a task about to be enqueued, from the
// producer's ctx: typically the W3C trace context ("traceparent"), so that
// the worker's spans join the producer's trace. The headers travel beside
// the payload (asynq task headers); a worker ignores those it does not know.
type HeaderFunc func(ctx context.Context, headers map[string]string)

// ClientOption configures a Client.
type ClientOption func(*Client)

// WithHeaders has the client call f on every task it enqueues. With
// OpenTelemetry, f is the propagator's Inject:
//
//	tasks.WithHeaders(func(ctx context.Context, h map[string]string) {
//		otel.GetTextMapPropagator().Inject(ctx, propagation.MapCarrier(h))
//	})
//
// It is a hook rather than an OpenTelemetry dependency so that this package
// keeps importing asynq and the standard library only.
func WithHeaders(f HeaderFunc) ClientOption { return func(c *Client) { c.headers = f } }

// NewClient connects to the Redis that the worker serves (for example from
// asynq.ParseRedisURI). Close it when done.
func NewClient(r asynq.RedisConnOpt, opts ...ClientOption) *Client {
	return WrapClient(asynq.NewClient(r), append(opts, func(c *Client) { c.owned = true })...)
}

// WrapClient uses an asynq.Client that the caller already has. The caller
// keeps ownership: Close does not close it.
func WrapClient(ac *asynq.Client, opts ...ClientOption) *Client {
	c := &Client{ac: ac}
	for _, o := range opts {
		o(c)
	}
	return c
}

// Close releases the connection made by NewClient.
func (c *Client) Close() error {
	if !c.owned {
		return nil
	}
	return c.ac.Close()
}

// EnqueuePhotoDelete validates p and, if it is valid, enqueues a photo:delete
// task. An invalid p returns *ValidationError(s) before Redis is touched. A
// request already in hand returns Duplicate and no error.
func (c *Client) EnqueuePhotoDelete(ctx context.Context, p PhotoDeletePayload) (Result, error) {
	t, err := NewPhotoDeleteTask(p)
	if err != nil {
		return Result{}, err
	}
	return c.enqueue(ctx, t, photoDeleteSpec, p.TaskID())
}

// EnqueueMerge validates p and, if it is valid, enqueues a user:merge task.
// An invalid p returns *ValidationError(s) before Redis is touched. A merge
// already in hand returns Duplicate and no error.
func (c *Client) EnqueueMerge(ctx context.Context, p UserMergePayload) (Result, error) {
	t, err := NewUserMergeTask(p)
	if err != nil {
		return Result{}, err
	}
	return c.enqueue(ctx, t, userMergeSpec, p.TaskID())
}

func (c *Client) enqueue(ctx context.Context, t *asynq.Task, s spec, id string) (Result, error) {
	// The task was made here (newTask), with a headers map of its own that
	// asynq reads at enqueue time.
	if h := t.Headers(); c.headers != nil && h != nil {
		c.headers(ctx, h)
	}
	info, err := c.ac.EnqueueContext(ctx, t)
	switch {
	case errors.Is(err, asynq.ErrTaskIDConflict):
		return Result{TaskID: id, Queue: s.Queue, Duplicate: true}, nil
	case err != nil:
		return Result{}, fmt.Errorf("%s: enqueue: %w", s.typ, err)
	}
	return Result{TaskID: info.ID, Queue: info.Queue}, nil
}
