// Package merge moves a guest's data to the registered user after checkout:
// the guest's Artifi data (designs, cart, photos) and stored assets, and the
// alias guest → user that makes later work on the user (an erasure above
// all) cover the guest id too.
//
// A merge must be exactly-once in effect, though asynq may run it twice (a
// retry after a lost response, a crash, a duplicate delivery):
//   - Progress is checkpointed in Redis (rkeys.MergeProgress): Artifi done,
//     the last stored key moved. A rerun skips what is done. The record
//     names the user it is for: once it holds anything, a merge of the same
//     guest into another user is refused, whatever became of the first.
//   - Artifi's UpdateUserId is not idempotent: a second call answers 232
//     "Invalid old User Id". That answer is verified (the guest id holds
//     nothing in Artifi any more) and counted as done, not failed.
//   - Moves are idempotent (storage.Store.Move).
//   - What a sweep quarantined of the guest, taking it for gone, is taken
//     back from quarantine to the user (Quarantine), or the outcome says
//     the purge took it. The sweep quarantines a guest only under its user
//     lock, and only once no merge of it is recorded, under way or queued.
//   - The user lock keeps an erasure of either id from running meanwhile;
//     its lease frees it if this worker dies. Tombstones and merge records
//     are checked again once the lock is held.
package merge

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/lifecycle-worker/lifecycle/internal/errclass"
	"github.com/lifecycle-worker/lifecycle/internal/identity"
	"github.com/lifecycle-worker/lifecycle/internal/lease"
	"github.com/lifecycle-worker/lifecycle/internal/rkeys"
	"github.com/lifecycle-worker/lifecycle/internal/skeys"
	"github.com/lifecycle-worker/lifecycle/internal/storage"
	"github.com/lifecycle-worker/lifecycle/internal/sweep"
	"github.com/lifecycle-worker/lifecycle/internal/userlock"
)

// Artifi is what a merge needs from Artifi.
type Artifi interface {
	UpdateUserID(ctx context.Context, newUserID, oldUserID string, isGuest bool) error
	AllUserPhotoIDs(ctx context.Context, userID string) ([]string, error)
}

// Mover moves stored objects.
type Mover interface {
	List(ctx context.Context, prefix, startAfter string) iter.Seq2[storage.Object, error]
	Move(ctx context.Context, src, dst string) error
}

// Quarantine gives back what sweeps quarantined of a guest (*sweep.Sweeper).
type Quarantine interface {
	Reclaim(ctx context.Context, guestID, userID string) (sweep.Reclaimed, error)
}

// Merger carries out merges.
type Merger struct {
	Artifi Artifi // nil: Artifi is not configured, and merges fail permanently
	Store  Mover
	// Quarantine, when set, is where a merge looks for the guest's objects
	// a sweep took for an expired guest's: a guest who registers after the
	// sweep gets them back (within the restore window), or is told.
	Quarantine Quarantine
	Redis      redis.UniversalClient
	Identity   *identity.Store
	Locks      *userlock.Locker
	Log        zerolog.Logger
}

// Progress fields of rkeys.MergeProgress.
const (
	fieldTarget      = "target"        // the user the guest is merged into
	fieldArtifi      = "artifi"        // "calling" before the call, "done" after
	fieldStoreAfter  = "storage_after" // last key moved
	fieldStoreMoved  = "storage_moved" // objects moved so far
	fieldArtifiAgain = "artifi_verified_232"
	fieldRestored    = "restored"  // objects taken back from quarantine so far
	fieldPurged      = "purged"    // objects quarantined and purged: gone
	fieldPurgedBy    = "purged_by" // the sweeps that purged them, comma-separated
	// fieldGuestPhotos: the guest's photo ids (JSON) as a complete listing
	// showed them before the first call, or guestUnknown.
	fieldGuestPhotos = "artifi_guest_photos"
)

