package handlers

import (
	"context"

	"github.com/hibiken/asynq"

	"github.com/lifecycle-worker/lifecycle/tasks"
)

// Merger carries out guest-to-registered merges (*merge.Merger).
type Merger interface {
	Merge(ctx context.Context, guestID, userID, owner string) error
}

// UserMerge handles user:merge. The merge is exactly-once in effect however
// often asynq runs the task (see internal/merge); the task id owns the
// users' locks meanwhile, so that a retry of this task may take them again.
type UserMerge struct{ Merger Merger }

func (h *UserMerge) ProcessTask(ctx context.Context, t *asynq.Task) error {
	p, err := tasks.Decode[tasks.UserMergePayload](t)
	if err != nil {
		return err
	}
	SetSystem(ctx, "artifi+storage")
	owner, _ := asynq.GetTaskID(ctx)
	return h.Merger.Merge(ctx, p.GuestID, p.UserID, owner)
}
