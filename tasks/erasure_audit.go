package tasks

import (
	"context"
	"time"

	"github.com/hibiken/asynq"
)

// TypeErasureAudit re-reads every system for the subjects of one finished
// erasure request, some time after it finished, to catch data that came
// back (a replica, a late upload, a merge that raced). The worker enqueues
// it itself when a request finishes; it is not something a producer sends.
// Never rename it in place.
const TypeErasureAudit = "erasure:audit"

// erasureAuditSpec holds every decision about erasure:audit.
var erasureAuditSpec = spec{typ: TypeErasureAudit, Policy: Policy{
	// The erase queue: an audit reads the same upstreams as an erasure, and
	// its weight keeps it from starving merges.
	Queue: QueueErase,
	// An audit is only reads: retrying through a day of upstream outage
	// (the default backoff) costs nothing, and a dead letter then tells a
	// person that the re-audit never happened.
	MaxRetry: 25,
	Backoff:  backoffDefault,
	// Every subject's listings, like an erasure's verification.
	Timeout: 30 * time.Minute,
	// The dedup window, from the task's completion: the id names the
	// finish it audits, so a request finished again (after a review) is
	// audited again.
	Retention: 30 * 24 * time.Hour,
}}

// ErasureAuditPayload names the request to audit and when it finished.
type ErasureAuditPayload struct {
	RequestID  string    `json:"request_id"`
	FinishedAt time.Time `json:"finished_at"`
}

// Validate reports every problem with p, each naming its field.
func (p ErasureAuditPayload) Validate() error {
	var fe fieldErrors
	checkID(&fe, "request_id", p.RequestID, true)
	if p.FinishedAt.IsZero() {
		fe.add("finished_at", "required")
	}
	return fe.err()
}

// TaskID is the deduplication id: one re-audit per finish of a request.
func (p ErasureAuditPayload) TaskID() string {
	return taskID(TypeErasureAudit, p.RequestID, p.FinishedAt.UTC().Format(time.RFC3339Nano))
}

// NewErasureAuditTask validates p and builds the task with its policy.
func NewErasureAuditTask(p ErasureAuditPayload, opts ...asynq.Option) (*asynq.Task, error) {
	if err := p.Validate(); err != nil {
		return nil, invalid(TypeErasureAudit, err)
	}
	return newTask(erasureAuditSpec, p.TaskID(), p, opts)
}

// EnqueueErasureAudit validates p and enqueues its audit to run after
// delay, once per request and finish (Duplicate after that).
func (c *Client) EnqueueErasureAudit(ctx context.Context, p ErasureAuditPayload, delay time.Duration) (Result, error) {
	t, err := NewErasureAuditTask(p, asynq.ProcessIn(delay))
	if err != nil {
		return Result{}, err
	}
	return c.enqueue(ctx, t, erasureAuditSpec, p.TaskID())
}