// lockWait is how long a merge waits for a user lock before it gives its
// attempt up for a retry: long enough for a sweep's hold on a guest (one
// guest's objects moved), short of the task's timeout.
const lockWait = 5 * time.Second

// moveCheckpointEvery is how many moves go between checkpoints: a crash
// repeats at most this many (idempotent) moves.
const moveCheckpointEvery = 50

// Result is what a merge did, for its task's result and log line.
type Result struct {
	// ObjectsMoved from the guest's folder to the user's.
	ObjectsMoved int `json:"objects_moved"`
	// ObjectsRestored from quarantine, where a sweep had put them taking
	// the guest for gone, to the user's folder.
	ObjectsRestored int64 `json:"objects_restored"`
	// ObjectsPurged were quarantined by a sweep and purged once the
	// restore window had passed: the guest had them, and they are gone.
	ObjectsPurged int64    `json:"objects_purged"`
	PurgedBy      []string `json:"purged_by,omitempty"`
}

// Merge moves guestID's data to userID on behalf of owner (the task id, which
// holds both users' locks meanwhile). Errors are classified (errclass): a
// merge into an erased id or of a guest merged elsewhere is permanent; a
// merge already recorded is already gone.
func (m *Merger) Merge(ctx context.Context, guestID, userID, owner string) (Result, error) {
	log := m.Log.With().Str("guest_id", guestID).Str("user_id", userID).Logger()

	// Checked before the lock so that a merge that must be refused does not
	// wait for it, and again once it is held (mergeLocked): an erasure or
	// another merge may have finished in between.
	if err := m.refusal(ctx, guestID, userID); err != nil {
		return Result{}, err
	}
	lock, err := m.Locks.AcquireWithin(ctx, lockWait, owner, guestID, userID)
	if err != nil {
		return Result{}, err
	}
	defer lock.Release(context.WithoutCancel(ctx))
	// A lost lock stops the merge at its next call (internal/lease's rule);
	// the retry takes the lock again and resumes from the progress record.
	lctx, stop := lock.Context(ctx)
	defer stop()
	res, err := m.mergeLocked(lctx, guestID, userID, log)
	return res, lease.Cause(lctx, err)
}

// refusal returns why guestID may not be merged into userID, if it may not:
// either id erased (permanent), the guest merged into userID already (gone)
// or into another user (permanent).
func (m *Merger) refusal(ctx context.Context, guestID, userID string) error {
	for _, id := range []string{guestID, userID} {
		if ts, erased, err := m.Identity.Tombstoned(ctx, id); err != nil {
			return err
		} else if erased {
			return errclass.AsPermanent(fmt.Errorf("merge refused: user id %s was erased by request %s", id, ts.RequestID))
		}
	}
	// An open erasure covers the id from planning to receipt (its user lock
	// only within a slice of it): wait for it, after which the tombstone
	// refuses the merge, or a failed erasure is run again or given up.
	for _, id := range []string{guestID, userID} {
		if req, fenced, err := m.Identity.FencedBy(ctx, id); err != nil {
			return err
		} else if fenced {
			return fmt.Errorf("user id %s is being erased by request %s: the merge waits for it", id, req)
		}
	}
	if into, merged, err := m.Identity.MergedInto(ctx, guestID); err != nil {
		return err
	} else if merged && into == userID {
		return errclass.AsGone(fmt.Errorf("guest %s already merged into %s", guestID, userID))
	} else if merged {
		return errclass.AsPermanent(fmt.Errorf("guest %s was already merged into another user (%s); refusing %s", guestID, into, userID))
	}
	return nil
}

