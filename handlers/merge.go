package handlers

import (
	"context"

	"github.com/hibiken/asynq"

	"github.com/lifecycle-worker/lifecycle/internal/merge"
	"github.com/lifecycle-worker/lifecycle/tasks"
)

// Merger carries out guest-to-registered merges (*merge.Merger).
type Merger interface {
	Merge(ctx context.Context, guestID, userID, owner string) (merge.Result, error)
}

// UserMerge handles user:merge. The merge is exactly-once in effect however
// often asynq runs the task (see internal/merge); the task id owns the
// users' locks meanwhile, so that a retry of this task may take them again.
// What the merge did (merge.Result: objects moved, restored from a sweep's
// quarantine, lost to a purge) is the completed task's result, which asynq
// keeps for the task's retention.
type UserMerge struct{ Merger Merger }

func (h *UserMerge) ProcessTask(ctx context.Context, t *asynq.Task) error {
	p, err := tasks.Decode[tasks.UserMergePayload](t)
	if err != nil {
		return err
	}
	SetSystem(ctx, "artifi+storage")
	owner, _ := asynq.GetTaskID(ctx)
	res, err := h.Merger.Merge(ctx, p.GuestID, p.UserID, owner)
	if err != nil {
		return err
	}
	// Kept beside the outcome (writeResult): the merge is done whether or
	// not its figures are.
	SetResult(ctx, res)
	return nil
}
