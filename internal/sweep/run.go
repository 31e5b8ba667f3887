package sweep

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/lifecycle-worker/lifecycle/internal/errclass"
	"github.com/lifecycle-worker/lifecycle/internal/lease"
	"github.com/lifecycle-worker/lifecycle/internal/logx"
	"github.com/lifecycle-worker/lifecycle/internal/rkeys"
	"github.com/lifecycle-worker/lifecycle/internal/skeys"
	"github.com/lifecycle-worker/lifecycle/internal/storage"
	"github.com/lifecycle-worker/lifecycle/internal/userlock"
)

// ErrTripped means the safety limit stopped a sweep: it would have
// quarantined more than MaxShare of what it scanned. Nothing was moved; the
// report (status tripped) and manifest say what would have been.
var ErrTripped = errors.New("sweep: safety limit tripped")

// fresh is the internal verdict for an object younger than the grace period.
const fresh Reason = "fresh"

// Sweep runs sweep id: mark, then (unless dryRun or the safety limit trips)
// quarantine. It returns the sweep's report.
//
// If a crashed sweep left a checkpoint, Sweep finishes that sweep instead
// (its id and dry-run setting win), and returns its report. If sweep id
// already finished, Sweep returns its report and does nothing. If another
// sweep, purge or restore is running, it returns ErrBusy.
func (s *Sweeper) Sweep(ctx context.Context, id string, dryRun bool) (Report, error) {
	l, lctx, err := acquire(ctx, s.p.Redis, rkeys.SweepLock(), id, s.p.Lease)
	if err != nil {
		return Report{}, err
	}
	defer l.release(ctx)
	r, err := s.sweep(lctx, id, dryRun)
	if errors.Is(context.Cause(lctx), lease.ErrLost) && err != nil {
		err = fmt.Errorf("%w: %w", errLeaseLost, err)
	}
	return r, err
}

func (s *Sweeper) sweep(ctx context.Context, id string, dryRun bool) (Report, error) {
	st, err := s.loadState(ctx)
	if err != nil {
		return Report{}, err
	}
	log := s.p.Log
	if st == nil {
		if r, err := s.Report(ctx, id); err == nil {
			log.Info().Ctx(ctx).Str("sweep_id", id).Str("status", r.Status).Msg("sweep already finished; nothing to do")
			return r, nil
		} else if !errors.Is(err, ErrNoReport) {
			return Report{}, err
		}
		if s.p.Photos == nil {
			log.Warn().Ctx(ctx).Str("sweep_id", id).Msg("Artifi not configured: this sweep does not look for photos deleted upstream")
		}
		st = &runState{SweepID: id, DryRun: dryRun, Phase: phaseMark, Report: newReport(id, dryRun, s.p.Now(), s.p.MaxShare)}
		if err := s.saveState(ctx, st); err != nil {
			return Report{}, err
		}
		log.Info().Ctx(ctx).Str("sweep_id", id).Bool("dry_run", dryRun).Msg("sweep started")
	} else {
		st.Report.Resumed++
		log.Warn().Ctx(ctx).Str("sweep_id", st.SweepID).Str("task_sweep_id", id).Str("phase", st.Phase).
			Str("after", st.After).Int("parts", st.Parts).Int("quarantined_parts", st.QParts).
			Msg("resuming an interrupted sweep from its checkpoint")
	}
	log = log.With().Str("sweep_id", st.SweepID).Logger()
	r := &st.Report

	if st.Phase == phaseMark {
		if err := s.mark(ctx, st); err != nil {
			return *r, err
		}
		if r.Scanned > 0 {
			r.Share = float64(r.CandidateCount()) / float64(r.Scanned)
		}
		switch {
		case r.Share > s.p.MaxShare:
			r.Status = StatusTripped
			if err := s.finish(ctx, st); err != nil {
				return *r, err
			}
			log.Error().Ctx(ctx).Int64("scanned", r.Scanned).Int64("candidates", r.CandidateCount()).
				Float64("share", r.Share).Float64("max_share", s.p.MaxShare).Interface("by_reason", r.Candidates).
				Msg("ALERT: sweep safety limit tripped, nothing was moved; check upstream health and the manifest before sweeping again")
			return *r, fmt.Errorf("%w: %d of %d objects (%.1f%%) would be quarantined, limit %.1f%%",
				ErrTripped, r.CandidateCount(), r.Scanned, 100*r.Share, 100*s.p.MaxShare)
		case st.DryRun:
			r.Status = StatusDryRun
			return *r, s.finish(ctx, st)
		}
		st.Phase = phaseQuarantine
		if err := s.saveState(ctx, st); err != nil {
			return *r, err
		}
	}
	if err := s.quarantine(ctx, st); err != nil {
		return *r, err
	}
	r.Status = StatusQuarantined
	if err := s.finish(ctx, st); err != nil {
		return *r, err
	}
	log.Info().Ctx(ctx).Int64("scanned", r.Scanned).Int64("candidates", r.CandidateCount()).Int64("moved", r.Moved).
		Interface("skipped", r.Skipped).Float64("sweep_duration_ms", logx.Millis(r.FinishedAt.Sub(r.StartedAt))).Msg("sweep quarantined its candidates")
	return *r, nil
}