// mergeLocked does the merge under both users' locks.
func (m *Merger) mergeLocked(ctx context.Context, guestID, userID string, log zerolog.Logger) (Result, error) {
	var res Result
	if err := m.refusal(ctx, guestID, userID); err != nil {
		return res, err
	}
	p := &progress{rdb: m.Redis, key: rkeys.MergeProgress(guestID), guestID: guestID, userID: userID}
	fields, err := m.Redis.HGetAll(ctx, p.key).Result()
	if err != nil {
		return res, fmt.Errorf("merge progress: %w", err)
	}
	if len(fields) > 0 {
		if err := p.conflict(fields[fieldTarget]); err != nil {
			return res, err
		}
	}
	if fields[fieldArtifi] != "done" {
		if err := m.mergeArtifi(ctx, guestID, userID, p, fields[fieldArtifi] == "calling", fields[fieldGuestPhotos], log); err != nil {
			return res, err
		}
	}
	if res.ObjectsMoved, err = m.moveAssets(ctx, guestID, userID, p, fields[fieldStoreAfter], fields[fieldStoreMoved]); err != nil {
		return res, fmt.Errorf("move assets: %w", err)
	}
	if err := m.reclaim(ctx, guestID, userID, p, fields, &res); err != nil {
		return res, err
	}
	if err := m.Identity.RecordMerge(ctx, guestID, userID); err != nil {
		return res, err
	}
	// MergedInto is now the durable record of completion; the progress hash
	// only served the retries.
	if err := m.Redis.Del(ctx, p.key).Err(); err != nil {
		log.Warn().Ctx(ctx).Err(err).Msg("merge progress not cleaned up")
	}
	ev := log.Info()
	msg := "merge complete"
	if res.ObjectsPurged > 0 {
		// Not an error the task can do anything about, but a person should
		// hear of it: the customer had these and will not find them.
		ev, msg = log.Warn(), "merge complete, but a sweep had taken the guest for gone and its quarantine was purged past the restore window: those objects are lost"
	}
	ev.Ctx(ctx).Int("objects_moved", res.ObjectsMoved).Int64("objects_restored", res.ObjectsRestored).
		Int64("objects_purged", res.ObjectsPurged).Strs("purged_by", res.PurgedBy).Msg(msg)
	return res, nil
}

// reclaim takes back from quarantine what sweeps took of the guest, adding
// to what earlier attempts took back (kept in the progress record, since
// each attempt finds only what is left).
func (m *Merger) reclaim(ctx context.Context, guestID, userID string, p *progress, fields map[string]string, res *Result) error {
	res.ObjectsRestored, _ = strconv.ParseInt(fields[fieldRestored], 10, 64)
	res.ObjectsPurged, _ = strconv.ParseInt(fields[fieldPurged], 10, 64)
	if by := fields[fieldPurgedBy]; by != "" {
		res.PurgedBy = strings.Split(by, ",")
	}
	if m.Quarantine == nil {
		return nil
	}
	got, err := m.Quarantine.Reclaim(ctx, guestID, userID)
	res.ObjectsRestored += got.Restored
	res.ObjectsPurged += got.Purged
	res.PurgedBy = append(res.PurgedBy, got.PurgedBy...)
	if got.Restored > 0 || got.Purged > 0 {
		// Reclaim forgets each sweep once done with it, so these figures
		// are kept here for the retry that finishes the merge.
		if serr := p.set(ctx, fieldRestored, res.ObjectsRestored, fieldPurged, res.ObjectsPurged,
			fieldPurgedBy, strings.Join(res.PurgedBy, ",")); serr != nil && err == nil {
			err = serr
		}
	}
	if err != nil {
		return fmt.Errorf("restore from quarantine: %w", err)
	}
	return nil
}

// progress writes one merge's record (rkeys.MergeProgress). The record is
// per guest but names its target: every write sets fieldTarget to the user
// and is refused if the record names another one, so that once a merge of
// the guest has recorded anything, no merge into another user can take over
// what it left half done (Artifi moved to one user, files to another).
type progress struct {
	rdb             redis.UniversalClient
	key             string
	guestID, userID string
}

