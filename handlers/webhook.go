package handlers

import (
	"context"

	"github.com/hibiken/asynq"

	"github.com/lifecycle-worker/lifecycle/tasks"
)

// WebhookSender posts a notification (*webhook.Sender).
type WebhookSender interface {
	Send(ctx context.Context, id string, p tasks.WebhookDeliverPayload) error
}

// WebhookDeliver handles webhook:deliver. The task id is the notification's
// id, the same on every attempt, so that a receiver can drop a repeat.
type WebhookDeliver struct{ Sender WebhookSender }

func (h *WebhookDeliver) ProcessTask(ctx context.Context, t *asynq.Task) error {
	p, err := tasks.Decode[tasks.WebhookDeliverPayload](t)
	if err != nil {
		return err
	}
	SetSystem(ctx, "webhook")
	id, _ := asynq.GetTaskID(ctx)
	return h.Sender.Send(ctx, id, p)
}
