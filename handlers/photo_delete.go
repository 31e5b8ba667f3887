package handlers

import (
	"context"
	"fmt"

	"github.com/hibiken/asynq"

	"github.com/lifecycle-worker/lifecycle/internal/errclass"
	"github.com/lifecycle-worker/lifecycle/tasks"
)

// PhotoDeleter deletes one photo in each system (*photo.Deleter).
type PhotoDeleter interface {
	ArtifiV3(ctx context.Context, userID, photoID string) error
	ArtifiV4(ctx context.Context, userID, photoID string) error
	BiginRecordPhoto(ctx context.Context, module, recordID string) error
	BPMAvatar(ctx context.Context, user string) error
	StoredObject(ctx context.Context, key string) error
}

// PhotoDelete handles photo:delete: one photo in one system.
type PhotoDelete struct{ Photos PhotoDeleter }

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
	switch p.System {
	case tasks.SystemArtifiV3:
		return h.Photos.ArtifiV3(ctx, p.UserID, p.PhotoID)
	case tasks.SystemArtifiV4:
		return h.Photos.ArtifiV4(ctx, p.UserID, p.PhotoID)
	case tasks.SystemBigin:
		return h.Photos.BiginRecordPhoto(ctx, p.Module, p.RecordID)
	case tasks.SystemIBMBPM:
		return h.Photos.BPMAvatar(ctx, p.User)
	case tasks.SystemStorage:
		return h.Photos.StoredObject(ctx, p.Key)
	}
	// Validate already refuses unknown systems; this is a worker older than
	// its producer.
	return errclass.AsPermanent(fmt.Errorf("unknown system %q", p.System))
}