func (s *Sweeper) finish(ctx context.Context, st *runState) error {
	r := &st.Report
	r.FinishedAt = s.p.Now().UTC()
	r.Duration = r.FinishedAt.Sub(r.StartedAt).Round(time.Millisecond).String()
	if err := s.writeReport(ctx, *r); err != nil {
		return err
	}
	return s.clearState(ctx)
}

// mark lists users/ from the checkpoint on and writes the candidates to the
// manifest. A checkpoint is taken only with nothing buffered, right after a
// part is written, so a resumed mark lists exactly what was not accounted for.
func (s *Sweeper) mark(ctx context.Context, st *runState) error {
	r := &st.Report
	now := s.p.Now()
	buf := make([]Entry, 0, s.p.PartSize)
	var cur owner
	since, lastCheckpoint := 0, time.Now()
	checkpoint := func(after string) error {
		if len(buf) > 0 {
			if err := s.writePart(ctx, st.SweepID, st.Parts, buf); err != nil {
				return err
			}
			st.Parts++
			buf = buf[:0]
		}
		st.After, since, lastCheckpoint = after, 0, time.Now()
		return s.saveState(ctx, st)
	}
	last := st.After
	for o, err := range s.p.Store.List(ctx, skeys.Users(), st.After) {
		if err != nil {
			return fmt.Errorf("sweep %s: list: %w", st.SweepID, err)
		}
		last = o.Key
		r.Scanned++
		r.ScannedBytes += o.Size
		reason, err := s.classify(ctx, &cur, o, now)
		if err != nil {
			return fmt.Errorf("sweep %s: classify: %w", st.SweepID, err)
		}
		switch reason {
		case "":
		case fresh:
			r.Fresh++
		default:
			r.Candidates[reason]++
			r.CandidateBytes[reason] += o.Size
			buf = append(buf, Entry{Key: o.Key, To: skeys.Quarantined(st.SweepID, o.Key), Reason: reason, Size: o.Size, Modified: o.Modified.UTC()})
		}
		// The wall clock, not Params.Now: this is about work lost, not ages.
		if since++; len(buf) >= s.p.PartSize || since >= s.p.Checkpoint || time.Since(lastCheckpoint) >= s.p.CheckpointInterval {
			if err := checkpoint(o.Key); err != nil {
				return err
			}
		}
	}
	return checkpoint(last)
}

// owner is the classification of one user id, cached while the listing is
// in that user's keys.
type owner struct {
	id     string
	reason Reason // "" while the owner is live
	// merging: a merge of this guest is under way (or crashed and awaits
	// its retry): its objects are on their way to the registered user, and
	// Artifi may already list its photos under that user. Nothing of it is
	// a candidate.
	merging bool
	photos  map[string]struct{}
	loaded  bool // photos read from Artifi
	// unproven: Artifi's listing of this owner proved nothing (an unknown
	// user, pages that do not add up): every photo of theirs is kept.
	unproven bool
}

