package sweep

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/lifecycle-worker/lifecycle/internal/rkeys"
	"github.com/lifecycle-worker/lifecycle/internal/skeys"
	"github.com/lifecycle-worker/lifecycle/internal/storage"
)

// purgeBatch is the keys per DeleteMany: one S3 DeleteObjects request.
const purgeBatch = 1000

// PurgeResult is what one purge deleted.
type PurgeResult struct {
	Sweeps  []string `json:"sweeps"` // sweep ids whose quarantine was purged
	Objects int64    `json:"objects"`
	Bytes   int64    `json:"bytes"`
}

// Purge deletes the quarantine of every sweep that finished longer than the
// restore window ago, in batches, and marks their reports purged. With
// dryRun it only counts. owner names the purge in the sweep lock. A purge
// cut short is finished by the next one.
func (s *Sweeper) Purge(ctx context.Context, owner string, dryRun bool) (PurgeResult, error) {
	l, lctx, err := acquire(ctx, s.p.Redis, rkeys.SweepLock(), "purge:"+owner, s.p.Lease)
	if err != nil {
		return PurgeResult{}, err
	}
	defer l.release(ctx)
	ctx = lctx

	cutoff := s.p.Now().Add(-s.p.RestoreWindow)
	// Due reports are gathered first, since purging rewrites them under the
	// prefix being listed. One report per sweep: a short list.
	var due []Report
	for r, err := range s.Reports(ctx) {
		if err != nil {
			return PurgeResult{}, err
		}
		if r.Status == StatusQuarantined && !r.FinishedAt.After(cutoff) {
			due = append(due, r)
		}
	}
	res := PurgeResult{Sweeps: []string{}}
	for _, r := range due {
		n, b, err := s.purgeOne(ctx, r.SweepID, dryRun)
		res.Objects += n
		res.Bytes += b
		if err != nil {
			return res, err
		}
		res.Sweeps = append(res.Sweeps, r.SweepID)
		if dryRun {
			continue
		}
		now := s.p.Now().UTC()
		r.Status, r.PurgedAt, r.Purged, r.PurgedBytes = StatusPurged, &now, r.Purged+n, r.PurgedBytes+b
		if err := s.writeReport(ctx, r); err != nil {
			return res, err
		}
		s.p.Log.Info().Ctx(ctx).Str("sweep_id", r.SweepID).Int64("purged", n).Msg("sweep quarantine purged")
	}
	return res, nil
}

func (s *Sweeper) purgeOne(ctx context.Context, id string, dryRun bool) (n, bytes int64, err error) {
	batch := make([]string, 0, purgeBatch)
	flush := func() error {
		if len(batch) == 0 || dryRun {
			batch = batch[:0]
			return nil
		}
		if err := s.p.Store.DeleteMany(ctx, batch); err != nil {
			return fmt.Errorf("sweep %s: purge: %w", id, err)
		}
		batch = batch[:0]
		return nil
	}
	for o, err := range s.p.Store.List(ctx, skeys.QuarantinePrefix(id), "") {
		if err != nil {
			return n, bytes, fmt.Errorf("sweep %s: purge: list: %w", id, err)
		}
		batch = append(batch, o.Key)
		n++
		bytes += o.Size
		if len(batch) == purgeBatch {
			if err := flush(); err != nil {
				return n, bytes, err
			}
		}
	}
	return n, bytes, flush()
}

// RestoreResult is what a restore put back.
type RestoreResult struct {
	Restored int64 `json:"restored"`
	// Missing entries had nothing in quarantine: skipped when the sweep
	// moved, restored already, or purged.
	Missing int64 `json:"missing"`
	// Conflicts had a new object at the original key, which a restore never
	// overwrites.
	Conflicts int64 `json:"conflicts"`
}

// ErrNotRestorable means the sweep moved nothing that could come back: a dry
// run, a tripped sweep, or a purged quarantine.
var ErrNotRestorable = errors.New("sweep: nothing to restore")

// Restore moves the objects that sweep id quarantined back to their keys,
// reading the manifest; prefix (may be empty) restricts it to original keys
// under prefix. Running it again is harmless.
func (s *Sweeper) Restore(ctx context.Context, id, prefix string) (RestoreResult, error) {
	var res RestoreResult
	l, lctx, err := acquire(ctx, s.p.Redis, rkeys.SweepLock(), "restore:"+id, s.p.Lease)
	if err != nil {
		return res, err
	}
	defer l.release(ctx)
	ctx = lctx
	r, err := s.Report(ctx, id)
	if err != nil {
		return res, err
	}
	if r.Status != StatusQuarantined {
		return res, fmt.Errorf("%w: sweep %s is %s", ErrNotRestorable, id, r.Status)
	}
	for e, err := range s.Manifest(ctx, id) {
		if err != nil {
			return res, err
		}
		if !strings.HasPrefix(e.Key, prefix) {
			continue
		}
		if _, err := s.p.Store.Stat(ctx, e.To); errors.Is(err, storage.ErrNotFound) {
			res.Missing++
			continue
		} else if err != nil {
			return res, err
		}
		if _, err := s.p.Store.Stat(ctx, e.Key); err == nil {
			res.Conflicts++
			continue
		} else if !errors.Is(err, storage.ErrNotFound) {
			return res, err
		}
		if err := s.p.Store.Move(ctx, e.To, e.Key); err != nil {
			return res, fmt.Errorf("sweep %s: restore: %w", id, err)
		}
		res.Restored++
	}
	r.Restored += res.Restored
	if err := s.writeReport(ctx, r); err != nil {
		return res, err
	}
	s.p.Log.Info().Ctx(ctx).Str("sweep_id", id).Int64("restored", res.Restored).Int64("missing", res.Missing).
		Int64("conflicts", res.Conflicts).Msg("sweep quarantine restored")
	return res, nil
}
