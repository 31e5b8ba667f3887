// Package photo deletes one user photo in one system: Artifi (v3 or v4), a
// Zoho Bigin record's photo, an IBM BPM avatar, or an object in our storage.
//
// Deleting is idempotent everywhere (a second delete meets "already gone",
// classified so by each client), so a retry or a run after a crash needs no
// bookkeeping of its own.
package photo

import (
	"context"
	"fmt"

	"github.com/lifecycle-worker/lifecycle/internal/errclass"
	"github.com/lifecycle-worker/lifecycle/internal/storage"
)

// Artifi deletes single Artifi photos.
type Artifi interface {
	DeleteUserPhotoV3(ctx context.Context, userID, photoID string) error
	DeleteUserPhotoV4(ctx context.Context, userID, photoID string) error
}

// Bigin deletes a Bigin record's photo.
type Bigin interface {
	DeleteRecordPhoto(ctx context.Context, module, recordID string) error
}

// BPM resets an IBM BPM user's avatar.
type BPM interface {
	DeleteAvatar(ctx context.Context, userNameOrID string) error
}

// Objects deletes one stored object.
type Objects interface {
	Stat(ctx context.Context, key string) (storage.Object, error)
	Delete(ctx context.Context, key string) error
}

// Deleter deletes photos. A nil client means that system is not configured on
// this worker: its deletions fail permanently with errclass.ErrNotConfigured,
// to be retried from the dead-letter queue once it is.
type Deleter struct {
	Artifi  Artifi
	Bigin   Bigin
	BPM     BPM
	Objects Objects
}

var notConfigured = errclass.AsPermanent(errclass.ErrNotConfigured)

// ArtifiV3 deletes a photo through Artifi's v3 API.
func (d *Deleter) ArtifiV3(ctx context.Context, userID, photoID string) error {
	if d.Artifi == nil {
		return notConfigured
	}
	return d.Artifi.DeleteUserPhotoV3(ctx, userID, photoID)
}

// ArtifiV4 deletes a photo through Artifi's v4 API.
func (d *Deleter) ArtifiV4(ctx context.Context, userID, photoID string) error {
	if d.Artifi == nil {
		return notConfigured
	}
	return d.Artifi.DeleteUserPhotoV4(ctx, userID, photoID)
}

// BiginRecordPhoto deletes the photo of one Bigin record.
func (d *Deleter) BiginRecordPhoto(ctx context.Context, module, recordID string) error {
	if d.Bigin == nil {
		return notConfigured
	}
	return d.Bigin.DeleteRecordPhoto(ctx, module, recordID)
}

// BPMAvatar resets a BPM user's avatar to the default.
func (d *Deleter) BPMAvatar(ctx context.Context, user string) error {
	if d.BPM == nil {
		return notConfigured
	}
	return d.BPM.DeleteAvatar(ctx, user)
}

// StoredObject deletes one object of ours, and on a versioned bucket every
// version and delete marker of it. Deleting a missing key succeeds
// silently, so it is looked up first: the outcome then says whether we
// deleted something or it was already gone. A version that the bucket's
// object lock keeps fails the task permanently (storage.ErrRetained, naming
// the lock): retrying cannot lift it, and only a person can say whether
// the obligation behind it stands (GDPR Art. 17(3)).
func (d *Deleter) StoredObject(ctx context.Context, key string) error {
	held, err := storage.Held(ctx, d.Objects, key)
	if err != nil {
		return err
	}
	if !held {
		return errclass.AsGone(fmt.Errorf("storage: %q: %w", key, storage.ErrNotFound))
	}
	return d.Objects.Delete(ctx, key)
}
