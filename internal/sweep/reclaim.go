package sweep

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lifecycle-worker/lifecycle/internal/errclass"
	"github.com/lifecycle-worker/lifecycle/internal/rkeys"
	"github.com/lifecycle-worker/lifecycle/internal/skeys"
	"github.com/lifecycle-worker/lifecycle/internal/storage"
)

// quarantineRecordFor is how long rkeys.GuestQuarantined outlives the
// restore window: a guest who registers within it, long after the purge,
// still hears that their objects were purged rather than nothing at all.
const quarantineRecordFor = 365 * 24 * time.Hour

// recordQuarantine notes, under the owner's lock and before anything moves,
// that sweep st moves n objects of id in the current part: what a merge of
// id will look for (Reclaim). A retried part writes the same field again.
func (s *Sweeper) recordQuarantine(ctx context.Context, st *runState, id string, n int) error {
	key := rkeys.GuestQuarantined(id)
	pipe := s.p.Redis.TxPipeline()
	pipe.HSet(ctx, key, st.SweepID+":"+strconv.Itoa(st.QParts), n)
	pipe.Expire(ctx, key, s.p.RestoreWindow+quarantineRecordFor)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("sweep %s: record quarantine of %s: %w", st.SweepID, id, err)
	}
	return nil
}

// quarantinedBy reads id's quarantine record: the objects each sweep took,
// and the record's fields per sweep.
func (s *Sweeper) quarantinedBy(ctx context.Context, id string) (map[string]int64, map[string][]string, error) {
	fields, err := s.p.Redis.HGetAll(ctx, rkeys.GuestQuarantined(id)).Result()
	if err != nil {
		return nil, nil, fmt.Errorf("sweep: quarantine record of %s: %w", id, err)
	}
	counts, names := map[string]int64{}, map[string][]string{}
	for f, v := range fields {
		i := strings.LastIndexByte(f, ':')
		if i <= 0 {
			continue
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		counts[f[:i]] += n
		names[f[:i]] = append(names[f[:i]], f)
	}
	return counts, names, nil
}

// forget drops the fields of sweep sweepID from id's quarantine record, once
// what it quarantined of id is back.
func (s *Sweeper) forget(ctx context.Context, id string, fields []string) error {
	if len(fields) == 0 {
		return nil
	}
	if err := s.p.Redis.HDel(ctx, rkeys.GuestQuarantined(id), fields...).Err(); err != nil {
		return fmt.Errorf("sweep: quarantine record of %s: %w", id, err)
	}
	return nil
}

// Reclaimed is what Reclaim found of a guest in quarantine.
type Reclaimed struct {
	// Restored objects moved from quarantine to the registered user.
	Restored int64
	// Purged objects were quarantined and then purged, the restore window
	// having passed: they are gone, and PurgedBy names the sweeps.
	Purged   int64
	PurgedBy []string
}

// Reclaim moves to userID what sweeps quarantined of guestID (a guest taken
// for gone who came back and registered), from every sweep whose quarantine
// is not purged, keeping each object's path inside the user's folder, and
// says what the purge took. The caller holds guestID's user lock, under
// which every sweep writes its record before it moves anything; the sweep
// lock is not needed: a purge racing a move either deletes the object first
// (counted purged) or finds it moved. Running it again after a crash moves
// the rest.
func (s *Sweeper) Reclaim(ctx context.Context, guestID, userID string) (Reclaimed, error) {
	var res Reclaimed
	counts, names, err := s.quarantinedBy(ctx, guestID)
	if err != nil {
		return res, err
	}
	for _, id := range slices.Sorted(maps.Keys(counts)) {
		n, err := s.moveBack(ctx, id, skeys.UserPrefix(guestID), func(orig string) (string, bool) {
			return skeys.ChangeOwner(orig, guestID, userID)
		})
		res.Restored += n
		if err != nil {
			return res, err
		}
		if n < counts[id] {
			r, err := s.Report(ctx, id)
			switch {
			case err == nil && r.Status == StatusPurged:
				res.Purged += counts[id] - n
				res.PurgedBy = append(res.PurgedBy, id)
			case err != nil && !errors.Is(err, ErrNoReport):
				return res, err
			}
		}
		if err := s.forget(ctx, guestID, names[id]); err != nil {
			return res, err
		}
	}
	return res, nil
}

// moveBack moves every object sweep id quarantined from under prefix to
// where to says, and returns how many it moved.
func (s *Sweeper) moveBack(ctx context.Context, id, prefix string, to func(orig string) (string, bool)) (int64, error) {
	var n int64
	for o, err := range s.p.Store.List(ctx, skeys.Quarantined(id, prefix), "") {
		if err != nil {
			return n, fmt.Errorf("sweep %s: list quarantine: %w", id, err)
		}
		orig, ok := skeys.Unquarantined(id, o.Key)
		if !ok {
			return n, fmt.Errorf("sweep %s: listing its quarantine returned %q", id, o.Key)
		}
		dst, ok := to(orig)
		if !ok {
			return n, fmt.Errorf("sweep %s: quarantined %q is outside %s", id, orig, prefix)
		}
		if err := s.p.Store.Move(ctx, o.Key, dst); err != nil {
			if errclass.Of(err) == errclass.AlreadyGone && errors.Is(err, storage.ErrNotFound) {
				continue // purged meanwhile
			}
			return n, fmt.Errorf("sweep %s: move %s back: %w", id, orig, err)
		}
		n++
	}
	return n, nil
}
