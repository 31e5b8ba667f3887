package sweep

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/lifecycle-worker/lifecycle/internal/errclass"
)

// Job is one sweep or purge asked for by a task.
type Job struct {
	// ID names the sweep (or the purge, as the lock's holder).
	ID     string
	Purge  bool
	DryRun bool
}

// Do runs j as a task would, with its outcome classified (errclass): a
// firing that meets another sweep at work is skipped, since the next firing
// sweeps again; meeting its own crashed attempt is a retry once that
// attempt's lease has run out; a tripped safety limit goes to a person.
func (s *Sweeper) Do(ctx context.Context, j Job) error {
	var err error
	if j.Purge {
		var res PurgeResult
		res, err = s.Purge(ctx, j.ID, j.DryRun)
		if err == nil {
			s.p.Log.Info().Ctx(ctx).Strs("sweeps", res.Sweeps).Int64("objects", res.Objects).Int64("bytes", res.Bytes).
				Bool("dry_run", j.DryRun).Msg("purge done")
		}
	} else {
		_, err = s.Sweep(ctx, j.ID, j.DryRun)
	}
	err, skipped := jobOutcome(j.ID, err)
	if skipped {
		s.p.Log.Info().Ctx(ctx).Str("sweep_id", j.ID).Msg("another sweep, purge or restore is running; this one is skipped")
	}
	return err
}

// jobOutcome classifies what a sweep or purge named id returned, and says
// whether the job was skipped.
func jobOutcome(id string, err error) (_ error, skipped bool) {
	var busy *BusyError
	switch {
	case errors.As(err, &busy) && busy.Holder == id:
		// This very sweep holds the lock: an attempt that crashed (its
		// lease runs out within Wait) or one still running elsewhere. Try
		// again then, to resume or to find it finished.
		return errclass.RetryAfter(err, busy.Wait+time.Second), false
	case errors.Is(err, ErrBusy):
		// Another sweep is working (or a restore): this firing adds nothing
		// it would not do.
		return nil, true
	case errors.Is(err, ErrTripped):
		// To the dead-letter queue, with the figures as reason: a person
		// decides, since repeating it would trip again.
		return errclass.AsPermanent(err), false
	case err != nil:
		return fmt.Errorf("sweep %s: %w", id, err), false
	}
	return nil, false
}
