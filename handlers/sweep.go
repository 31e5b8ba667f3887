package handlers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/rs/zerolog"

	"github.com/lifecycle-worker/lifecycle/internal/errclass"
	"github.com/lifecycle-worker/lifecycle/internal/sweep"
	"github.com/lifecycle-worker/lifecycle/tasks"
)

// SweepSettings are the operator's choices for orphaned-asset sweeps; zero
// values take internal/sweep's defaults.
type SweepSettings struct {
	GuestPrefix    string
	GuestRetention time.Duration
	Grace          time.Duration
	RestoreWindow  time.Duration
	MaxShare       float64
}

// Sweeper runs sweeps and purges (*sweep.Sweeper).
type Sweeper interface {
	Sweep(ctx context.Context, id string, dryRun bool) (sweep.Report, error)
	Purge(ctx context.Context, owner string, dryRun bool) (sweep.PurgeResult, error)
}

var _ Sweeper = (*sweep.Sweeper)(nil)

// AssetsSweep handles assets:sweep: a sweep (mark and quarantine) or a purge
// of old quarantines, as the payload's mode says.
type AssetsSweep struct {
	Sweeper Sweeper
	Log     zerolog.Logger
}

// newAssetsSweep builds the sweep handler from the worker's dependencies.
// A worker without storage or Redis (some tests) gets a handler that
// dead-letters sweeps with the reason, like an unconfigured upstream.
func newAssetsSweep(d Deps) asynq.Handler {
	p := sweep.Params{
		Store: d.Store, Redis: d.Redis, Locks: d.Locks,
		GuestPrefix: d.Sweep.GuestPrefix, GuestRetention: d.Sweep.GuestRetention, Grace: d.Sweep.Grace,
		RestoreWindow: d.Sweep.RestoreWindow, MaxShare: d.Sweep.MaxShare,
		Now: d.Now, Log: d.Log.With().Str("component", "sweep").Logger(),
	}
	// Assigned only when set: an interface holding a nil pointer is not nil.
	if d.Identity != nil {
		p.Identity = d.Identity
	}
	if d.Artifi != nil {
		p.Photos = d.Artifi
	} else {
		p.Log.Warn().Msg("Artifi not configured: sweeps will not look for photos deleted upstream")
	}
	s, err := sweep.New(p)
	if err != nil {
		return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
			return errclass.AsPermanent(fmt.Errorf("%w: %w", ErrNotConfigured, err))
		})
	}
	return &AssetsSweep{Sweeper: s, Log: p.Log}
}

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
	switch p.EffectiveMode() {
	case tasks.SweepModePurge:
		res, err := h.Sweeper.Purge(ctx, id, p.DryRun)
		if err == nil {
			h.Log.Info().Strs("sweeps", res.Sweeps).Int64("objects", res.Objects).Int64("bytes", res.Bytes).
				Bool("dry_run", p.DryRun).Msg("purge done")
		}
		return h.outcome(id, err)
	default:
		_, err := h.Sweeper.Sweep(ctx, id, p.DryRun)
		return h.outcome(id, err)
	}
}

func (h *AssetsSweep) outcome(id string, err error) error {
	var busy *sweep.BusyError
	switch {
	case errors.As(err, &busy) && busy.Holder == id:
		// This very sweep holds the lock: an attempt that crashed (its
		// lease runs out within Wait) or one still running elsewhere. Try
		// again then, to resume or to find it finished.
		return errclass.RetryAfter(err, busy.Wait+time.Second)
	case errors.Is(err, sweep.ErrBusy):
		// Another sweep is working (or a restore): this firing adds nothing
		// it would not do, and the next firing sweeps again.
		h.Log.Info().Str("sweep_id", id).Msg("another sweep, purge or restore is running; this one is skipped")
		return nil
	case errors.Is(err, sweep.ErrTripped):
		// To the dead-letter queue, with the figures as reason: a person
		// decides, since repeating it would trip again.
		return errclass.AsPermanent(err)
	case err != nil:
		return fmt.Errorf("sweep %s: %w", id, err)
	}
	return nil
}

// SweepIDFromTaskID names a sweep after the task that runs it, so that every
// retry of one scheduled firing is the same sweep. Colons become dashes: the
// id appears in storage keys and on command lines.
func SweepIDFromTaskID(taskID string) string {
	return strings.ReplaceAll(taskID, ":", "-")
}
