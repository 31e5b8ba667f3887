package handlers

import (
	"context"

	"github.com/hibiken/asynq"

	"github.com/lifecycle-worker/lifecycle/internal/erasure"
	"github.com/lifecycle-worker/lifecycle/internal/erasure/erasuretasks"
	"github.com/lifecycle-worker/lifecycle/tasks"
)

// Eraser runs the slices of erasure requests (*erasure.Executor).
type Eraser interface {
	RunSlice(ctx context.Context, r erasure.Request, n int) error
}

// UserErase handles user:erase: one slice of the chain of tasks that erases
// a request (see erasure.Executor.RunSlice).
type UserErase struct{ Eraser Eraser }

func (h *UserErase) ProcessTask(ctx context.Context, t *asynq.Task) error {
	p, err := tasks.Decode[tasks.UserErasePayload](t)
	if err != nil {
		return err
	}
	SetSystem(ctx, "erasure")
	return h.Eraser.RunSlice(ctx, erasuretasks.Request(p), p.Slice)
}
