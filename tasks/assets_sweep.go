package tasks

import (
	"time"

	"github.com/hibiken/asynq"
)

// TypeAssetsSweep finds stored assets that no user owns any more, moves them
// to quarantine, and later purges the quarantine (see internal/sweep). Never
// rename it in place.
const TypeAssetsSweep = "assets:sweep"

// Sweep modes.
const (
	// SweepModeQuarantine marks orphaned objects under users/ and moves them
	// to quarantine/{sweep_id}/, where they can still be restored.
	SweepModeQuarantine = "quarantine"
	// SweepModePurge deletes quarantines older than the restore window.
	SweepModePurge = "purge"
)

// SweepModes lists the modes in the order error messages name them.
var SweepModes = []string{SweepModeQuarantine, SweepModePurge}

// assetsSweepSpec holds every decision about assets:sweep. The scheduler's
// built-in sweeps take their queue, retries and timeout from it too.
var assetsSweepSpec = spec{typ: TypeAssetsSweep, Policy: Policy{
	Queue: QueueSweep,
	// A sweep checkpoints its progress in Redis, so a retry resumes where the
	// failed attempt stopped rather than starting over; a few retries ride out
	// a Redis or Artifi blip, and a sweep that keeps failing should reach a
	// person (the archive) rather than the next firing silently taking over.
	MaxRetry: 5,
	Backoff:  backoffDefault,
	// A million-object sweep lists, classifies and moves for tens of minutes
	// on S3; the timeout only catches a sweep that is stuck, and a cancelled
	// sweep resumes from its checkpoint anyway.
	Timeout: 6 * time.Hour,
	// Keeps a manual sweep's id taken for a day, so that asking again for
	// the same sweep soon after it finished does not run it twice.
	Retention: 24 * time.Hour,
}}

// AssetsSweepPayload asks for one sweep.
type AssetsSweepPayload struct {
	// SweepID names the sweep: quarantine/{sweep_id}/ and its report. Empty
	// means "derive it from the task id", which is what a scheduled firing
	// does: the scheduler's task id is deterministic per firing, so every
	// retry of the firing is the same sweep.
	SweepID string `json:"sweep_id,omitempty"`
	// Mode is SweepModeQuarantine (the default when empty) or SweepModePurge.
	Mode string `json:"mode,omitempty"`
	// DryRun classifies and reports without moving or deleting anything.
	DryRun bool `json:"dry_run,omitempty"`
}

// Validate reports every problem with p, each as a *ValidationError naming
// the field.
func (p AssetsSweepPayload) Validate() error {
	var fe fieldErrors
	checkID(&fe, "sweep_id", p.SweepID, false)
	if p.Mode != "" {
		checkOneOf(&fe, "mode", p.Mode, SweepModes)
	}
	return fe.err()
}

// EffectiveMode is Mode with its default applied.
func (p AssetsSweepPayload) EffectiveMode() string {
	if p.Mode == "" {
		return SweepModeQuarantine
	}
	return p.Mode
}

// TaskID is the deduplication id of a manual sweep, from its mode and sweep
// id: asking twice for the same sweep runs it once.
func (p AssetsSweepPayload) TaskID() string {
	return taskID(TypeAssetsSweep, p.EffectiveMode(), p.SweepID)
}

// NewAssetsSweepTask validates p and builds the task with assets:sweep's
// queue, retries, timeout, retention and task id. A manual sweep needs a
// SweepID (a scheduled one gets its id from the scheduler); opts come after
// the spec's and override them.
func NewAssetsSweepTask(p AssetsSweepPayload, opts ...asynq.Option) (*asynq.Task, error) {
	err := p.Validate()
	if err == nil && p.SweepID == "" {
		var fe fieldErrors
		fe.add("sweep_id", "required outside the scheduler (which derives it from the firing)")
		err = fe.err()
	}
	if err != nil {
		return nil, invalid(TypeAssetsSweep, err)
	}
	return newTask(assetsSweepSpec, p.TaskID(), p, opts)
}