// classifyOwner decides whether id still owns anything.
func (s *Sweeper) classifyOwner(ctx context.Context, id string, now time.Time) (owner, error) {
	o := owner{id: id}
	if _, ok, err := s.p.Identity.Tombstoned(ctx, id); err != nil {
		return o, err
	} else if ok {
		o.reason = Erased
		return o, nil
	}
	if _, ok, err := s.p.Identity.MergedInto(ctx, id); err != nil {
		return o, err
	} else if ok {
		o.reason = Merged
		return o, nil
	}
	if merging, err := s.p.Merges.InProgress(ctx, id); err != nil {
		return o, err
	} else if merging {
		o.merging = true
		return o, nil
	}
	if strings.HasPrefix(id, s.p.GuestPrefix) {
		newest, err := s.newest(ctx, skeys.UserPrefix(id))
		if err != nil {
			return o, err
		}
		if now.Sub(newest) > s.p.GuestRetention {
			o.reason = GuestExpired
		}
	}
	return o, nil
}

// newest is the latest modification time under prefix: a guest is active as
// long as anything of theirs is recent. A second, streaming listing of one
// guest's keys keeps memory constant however many objects the guest has.
func (s *Sweeper) newest(ctx context.Context, prefix string) (time.Time, error) {
	var t time.Time
	for o, err := range s.p.Store.List(ctx, prefix, "") {
		if err != nil {
			return t, err
		}
		if o.Modified.After(t) {
			t = o.Modified
		}
	}
	return t, nil
}

// classify returns why o is an orphan, fresh, or "" if it is owned.
func (s *Sweeper) classify(ctx context.Context, cur *owner, o storage.Object, now time.Time) (Reason, error) {
	id := skeys.OwnerOf(o.Key)
	if id == "" {
		return "", nil
	}
	if now.Sub(o.Modified) < s.p.Grace {
		return fresh, nil
	}
	if cur.id != id {
		c, err := s.classifyOwner(ctx, id, now)
		if err != nil {
			return "", err
		}
		*cur = c
	}
	if cur.reason != "" || cur.merging {
		return cur.reason, nil
	}
	photo, ok := skeys.PhotoID(o.Key)
	if !ok || s.p.Photos == nil {
		return "", nil
	}
	if !cur.loaded {
		ids, err := s.p.Photos.AllUserPhotoIDs(ctx, id)
		if errclass.Of(err) == errclass.Unconfirmed {
			// An incomplete listing, or "unknown user" from the undocumented
			// listing, proves no photo deleted upstream: keep them all.
			s.p.Log.Warn().Ctx(ctx).Str("user_id", id).Err(err).Msg("sweep keeps the owner's photos: Artifi's listing proves nothing")
			cur.loaded, cur.unproven = true, true
			return "", nil
		}
		if err != nil {
			// Never read a failure as "no photos": that would sweep them all.
			return "", fmt.Errorf("photos of %s upstream: %w", id, err)
		}
		cur.photos = make(map[string]struct{}, len(ids))
		for _, p := range ids {
			cur.photos[p] = struct{}{}
		}
		cur.loaded = true
	}
	if cur.unproven {
		return "", nil
	}
	if _, ok := cur.photos[photo]; !ok {
		return UpstreamDeleted, nil
	}
	return "", nil
}

// quarantine moves the manifest's candidates, part by part from the
// checkpoint on. Every move is checked again first: an object rewritten since
// the mark, or whose owner is no longer an orphan, stays.
func (s *Sweeper) quarantine(ctx context.Context, st *runState) error {
	now := s.p.Now()
	for st.QParts < st.Parts {
		entries, err := s.readPart(ctx, st.SweepID, st.QParts)
		if err != nil {
			return err
		}
		// A retried part is counted afresh: its counts were not saved.
		var erased []string
		for i := 0; i < len(entries); {
			j, id := i, skeys.OwnerOf(entries[i].Key)
			for j < len(entries) && skeys.OwnerOf(entries[j].Key) == id {
				j++
			}
			isErased, err := s.quarantineOwner(ctx, st, id, entries[i:j], now)
			if err != nil {
				return err
			}
			if isErased {
				erased = append(erased, id)
			}
			i = j
		}
		// The lines of erased owners go from the manifest once their
		// objects are deleted: nothing is left to restore, and the lines
		// would name the person. A retried part reads the part as
		// rewritten, its erased owners' objects already gone.
		if kept := slices.DeleteFunc(slices.Clone(entries), func(e Entry) bool { return slices.Contains(erased, skeys.OwnerOf(e.Key)) }); len(kept) < len(entries) {
			if err := s.writePart(ctx, st.SweepID, st.QParts, kept); err != nil {
				return err
			}
		}
		st.QParts++
		if err := s.saveState(ctx, st); err != nil {
			return err
		}
	}
	return nil
}

