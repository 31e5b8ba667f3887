package sweep

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/lifecycle-worker/lifecycle/internal/rkeys"
	"github.com/lifecycle-worker/lifecycle/internal/skeys"
	"github.com/lifecycle-worker/lifecycle/internal/storage"
)

// What an erasure asks of the sweeps (erasure.Copies): every sweep's
// quarantine of its subjects is deleted at once, restore window or not,
// and the manifest lines naming them are taken out of the manifests, so
// that nothing of the sweeps names the subjects any more. Reports hold
// counts only.

// Forget deletes what any sweep quarantined of ids (every version, on a
// versioned bucket) and the manifest lines naming them, and returns how
// many objects and lines went. It holds the sweep lock meanwhile, since a
// sweep, purge or restore reads the manifests it rewrites; while one runs
// it returns ErrBusy (retried by the erasure). Running it again removes
// nothing more.
func (s *Sweeper) Forget(ctx context.Context, ids []string) (int, error) {
	l, lctx, err := acquire(ctx, s.p.Redis, rkeys.SweepLock(), "erasure", s.p.Lease)
	if err != nil {
		return 0, err
	}
	defer l.release(ctx)
	sweeps, err := s.sweepIDs(lctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, sw := range sweeps {
		for _, id := range ids {
			m, _, err := s.purgeUnder(lctx, skeys.Quarantined(sw, skeys.UserPrefix(id)), false)
			n += int(m)
			if err != nil {
				return n, fmt.Errorf("sweep %s: purge quarantine of an erased id: %w", sw, err)
			}
		}
		m, err := s.dropLines(lctx, sw, ids, true)
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// Find describes what sweeps still hold of ids: quarantined entries and
// manifest lines.
func (s *Sweeper) Find(ctx context.Context, ids []string) ([]string, error) {
	sweeps, err := s.sweepIDs(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, sw := range sweeps {
		for _, id := range ids {
			left, err := storage.Entries(ctx, s.p.Store, skeys.Quarantined(sw, skeys.UserPrefix(id)))
			if err != nil {
				return nil, err
			}
			if len(left) > 0 {
				out = append(out, fmt.Sprintf("sweep %s: %d quarantined entries of %s", sw, len(left), id))
			}
		}
		lines, err := s.dropLines(ctx, sw, ids, false)
		if err != nil {
			return nil, err
		}
		if lines > 0 {
			out = append(out, fmt.Sprintf("sweep %s: %d manifest lines", sw, lines))
		}
	}
	return out, nil
}

// sweepIDs lists the sweeps that left anything in storage: a report, or
// manifest parts of one that has not finished.
func (s *Sweeper) sweepIDs(ctx context.Context) ([]string, error) {
	var ids []string
	for o, err := range s.p.Store.List(ctx, skeys.Sweeps(), "") {
		if err != nil {
			return nil, fmt.Errorf("sweep: list sweeps: %w", err)
		}
		if id, ok := skeys.SweepIDOf(o.Key); ok && !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// dropLines counts the lines of sweep sw's manifest naming any of ids and,
// with rewrite, writes each part again without them.
func (s *Sweeper) dropLines(ctx context.Context, sw string, ids []string, rewrite bool) (int, error) {
	n := 0
	for o, err := range s.p.Store.List(ctx, skeys.SweepManifest(sw), "") {
		if err != nil {
			return n, fmt.Errorf("sweep %s: list manifest: %w", sw, err)
		}
		part, ok := skeys.ManifestPartOf(sw, o.Key)
		if !ok {
			continue
		}
		entries, err := s.readPart(ctx, sw, part)
		if errors.Is(err, storage.ErrNotFound) {
			continue
		}
		if err != nil {
			return n, err
		}
		kept := slices.DeleteFunc(slices.Clone(entries), func(e Entry) bool { return slices.Contains(ids, skeys.OwnerOf(e.Key)) })
		if len(kept) == len(entries) {
			continue
		}
		n += len(entries) - len(kept)
		if rewrite {
			// The part stays, if empty: a resumed sweep reads parts by number.
			if err := s.writePart(ctx, sw, part, kept); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}
