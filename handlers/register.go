// Package handlers executes lifecycle's tasks: one small handler struct per
// task type, built from interfaces (clients, storage, clock), and the
// middleware that turns their classified errors into asynq outcomes.
package handlers

import (
	"context"
	"errors"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/lifecycle-worker/lifecycle/internal/deadletter"
	"github.com/lifecycle-worker/lifecycle/internal/errclass"
	"github.com/lifecycle-worker/lifecycle/internal/identity"
	"github.com/lifecycle-worker/lifecycle/internal/storage"
	"github.com/lifecycle-worker/lifecycle/internal/userlock"
	"github.com/lifecycle-worker/lifecycle/tasks"
)

// Artifi is every Artifi call the handlers make.
type Artifi interface {
	ArtifiPhotos
	AllUserPhotoIDs(ctx context.Context, userID string) ([]string, error)
	DeleteDesignsByUserID(ctx context.Context, userID string) error
	UpdateUserID(ctx context.Context, newUserID, oldUserID string, isGuest bool) error
}

// Bigin is every Zoho Bigin call the handlers make.
type Bigin interface {
	BiginPhotos
	HasRecordPhoto(ctx context.Context, module, recordID string) (bool, error)
}

// BPM is every IBM BPM call the handlers make.
type BPM interface {
	BPMAvatars
	AvatarIsDefault(ctx context.Context, userNameOrID string) (bool, error)
}

// Deps are what the handlers need. Upstream clients may be nil: that system
// is not configured on this worker, and its work is dead-lettered with that
// reason. Each handler takes the narrowest interface it can.
type Deps struct {
	Artifi Artifi
	Bigin  Bigin
	BPM    BPM
	Store  storage.Store

	Redis    redis.UniversalClient
	Identity *identity.Store
	Locks    *userlock.Locker
	Now      func() time.Time
	Log      zerolog.Logger

	// Archiver copies dead letters to storage; nil leaves
	// deadletters:archive unhandled.
	Archiver *deadletter.Archiver

	// ReceiptKey signs erasure receipts; without it erasures are
	// dead-lettered before they start, since they could leave no proof.
	ReceiptKey []byte

	// Sweep configures assets:sweep (orphaned-asset sweeps and purges).
	Sweep SweepSettings
}

// Register wires every handler into mux. asynq's ServeMux panics on a
// duplicate pattern, so a type registered twice fails at start.
func Register(mux *asynq.ServeMux, d Deps) {
	if d.Now == nil {
		d.Now = time.Now
	}
	photos := &PhotoDelete{Store: d.Store}
	// Assigned one by one: an interface holding a nil client is not nil.
	if d.Artifi != nil {
		photos.Artifi = d.Artifi
	}
	if d.Bigin != nil {
		photos.Bigin = d.Bigin
	}
	if d.BPM != nil {
		photos.BPM = d.BPM
	}
	mux.Handle(tasks.TypePhotoDelete, photos)

	merge := &UserMerge{Store: d.Store, Redis: d.Redis, Identity: d.Identity, Locks: d.Locks, Log: d.Log}
	if d.Artifi != nil {
		merge.Artifi = d.Artifi
	}
	mux.Handle(tasks.TypeUserMerge, merge)

	mux.Handle(tasks.TypeUserErase, NewUserErase(d))
	mux.Handle(tasks.TypeAssetsSweep, newAssetsSweep(d))

	if d.Archiver != nil {
		mux.Handle(tasks.TypeDeadLetterArchive, &DeadLetterArchive{Archiver: d.Archiver})
	}
}

// lockUsers takes the user locks of ids for owner. A lock held by another
// task is a retry once its lease could have ended, not a failure.
func lockUsers(ctx context.Context, locks *userlock.Locker, owner string, ids ...string) (*userlock.Lock, error) {
	lock, err := locks.Acquire(ctx, owner, ids...)
	var held *userlock.HeldError
	if errors.As(err, &held) {
		return nil, errclass.RetryAfter(err, held.Wait)
	}
	return lock, err
}