// quarantineOwner moves id's candidates to quarantine, or deletes them if
// id is erased (which it reports).
func (s *Sweeper) quarantineOwner(ctx context.Context, st *runState, id string, entries []Entry, now time.Time) (erased bool, _ error) {
	r := &st.Report
	if s.p.Locks != nil {
		lk, err := s.p.Locks.Acquire(ctx, "sweep:"+st.SweepID, id)
		var held *userlock.HeldError
		if errors.As(err, &held) {
			// A merge or erasure is working on this user: leave its objects
			// to the next sweep, which will see the outcome.
			r.Skipped["busy"] += int64(len(entries))
			return false, nil
		}
		if err != nil {
			return false, err
		}
		defer lk.Release(context.WithoutCancel(ctx))
	}
	now2, err := s.classifyOwner(ctx, id, now)
	if err != nil {
		return false, err
	}
	if now2.reason == GuestExpired && s.p.Queue != nil {
		// A guest whose merge is enqueued (or waits for a retry, or for a
		// person in the dead-letter queue) is about to register: not
		// expired. Asked here, under the guest's lock, since the merge
		// may have been enqueued at any time since the mark.
		queued, err := s.p.Queue.Queued(ctx, id)
		if err != nil {
			return false, fmt.Errorf("sweep %s: merges queued for %s: %w", st.SweepID, id, err)
		}
		if queued {
			r.Skipped["merge_queued"] += int64(len(entries))
			return false, nil
		}
	}
	if now2.reason == GuestExpired {
		// Written before anything moves: a merge of this guest, which
		// waits for this lock, finds what moved (Reclaim).
		if err := s.recordQuarantine(ctx, st, id, len(entries)); err != nil {
			return false, err
		}
	}
	movedBefore := r.Moved
	for _, e := range entries {
		if now2.merging || e.Reason != UpstreamDeleted && now2.reason == "" {
			r.Skipped["reclaimed"]++
			continue
		}
		o, err := s.p.Store.Stat(ctx, e.Key)
		switch {
		case errors.Is(err, storage.ErrNotFound):
			// Moved by an earlier attempt of this part, or deleted since.
			if _, err := s.p.Store.Stat(ctx, e.To); err == nil {
				r.Moved++
				r.MovedBytes += e.Size
			} else if errors.Is(err, storage.ErrNotFound) {
				r.Skipped["gone"]++
			} else {
				return false, err
			}
			continue
		case err != nil:
			return false, err
		case o.Size != e.Size || !o.Modified.Truncate(time.Second).Equal(e.Modified.Truncate(time.Second)):
			// Compared to the second: S3 lists milliseconds but HEAD
			// answers whole seconds.
			r.Skipped["changed"]++
			continue
		}
		if now2.reason == Erased {
			// Nothing of an erased person is kept for a restore window:
			// there is nobody to restore it to, and the erasure promised
			// it gone.
			if err := s.p.Store.Delete(ctx, e.Key); err != nil {
				return false, fmt.Errorf("sweep %s: delete an erased user's leftover: %w", st.SweepID, err)
			}
			r.Erased++
			r.ErasedBytes += e.Size
			continue
		}
		if err := s.p.Store.Move(ctx, e.Key, e.To); err != nil {
			if errclass.Of(err) == errclass.AlreadyGone {
				r.Skipped["gone"]++
				continue
			}
			return false, fmt.Errorf("sweep %s: quarantine: %w", st.SweepID, err)
		}
		r.Moved++
		r.MovedBytes += e.Size
	}
	if now2.reason == GuestExpired {
		// What did move, for the merge's figures (candidates rewritten or
		// deleted since the mark did not).
		return false, s.recordQuarantine(ctx, st, id, int(r.Moved-movedBefore))
	}
	return now2.reason == Erased, nil
}
