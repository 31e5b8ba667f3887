package sweep

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/lifecycle-worker/lifecycle/internal/errclass"
	"github.com/lifecycle-worker/lifecycle/internal/rkeys"
	"github.com/lifecycle-worker/lifecycle/internal/skeys"
	"github.com/lifecycle-worker/lifecycle/internal/storage"
	"github.com/lifecycle-worker/lifecycle/internal/userlock"
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
	n, bytes, err = s.purgeUnder(ctx, skeys.QuarantinePrefix(id), dryRun)
	if err != nil {
		err = fmt.Errorf("sweep %s: purge: %w", id, err)
	}
	return n, bytes, err
}

// purgeUnder deletes everything under prefix, in batches, and then what a
// versioned bucket keeps besides: older versions behind a delete marker,
// which the listing of current objects does not show, and unfinished
// uploads. A version the object lock keeps is a permanent error: the lock
// holds until its date or until a person lifts it. With dryRun it only
// counts.
func (s *Sweeper) purgeUnder(ctx context.Context, prefix string, dryRun bool) (n, bytes int64, err error) {
	batch := make([]string, 0, purgeBatch)
	flush := func() error {
		if len(batch) == 0 || dryRun {
			batch = batch[:0]
			return nil
		}
		if err := s.p.Store.DeleteMany(ctx, batch); err != nil {
			return err
		}
		batch = batch[:0]
		return nil
	}
	// Deleting behind the listing is safe: List resumes after the last key.
	for o, err := range s.p.Store.List(ctx, prefix, "") {
		if err != nil {
			return n, bytes, fmt.Errorf("list: %w", err)
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
	if err := flush(); err != nil || dryRun {
		return n, bytes, err
	}
	p, err := storage.PurgePrefix(ctx, s.p.Store, prefix)
	if err == nil && len(p.Retained) > 0 {
		err = errclass.AsPermanent(&storage.RetainedError{Retained: p.Retained})
	}
	return n, bytes, err
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
	// Entries come in key order, so one owner's are together: each owner's
	// are restored under its user lock, where a merge of it cannot run,
	// and to the user it was merged into if it was merged meanwhile, so
	// that a restore never puts a guest's objects back where nobody owns
	// them.
	var (
		cur     string
		release func()
		dst     func(string) string
		forget  []string // cur's fields of this sweep in its quarantine record
	)
	defer func() {
		if release != nil {
			release()
		}
	}()
	// done forgets the record of what came back, once it has: a restore cut
	// short leaves it for a merge to find the rest.
	done := func() error {
		if release == nil {
			return nil
		}
		err := s.forget(ctx, cur, forget)
		release()
		release = nil
		return err
	}
	for e, err := range s.Manifest(ctx, id) {
		if err != nil {
			return res, err
		}
		if !strings.HasPrefix(e.Key, prefix) {
			continue
		}
		if owner := skeys.OwnerOf(e.Key); owner != cur || dst == nil {
			if err := done(); err != nil {
				return res, err
			}
			cur = owner
			if release, dst, forget, err = s.restoreOwner(ctx, id, owner); err != nil {
				return res, err
			}
		}
		to := dst(e.Key)
		if _, err := s.p.Store.Stat(ctx, e.To); errors.Is(err, storage.ErrNotFound) {
			res.Missing++
			continue
		} else if err != nil {
			return res, err
		}
		if _, err := s.p.Store.Stat(ctx, to); err == nil {
			res.Conflicts++
			continue
		} else if !errors.Is(err, storage.ErrNotFound) {
			return res, err
		}
		if err := s.p.Store.Move(ctx, e.To, to); err != nil {
			return res, fmt.Errorf("sweep %s: restore: %w", id, err)
		}
		res.Restored++
	}
	if err := done(); err != nil {
		return res, err
	}
	r.Restored += res.Restored
	if err := s.writeReport(ctx, r); err != nil {
		return res, err
	}
	s.p.Log.Info().Ctx(ctx).Str("sweep_id", id).Int64("restored", res.Restored).Int64("missing", res.Missing).
		Int64("conflicts", res.Conflicts).Msg("sweep quarantine restored")
	return res, nil
}

// restoreOwner takes owner's user lock for a restore of sweep id, waiting
// while a merge or erasure holds it. It returns where each of owner's keys
// goes back to (the key itself, or the same path under the user owner was
// merged into) and owner's fields of the sweep in its quarantine record, to
// forget once they are back.
func (s *Sweeper) restoreOwner(ctx context.Context, id, owner string) (release func(), dst func(string) string, fields []string, err error) {
	release = func() {}
	if owner != "" && s.p.Locks != nil {
		for {
			lk, err := s.p.Locks.Acquire(ctx, "restore:"+id, owner)
			var held *userlock.HeldError
			if errors.As(err, &held) {
				select {
				case <-ctx.Done():
					return nil, nil, nil, fmt.Errorf("sweep %s: restore: %w", id, err)
				case <-time.After(min(held.Wait, 100*time.Millisecond)):
				}
				continue
			}
			if err != nil {
				return nil, nil, nil, err
			}
			release = func() { lk.Release(context.WithoutCancel(ctx)) }
			break
		}
	}
	dst = func(k string) string { return k }
	if owner == "" {
		return release, dst, nil, nil
	}
	into, merged, err := s.p.Identity.MergedInto(ctx, owner)
	if err != nil {
		release()
		return nil, nil, nil, err
	}
	if merged {
		dst = func(k string) string {
			if to, ok := skeys.ChangeOwner(k, owner, into); ok {
				return to
			}
			return k
		}
	}
	_, names, err := s.quarantinedBy(ctx, owner)
	if err != nil {
		release()
		return nil, nil, nil, err
	}
	return release, dst, names[id], nil
}