// setProgressScript sets fields of a merge's progress record on behalf of
// one target.
//
//	KEYS[1] the record
//	ARGV[1] the target user id, ARGV[2..] field, value pairs
//	returns "ok" once set; else the record's target ("" for a record
//	without one) and nothing is written
var setProgressScript = redis.NewScript(`
local t = redis.call("HGET", KEYS[1], "target")
if t == false and redis.call("EXISTS", KEYS[1]) == 1 then
	return {0, ""}
end
if t ~= false and t ~= ARGV[1] then
	return {0, t}
end
redis.call("HSET", KEYS[1], "target", ARGV[1], unpack(ARGV, 2))
return {1, ""}
`)

// set records field, value pairs, refusing if the record belongs to another
// merge.
func (p *progress) set(ctx context.Context, pairs ...any) error {
	res, err := setProgressScript.Run(ctx, p.rdb, []string{p.key}, append([]any{p.userID}, pairs...)...).Slice()
	if err != nil {
		return fmt.Errorf("merge progress: %w", err)
	}
	if len(res) != 2 {
		return fmt.Errorf("merge progress: unexpected reply %v", res)
	}
	if ok, _ := res[0].(int64); ok == 1 {
		return nil
	}
	target, _ := res[1].(string)
	return p.conflict(target)
}

// conflict returns the refusal for a record whose target is target, or nil
// if it is this merge's.
//
// A record without a target was written before records named one, by a
// merge into a user nobody can tell any more. It is refused whoever asks, the
// same user included: taking it for this merge's could finish a merge into
// U2 of a guest whose Artifi data went to U1, splitting the person's data
// between two people, while refusing leaves a half-done merge that a person
// can finish by hand (the error names the key) once they know where the data
// went. Such records exist only for merges cut short across the upgrade.
func (p *progress) conflict(target string) error {
	switch target {
	case p.userID:
		return nil
	case "":
		return errclass.AsPermanent(fmt.Errorf("guest %s has a merge in progress recorded without its target (%s, written by an older version); refusing %s: find out which user has the guest's Artifi data and files, finish that merge, then delete the record",
			p.guestID, p.key, p.userID))
	default:
		return errclass.AsPermanent(fmt.Errorf("guest %s is being merged into %s; refusing %s", p.guestID, target, p.userID))
	}
}

// InProgress reports whether a merge of guestID has started and not been
// recorded yet: from its first attempt until it completes, the guest owns
// everything it has, so a sweep must not take it for orphaned.
func (m *Merger) InProgress(ctx context.Context, guestID string) (bool, error) {
	n, err := m.Redis.Exists(ctx, rkeys.MergeProgress(guestID)).Result()
	if err != nil {
		return false, fmt.Errorf("merge progress of %s: %w", guestID, err)
	}
	return n > 0, nil
}

func (m *Merger) mergeArtifi(ctx context.Context, guestID, userID string, p *progress, calledBefore bool, before string, log zerolog.Logger) error {
	if m.Artifi == nil {
		return errclass.AsPermanent(fmt.Errorf("artifi: %w", errclass.ErrNotConfigured))
	}
	// Recorded before the call: if the response is lost, the next attempt
	// knows that a 232 may be our own earlier call having succeeded, and
	// which photos the guest had, to look for them under the user.
	// The first write of a merge: from here on the guest belongs to userID.
	pairs := []any{fieldArtifi, "calling"}
	if !calledBefore {
		ids, err := m.Artifi.AllUserPhotoIDs(ctx, guestID)
		switch {
		case err == nil:
			b, _ := json.Marshal(ids)
			before = string(b)
		case errclass.Of(err) == errclass.Unconfirmed:
			before = guestUnknown
		default:
			return fmt.Errorf("list the guest's photos before merging: %w", err)
		}
		pairs = append(pairs, fieldGuestPhotos, before)
	}
	if err := p.set(ctx, pairs...); err != nil {
		return err
	}
	err := m.Artifi.UpdateUserID(ctx, userID, guestID, true)
	if errclass.Of(err) == errclass.AlreadyGone {
		// 232 (seed 003): Artifi no longer knows the guest id. Either our
		// earlier call went through, or the guest never had anything in
		// Artifi. The undocumented listing cannot tell "unknown" from
		// "merged", so what is checked is what the guest had before the
		// first call: those photos must now be the user's.
		if verr := m.verify232(ctx, guestID, userID, before); verr != nil {
			return fmt.Errorf("artifi answered %v, but: %w", err, verr)
		}
		log.Info().Ctx(ctx).Bool("called_before", calledBefore).Msg("artifi already merged (232 verified)")
		if err := p.set(ctx, fieldArtifiAgain, strconv.FormatBool(calledBefore)); err != nil {
			return err
		}
		err = nil
	}
	if err != nil {
		return err
	}
	return p.set(ctx, fieldArtifi, "done")
}

