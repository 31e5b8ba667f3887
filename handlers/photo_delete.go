package handlers

import (
	"context"
	"errors"
	"fmt"

	"github.com/hibiken/asynq"

	"github.com/lifecycle-worker/lifecycle/internal/errclass"
	"github.com/lifecycle-worker/lifecycle/internal/storage"
	"github.com/lifecycle-worker/lifecycle/tasks"
)

// ArtifiPhotos deletes single Artifi photos.
type ArtifiPhotos interface {
	DeleteUserPhotoV3(ctx context.Context, userID, photoID string) error
	DeleteUserPhotoV4(ctx context.Context, userID, photoID string) error
}

// BiginPhotos deletes a Bigin record's photo.
type BiginPhotos interface {
	DeleteRecordPhoto(ctx context.Context, module, recordID string) error
}

// BPMAvatars resets an IBM BPM user's avatar.
type BPMAvatars interface {
	DeleteAvatar(ctx context.Context, userNameOrID string) error
}

// ObjectDeleter deletes one stored object.
type ObjectDeleter interface {
	Stat(ctx context.Context, key string) (storage.Object, error)
	Delete(ctx context.Context, key string) error
}

// PhotoDelete handles photo:delete: one photo in one system. Deleting is
// idempotent everywhere (a second delete meets "already gone"), so a retry or
// a run after a crash needs no bookkeeping of its own.
type PhotoDelete struct {
	// A nil client means the system is not configured on this worker: its
	// tasks are dead-lettered with that reason, to be retried once it is.
	Artifi ArtifiPhotos
	Bigin  BiginPhotos
	BPM    BPMAvatars
	Store  ObjectDeleter
}

// ErrNotConfigured is the reason a task for an unconfigured system fails.
var ErrNotConfigured = errors.New("system not configured on this worker")

func (h *PhotoDelete) ProcessTask(ctx context.Context, t *asynq.Task) error {
	p, err := tasks.Decode[tasks.PhotoDeletePayload](t)
	if err != nil {
		return err
	}
	SetSystem(ctx, p.System)
	if err := h.delete(ctx, p); err != nil {
		return fmt.Errorf("%s delete for user %s: %w", p.System, p.UserID, err)
	}
	return nil
}

func (h *PhotoDelete) delete(ctx context.Context, p tasks.PhotoDeletePayload) error {
	notConfigured := errclass.AsPermanent(ErrNotConfigured)
	switch p.System {
	case tasks.SystemArtifiV3, tasks.SystemArtifiV4:
		if h.Artifi == nil {
			return notConfigured
		}
		if p.System == tasks.SystemArtifiV3 {
			return h.Artifi.DeleteUserPhotoV3(ctx, p.UserID, p.PhotoID)
		}
		return h.Artifi.DeleteUserPhotoV4(ctx, p.UserID, p.PhotoID)
	case tasks.SystemBigin:
		if h.Bigin == nil {
			return notConfigured
		}
		return h.Bigin.DeleteRecordPhoto(ctx, p.Module, p.RecordID)
	case tasks.SystemIBMBPM:
		if h.BPM == nil {
			return notConfigured
		}
		return h.BPM.DeleteAvatar(ctx, p.User)
	case tasks.SystemStorage:
		// Delete of a missing key succeeds silently; Stat first so that the
		// outcome says whether we deleted it or it was already gone.
		if _, err := h.Store.Stat(ctx, p.Key); errors.Is(err, storage.ErrNotFound) {
			return errclass.AsGone(err)
		} else if err != nil {
			return err
		}
		return h.Store.Delete(ctx, p.Key)
	}
	// Validate already refuses unknown systems; this is a worker older than
	// its producer.
	return errclass.AsPermanent(fmt.Errorf("unknown system %q", p.System))
}
