package handlers

import (
	"context"
	"strings"

	"github.com/hibiken/asynq"

	"github.com/lifecycle-worker/lifecycle/internal/sweep"
	"github.com/lifecycle-worker/lifecycle/tasks"
)

// Sweeper runs sweeps and purges as tasks (*sweep.Sweeper).
type Sweeper interface {
	Do(ctx context.Context, j sweep.Job) error
}

// AssetsSweep handles assets:sweep: a sweep (mark and quarantine) or a purge
// of old quarantines, as the payload's mode says.
type AssetsSweep struct{ Sweeper Sweeper }

func (h *AssetsSweep) ProcessTask(ctx context.Context, t *asynq.Task) error {
	p, err := tasks.Decode[tasks.AssetsSweepPayload](t)
	if err != nil {
		return err
	}
	SetSystem(ctx, "storage")
	id := p.SweepID
	if id == "" {
		taskID, _ := asynq.GetTaskID(ctx)
		id = SweepIDFromTaskID(taskID)
	}
	return h.Sweeper.Do(ctx, sweep.Job{ID: id, Purge: p.EffectiveMode() == tasks.SweepModePurge, DryRun: p.DryRun})
}

// SweepIDFromTaskID names a sweep after the task that runs it, so that every
// retry of one scheduled firing is the same sweep. Colons become dashes: the
// id appears in storage keys and on command lines.
func SweepIDFromTaskID(taskID string) string {
	return strings.ReplaceAll(taskID, ":", "-")
}
