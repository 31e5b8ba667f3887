// Package merge moves a guest's data to the registered user after checkout:
// the guest's Artifi data (designs, cart, photos) and stored assets, and the
// alias guest → user that makes later work on the user (an erasure above
// all) cover the guest id too.
//
// A merge must be exactly-once in effect, though asynq may run it twice (a
// retry after a lost response, a crash, a duplicate delivery):
//   - Progress is checkpointed in Redis (rkeys.MergeProgress): Artifi done,
//     the last stored key moved. A rerun skips what is done.
//   - Artifi's UpdateUserId is not idempotent: a second call answers 232
//     "Invalid old User Id". That answer is verified (the guest id holds
//     nothing in Artifi any more) and counted as done, not failed.
//   - Moves are idempotent (storage.Store.Move).
//   - The user lock keeps an erasure of either id from running meanwhile;
//     its lease frees it if this worker dies.
package merge

import (
	"context"
	"fmt"
	"iter"
	"strconv"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/lifecycle-worker/lifecycle/internal/errclass"
	"github.com/lifecycle-worker/lifecycle/internal/identity"
	"github.com/lifecycle-worker/lifecycle/internal/lease"
	"github.com/lifecycle-worker/lifecycle/internal/rkeys"
	"github.com/lifecycle-worker/lifecycle/internal/skeys"
	"github.com/lifecycle-worker/lifecycle/internal/storage"
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

// Merger carries out merges.
type Merger struct {
	Artifi   Artifi // nil: Artifi is not configured, and merges fail permanently
	Store    Mover
	Redis    redis.UniversalClient
	Identity *identity.Store
	Locks    *userlock.Locker
	Log      zerolog.Logger
}

// Progress fields of rkeys.MergeProgress.
const (
	fieldArtifi      = "artifi"        // "calling" before the call, "done" after
	fieldStoreAfter  = "storage_after" // last key moved
	fieldStoreMoved  = "storage_moved" // objects moved so far
	fieldArtifiAgain = "artifi_verified_232"
)

// moveCheckpointEvery is how many moves go between checkpoints: a crash
// repeats at most this many (idempotent) moves.
const moveCheckpointEvery = 50

// Merge moves guestID's data to userID on behalf of owner (the task id, which
// holds both users' locks meanwhile). Errors are classified (errclass): a
// merge into an erased id or of a guest merged elsewhere is permanent; a
// merge already recorded is already gone.
func (m *Merger) Merge(ctx context.Context, guestID, userID, owner string) error {
	log := m.Log.With().Str("guest_id", guestID).Str("user_id", userID).Logger()

	for _, id := range []string{guestID, userID} {
		if ts, erased, err := m.Identity.Tombstoned(ctx, id); err != nil {
			return err
		} else if erased {
			return errclass.AsPermanent(fmt.Errorf("merge refused: user id %s was erased by request %s", id, ts.RequestID))
		}
	}
	if into, merged, err := m.Identity.MergedInto(ctx, guestID); err != nil {
		return err
	} else if merged && into == userID {
		return errclass.AsGone(fmt.Errorf("guest %s already merged into %s", guestID, userID))
	} else if merged {
		return errclass.AsPermanent(fmt.Errorf("guest %s was already merged into another user", guestID))
	}

	lock, err := m.Locks.AcquireOrRetry(ctx, owner, guestID, userID)
	if err != nil {
		return err
	}
	defer lock.Release(context.WithoutCancel(ctx))
	// A lost lock stops the merge at its next call (internal/lease's rule);
	// the retry takes the lock again and resumes from the progress record.
	lctx, stop := lock.Context(ctx)
	defer stop()
	return lease.Cause(lctx, m.mergeLocked(lctx, guestID, userID, log))
}

// mergeLocked does the merge under both users' locks.
func (m *Merger) mergeLocked(ctx context.Context, guestID, userID string, log zerolog.Logger) error {
	key := rkeys.MergeProgress(guestID)
	progress, err := m.Redis.HGetAll(ctx, key).Result()
	if err != nil {
		return fmt.Errorf("merge progress: %w", err)
	}
	if progress[fieldArtifi] != "done" {
		if err := m.mergeArtifi(ctx, guestID, userID, key, progress[fieldArtifi] == "calling", log); err != nil {
			return err
		}
	}
	moved, err := m.moveAssets(ctx, guestID, userID, key, progress[fieldStoreAfter], progress[fieldStoreMoved])
	if err != nil {
		return fmt.Errorf("move assets: %w", err)
	}
	if err := m.Identity.RecordMerge(ctx, guestID, userID); err != nil {
		return err
	}
	// MergedInto is now the durable record of completion; the progress hash
	// only served the retries.
	if err := m.Redis.Del(ctx, key).Err(); err != nil {
		log.Warn().Ctx(ctx).Err(err).Msg("merge progress not cleaned up")
	}
	log.Info().Ctx(ctx).Int("objects_moved", moved).Msg("merge complete")
	return nil
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

func (m *Merger) mergeArtifi(ctx context.Context, guestID, userID, key string, calledBefore bool, log zerolog.Logger) error {
	if m.Artifi == nil {
		return errclass.AsPermanent(fmt.Errorf("artifi: %w", errclass.ErrNotConfigured))
	}
	// Recorded before the call: if the response is lost, the next attempt
	// knows that a 232 may be our own earlier call having succeeded.
	if err := m.Redis.HSet(ctx, key, fieldArtifi, "calling").Err(); err != nil {
		return fmt.Errorf("merge progress: %w", err)
	}
	err := m.Artifi.UpdateUserID(ctx, userID, guestID, true)
	if errclass.Of(err) == errclass.AlreadyGone {
		// 232: Artifi no longer knows the guest id. Either our earlier call
		// went through, or the guest never had anything in Artifi. Verify
		// that nothing remains under the guest id before calling it done.
		left, verr := m.Artifi.AllUserPhotoIDs(ctx, guestID)
		if verr != nil {
			return fmt.Errorf("verify artifi merge: %w", verr)
		}
		if len(left) > 0 {
			return fmt.Errorf("artifi answered %v but guest %s still has %d photos", err, guestID, len(left))
		}
		log.Info().Ctx(ctx).Bool("called_before", calledBefore).Msg("artifi already merged (232 verified: guest id holds nothing)")
		m.Redis.HSet(ctx, key, fieldArtifiAgain, strconv.FormatBool(calledBefore))
		err = nil
	}
	if err != nil {
		return err
	}
	if err := m.Redis.HSet(ctx, key, fieldArtifi, "done").Err(); err != nil {
		return fmt.Errorf("merge progress: %w", err)
	}
	return nil
}

// moveAssets moves every object under the guest's prefix to the user's,
// resuming after the last checkpointed key.
func (m *Merger) moveAssets(ctx context.Context, guestID, userID, key, after, movedSoFar string) (int, error) {
	from := skeys.UserPrefix(guestID)
	moved, _ := strconv.Atoi(movedSoFar)
	sinceCheckpoint := 0
	checkpoint := func(last string) error {
		sinceCheckpoint = 0
		return m.Redis.HSet(ctx, key, fieldStoreAfter, last, fieldStoreMoved, moved).Err()
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