// guestUnknown is fieldGuestPhotos for a guest Artifi's listing did not know
// before the first call.
const guestUnknown = "unknown"

// verify232 checks a 232 against what the guest had before the first call:
// photos then must be listed under the user now (a complete listing).
// "Unknown" from the undocumented listing before the call proves nothing
// about what the guest holds, so a 232 after it is unconfirmed (fail closed:
// a person checks), as is a guest listing that says "unknown" when a merge
// begun by an older version left no record.
func (m *Merger) verify232(ctx context.Context, guestID, userID, before string) error {
	switch before {
	case guestUnknown:
		return errclass.AsUnconfirmed(fmt.Errorf("the Artifi listing did not know guest %s before the call either: nothing proves the guest had no data", guestID))
	case "":
		left, err := m.Artifi.AllUserPhotoIDs(ctx, guestID)
		if err != nil {
			return fmt.Errorf("verify artifi merge: %w", err)
		}
		if len(left) > 0 {
			return fmt.Errorf("guest %s still has %d photos", guestID, len(left))
		}
		return nil
	}
	var had []string
	if err := json.Unmarshal([]byte(before), &had); err != nil {
		return errclass.AsUnconfirmed(fmt.Errorf("merge progress: unreadable %s: %w", fieldGuestPhotos, err))
	}
	if len(had) == 0 {
		return nil
	}
	now, err := m.Artifi.AllUserPhotoIDs(ctx, userID)
	if err != nil {
		return fmt.Errorf("verify artifi merge: %w", err)
	}
	missing := 0
	for _, id := range had {
		if !slices.Contains(now, id) {
			missing++
		}
	}
	if missing > 0 {
		return errclass.AsUnconfirmed(fmt.Errorf("%d of the guest's %d photos are not listed under %s", missing, len(had), userID))
	}
	return nil
}

// moveAssets moves every object under the guest's prefix to the user's,
// resuming after the last checkpointed key.
func (m *Merger) moveAssets(ctx context.Context, guestID, userID string, p *progress, after, movedSoFar string) (int, error) {
	from := skeys.UserPrefix(guestID)
	moved, _ := strconv.Atoi(movedSoFar)
	sinceCheckpoint := 0
	checkpoint := func(last string) error {
		sinceCheckpoint = 0
		return p.set(ctx, fieldStoreAfter, last, fieldStoreMoved, moved)
	}
	last := after
	for obj, err := range m.Store.List(ctx, from, after) {
		if err != nil {
			return moved, err
		}
		to, ok := skeys.ChangeOwner(obj.Key, guestID, userID)
		if !ok { // a store that lists outside the prefix must not scatter objects
			return moved, fmt.Errorf("merge: listing %s returned %q", from, obj.Key)
		}
		if err := m.Store.Move(ctx, obj.Key, to); err != nil {
			return moved, err
		}
		moved++
		last = obj.Key
		if sinceCheckpoint++; sinceCheckpoint >= moveCheckpointEvery {
			if err := checkpoint(last); err != nil {
				return moved, err
			}
		}
	}
	if sinceCheckpoint > 0 {
		return moved, checkpoint(last)
	}
	return moved, nil
}
