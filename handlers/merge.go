package handlers

import (
	"context"
	"fmt"
	"iter"
	"strconv"
	"strings"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/lifecycle-worker/lifecycle/internal/errclass"
	"github.com/lifecycle-worker/lifecycle/internal/identity"
	"github.com/lifecycle-worker/lifecycle/internal/rkeys"
	"github.com/lifecycle-worker/lifecycle/internal/storage"
	"github.com/lifecycle-worker/lifecycle/internal/userlock"
	"github.com/lifecycle-worker/lifecycle/tasks"
)

// ArtifiMerger is what a merge needs from Artifi.
type ArtifiMerger interface {
	UpdateUserID(ctx context.Context, newUserID, oldUserID string, isGuest bool) error
	AllUserPhotoIDs(ctx context.Context, userID string) ([]string, error)
}

// Mover moves stored objects.
type Mover interface {
	List(ctx context.Context, prefix, startAfter string) iter.Seq2[storage.Object, error]
	Move(ctx context.Context, src, dst string) error
}

// UserMerge handles user:merge: after checkout, a guest's Artifi data
// (designs, cart, photos) and stored assets move to the registered user,
// and the alias guest → user is recorded so that later work on the user (an
// erasure above all) also covers the guest id.
//
// It must be exactly-once in effect, though asynq may run it twice (a retry
// after a lost response, a crash, a duplicate delivery):
//   - Progress is checkpointed in Redis (rkeys.MergeProgress): Artifi done,
//     the last stored key moved. A rerun skips what is done.
//   - Artifi's UpdateUserId is not idempotent: a second call answers 232
//     "Invalid old User Id". That answer is verified (the guest id holds
//     nothing in Artifi any more) and counted as done, not failed.
//   - Moves are idempotent (storage.Store.Move).
//   - The user lock keeps an erasure of either id from running meanwhile;
//     its lease frees it if this worker dies.
type UserMerge struct {
	Artifi   ArtifiMerger
	Store    Mover
	Redis    redis.UniversalClient
	Identity *identity.Store
	Locks    *userlock.Locker
	Log      zerolog.Logger
}

// Progress fields of rkeys.MergeProgress.
const (
	mergeArtifi      = "artifi"        // "calling" before the call, "done" after
	mergeStoreAfter  = "storage_after" // last key moved
	mergeStoreMoved  = "storage_moved" // objects moved so far
	mergeArtifiAgain = "artifi_verified_232"
)

// moveCheckpointEvery is how many moves go between checkpoints: a crash
// repeats at most this many (idempotent) moves.
const moveCheckpointEvery = 50

func (h *UserMerge) ProcessTask(ctx context.Context, t *asynq.Task) error {
	p, err := tasks.Decode[tasks.UserMergePayload](t)
	if err != nil {
		return err
	}
	SetSystem(ctx, "artifi+storage")
	log := h.Log.With().Str("guest_id", p.GuestID).Str("user_id", p.UserID).Logger()

	for _, id := range []string{p.GuestID, p.UserID} {
		if ts, erased, err := h.Identity.Tombstoned(ctx, id); err != nil {
			return err
		} else if erased {
			return errclass.AsPermanent(fmt.Errorf("merge refused: user id %s was erased by request %s", id, ts.RequestID))
		}
	}
	if into, merged, err := h.Identity.MergedInto(ctx, p.GuestID); err != nil {
		return err
	} else if merged && into == p.UserID {
		return errclass.AsGone(fmt.Errorf("guest %s already merged into %s", p.GuestID, p.UserID))
	} else if merged {
		return errclass.AsPermanent(fmt.Errorf("guest %s was already merged into another user", p.GuestID))
	}

	owner, _ := asynq.GetTaskID(ctx)
	lock, err := lockUsers(ctx, h.Locks, owner, p.GuestID, p.UserID)
	if err != nil {
		return err
	}
	defer lock.Release(context.WithoutCancel(ctx))

	key := rkeys.MergeProgress(p.GuestID)
	progress, err := h.Redis.HGetAll(ctx, key).Result()
	if err != nil {
		return fmt.Errorf("merge progress: %w", err)
	}
	if progress[mergeArtifi] != "done" {
		if err := h.mergeArtifi(ctx, p, key, progress[mergeArtifi] == "calling", log); err != nil {
			return err
		}
	}
	moved, err := h.moveAssets(ctx, p, key, progress[mergeStoreAfter], progress[mergeStoreMoved])
	if err != nil {
		return fmt.Errorf("move assets: %w", err)
	}
	if err := h.Identity.RecordMerge(ctx, p.GuestID, p.UserID); err != nil {
		return err
	}
	// MergedInto is now the durable record of completion; the progress hash
	// only served the retries.
	if err := h.Redis.Del(ctx, key).Err(); err != nil {
		log.Warn().Err(err).Msg("merge progress not cleaned up")
	}
	log.Info().Int("objects_moved", moved).Msg("merge complete")
	return nil
}

func (h *UserMerge) mergeArtifi(ctx context.Context, p tasks.UserMergePayload, key string, calledBefore bool, log zerolog.Logger) error {
	if h.Artifi == nil {
		return errclass.AsPermanent(fmt.Errorf("artifi: %w", ErrNotConfigured))
	}
	// Recorded before the call: if the response is lost, the next attempt
	// knows that a 232 may be our own earlier call having succeeded.
	if err := h.Redis.HSet(ctx, key, mergeArtifi, "calling").Err(); err != nil {
		return fmt.Errorf("merge progress: %w", err)
	}
	err := h.Artifi.UpdateUserID(ctx, p.UserID, p.GuestID, true)
	if errclass.Of(err) == errclass.AlreadyGone {
		// 232: Artifi no longer knows the guest id. Either our earlier call
		// went through, or the guest never had anything in Artifi. Verify
		// that nothing remains under the guest id before calling it done.
		left, verr := h.Artifi.AllUserPhotoIDs(ctx, p.GuestID)
		if verr != nil {
			return fmt.Errorf("verify artifi merge: %w", verr)
		}
		if len(left) > 0 {
			return fmt.Errorf("artifi answered %v but guest %s still has %d photos", err, p.GuestID, len(left))
		}
		log.Info().Bool("called_before", calledBefore).Msg("artifi already merged (232 verified: guest id holds nothing)")
		h.Redis.HSet(ctx, key, mergeArtifiAgain, strconv.FormatBool(calledBefore))
		err = nil
	}
	if err != nil {
		return err
	}
	if err := h.Redis.HSet(ctx, key, mergeArtifi, "done").Err(); err != nil {
		return fmt.Errorf("merge progress: %w", err)
	}
	return nil
}

// moveAssets moves every object under users/{guest}/ to users/{user}/,
// resuming after the last checkpointed key.
func (h *UserMerge) moveAssets(ctx context.Context, p tasks.UserMergePayload, key, after, movedSoFar string) (int, error) {
	from, to := "users/"+p.GuestID+"/", "users/"+p.UserID+"/"
	moved, _ := strconv.Atoi(movedSoFar)
	sinceCheckpoint := 0
	checkpoint := func(last string) error {
		sinceCheckpoint = 0
		return h.Redis.HSet(ctx, key, mergeStoreAfter, last, mergeStoreMoved, moved).Err()
	}
	last := after
	for obj, err := range h.Store.List(ctx, from, after) {
		if err != nil {
			return moved, err
		}
		if err := h.Store.Move(ctx, obj.Key, to+strings.TrimPrefix(obj.Key, from)); err != nil {
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
