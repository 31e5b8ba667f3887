package tasks

import (
	"context"
	"time"

	"github.com/hibiken/asynq"
)

// TypeWebhookDeliver posts one signed notification about an erasure request
// to the configured webhook URL. The worker enqueues it itself; it is not
// something a producer sends. Never rename it in place.
const TypeWebhookDeliver = "webhook:deliver"

// Webhook events.
const (
	WebhookErasureDone        = "erasure.done"
	WebhookErasureFailed      = "erasure.failed"
	WebhookErasureNeedsReview = "erasure.needs_review"
	WebhookErasureAtRisk      = "erasure.at_risk"
)

var webhookEvents = []string{WebhookErasureDone, WebhookErasureFailed, WebhookErasureNeedsReview, WebhookErasureAtRisk}

// webhookDeliverSpec holds every decision about webhook:deliver.
var webhookDeliverSpec = spec{typ: TypeWebhookDeliver, Policy: Policy{
	// A queue of its own: a receiver that is down fills only this queue,
	// and its dead letters are the notifications nobody got.
	Queue: QueueWebhook,
	// 2 s doubling to 1 h: 20 retries span about a day of receiver outage
	// before the notification becomes a dead letter for a person.
	MaxRetry: 20,
	Backoff:  Backoff{Base: 2 * time.Second, Cap: time.Hour},
	// One POST, each bounded by the sender's own 10 s client timeout.
	Timeout: 30 * time.Second,
	// The dedup window: one notification per request and event. A request
	// failing again within it (after a rerun) is not notified twice.
	Retention: 30 * 24 * time.Hour,
}}

// WebhookDeliverPayload is one notification: event about request_id,
// which happened at occurred_at.
type WebhookDeliverPayload struct {
	Event      string    `json:"event"`
	RequestID  string    `json:"request_id"`
	OccurredAt time.Time `json:"occurred_at"`
}

// Validate reports every problem with p, each naming its field.
func (p WebhookDeliverPayload) Validate() error {
	var fe fieldErrors
	ok := false
	for _, e := range webhookEvents {
		ok = ok || p.Event == e
	}
	if !ok {
		fe.add("event", "unknown event")
	}
	checkID(&fe, "request_id", p.RequestID, true)
	if p.OccurredAt.IsZero() {
		fe.add("occurred_at", "required")
	}
	return fe.err()
}

// TaskID is the deduplication id: one notification per event and request.
func (p WebhookDeliverPayload) TaskID() string {
	return taskID(TypeWebhookDeliver, p.Event, p.RequestID)
}

// NewWebhookDeliverTask validates p and builds the task with its policy.
func NewWebhookDeliverTask(p WebhookDeliverPayload, opts ...asynq.Option) (*asynq.Task, error) {
	if err := p.Validate(); err != nil {
		return nil, invalid(TypeWebhookDeliver, err)
	}
	return newTask(webhookDeliverSpec, p.TaskID(), p, opts)
}

// EnqueueWebhookDeliver validates p and enqueues its delivery, once per
// event and request (Duplicate after that).
func (c *Client) EnqueueWebhookDeliver(ctx context.Context, p WebhookDeliverPayload) (Result, error) {
	t, err := NewWebhookDeliverTask(p)
	if err != nil {
		return Result{}, err
	}
	return c.enqueue(ctx, t, webhookDeliverSpec, p.TaskID())
}
