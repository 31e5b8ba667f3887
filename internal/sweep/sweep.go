// Package sweep finds stored assets that no user owns any more and removes
// them in three steps, each safe to interrupt:
//
//  1. Mark: stream every object under users/ in key order and classify its
//     owner (see Reason). Candidates are written to the sweep's manifest,
//     nothing moves yet. Progress is checkpointed in Redis (rkeys.SweepRun):
//     the last key listed, the manifest parts written, the counters.
//  2. Quarantine: unless the candidates exceed MaxShare of the objects
//     scanned (then the sweep stops and alerts: an upstream outage or a bug
//     looks like "everything is orphaned"), every candidate moves to
//     quarantine/{sweep-id}/{original key}, part by part, checkpointed.
//     An erased owner's candidates are deleted instead, and their manifest
//     lines dropped: nothing of an erased person waits for a restore.
//  3. Purge (a separate run): quarantines older than RestoreWindow are
//     deleted. Until then Restore puts them back from the manifest.
//
// # Layout in storage
//
// Every path is named in skeys: what is swept (skeys.Users), Artifi photos
// (skeys.PhotoID), the quarantine (skeys.Quarantined), the report
// (skeys.SweepReport) and the manifest of candidates, one JSON line each
// (skeys.SweepManifestPart).
//
// # Owners
//
// An object's owner is the second segment of its key. Guests are recognised
// by their id's prefix (Params.GuestPrefix, "guest-" by default): the id a
// storefront mints for a visitor before checkout. That needs no record per
// guest, and a guest's activity is visible in storage itself: a guest never
// merged whose newest object is older than GuestRetention has left. A guest
// whose merge is under way (Params.Merges) or waits in the queue
// (Params.Queue) owns everything it has until the merge is recorded. An
// expired guest's quarantine is noted per guest (rkeys.GuestQuarantined),
// so that a merge of a guest who comes back restores it (Reclaim).
//
// # Memory
//
// Constant in the number of objects: the listing streams, one manifest part
// (PartSize entries) is buffered at a time, and only the current owner's
// classification is cached (objects of one owner are contiguous in key
// order), including the Artifi photo ids of that one user.
//
// Only one sweep, purge or restore works at a time (a Redis lease lock). A
// sweep task that finds a crashed sweep's checkpoint finishes that sweep
// first, whatever its own id: every firing moves the work forward, and no
// checkpoint is abandoned.
package sweep

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/lifecycle-worker/lifecycle/internal/identity"
	"github.com/lifecycle-worker/lifecycle/internal/rkeys"
	"github.com/lifecycle-worker/lifecycle/internal/storage"
	"github.com/lifecycle-worker/lifecycle/internal/userlock"
)

// Defaults, applied by New to zero Params fields.
const (
	GuestPrefixDefault    = "guest-"
	GuestRetentionDefault = 30 * 24 * time.Hour
	GraceDefault          = 24 * time.Hour
	RestoreWindowDefault  = 7 * 24 * time.Hour
	MaxShareDefault       = 0.1
	PartSizeDefault       = 1000
	CheckpointDefault     = 10_000
	// CheckpointIntervalDefault bounds the work a crash loses when listing
	// is slow (Artifi answering each user's photos slowly), where
	// CheckpointDefault objects could take minutes.
	CheckpointIntervalDefault = 5 * time.Second
)

// Reason is why an object is an orphan.
type Reason string

const (
	// Erased: the owner was erased (identity tombstone).
	Erased Reason = "erased"
	// Merged: the owner was a guest merged into a registered user; what is
	// left under the guest id is a leftover of the merge.
	Merged Reason = "merged"
	// GuestExpired: a guest never merged whose newest object is older than
	// the guest retention.
	GuestExpired Reason = "guest_expired"
	// UpstreamDeleted: a photo whose id Artifi no longer lists for the user.
	UpstreamDeleted Reason = "upstream_deleted"
)

// Reasons lists every reason, for reports and tests.
var Reasons = []Reason{Erased, Merged, GuestExpired, UpstreamDeleted}

// Identity is what the sweep reads about user ids.
type Identity interface {
	Tombstoned(ctx context.Context, id string) (identity.Tombstone, bool, error)
	MergedInto(ctx context.Context, guestID string) (string, bool, error)
}

var _ Identity = (*identity.Store)(nil)

// Merges says whether a guest's merge is under way (*merge.Merger).
type Merges interface {
	InProgress(ctx context.Context, guestID string) (bool, error)
}

// MergeQueue says whether a merge of a guest waits to run: enqueued,
// scheduled for a retry, running, or dead-lettered awaiting a person
// (internal/merge/mergetasks reads asynq's merge queue).
type MergeQueue interface {
	Queued(ctx context.Context, guestID string) (bool, error)
}

// Photos lists a user's photos upstream (Artifi's GetUserUploadedList). An
// unknown user has none.
type Photos interface {
	AllUserPhotoIDs(ctx context.Context, userID string) ([]string, error)
}

// Params configure a Sweeper. Zero durations and shares take the defaults.
type Params struct {
	Store    storage.Store
	Redis    redis.UniversalClient
	Identity Identity
	Merges   Merges
	// Queue, when set, is asked under a guest's lock, just before its
	// objects would be quarantined as expired, whether a merge of it waits:
	// such a guest is not expired. A merge enqueued after that finds its
	// objects in quarantine and takes them back (Reclaim).
	Queue MergeQueue
	// Photos nil skips the upstream-deleted check (Artifi not configured).
	Photos Photos
	// Locks, when set, are the per-user locks of merges and erasures: a
	// user's objects are quarantined only while the sweep holds that user's
	// lock, so a sweep never moves what a merge is moving.
	Locks *userlock.Locker

	GuestPrefix    string
	GuestRetention time.Duration
	Grace          time.Duration
	RestoreWindow  time.Duration
	MaxShare       float64

	PartSize int // candidates per manifest part
	// A checkpoint is taken after Checkpoint objects or CheckpointInterval,
	// whichever comes first.
	Checkpoint         int
	CheckpointInterval time.Duration
	Lease              time.Duration // sweep lock lease

	Now func() time.Time
	Log zerolog.Logger
}

func (p *Params) validate() error {
	switch {
	case p.Store == nil:
		return errors.New("sweep: Params.Store is required")
	case p.Redis == nil:
		return errors.New("sweep: Params.Redis is required")
	case p.Identity == nil:
		return errors.New("sweep: Params.Identity is required")
	case p.Merges == nil:
		return errors.New("sweep: Params.Merges is required")
	case p.MaxShare < 0 || p.MaxShare > 1:
		return fmt.Errorf("sweep: Params.MaxShare: want 0..1, got %v", p.MaxShare)
	}
	return nil
}

// Sweeper runs sweeps, purges and restores. It is safe for concurrent use;
// the sweep lock serialises the work itself.
type Sweeper struct{ p Params }

// New validates p and applies the defaults.
func New(p Params) (*Sweeper, error) {
	if err := p.validate(); err != nil {
		return nil, err
	}
	if p.GuestPrefix == "" {
		p.GuestPrefix = GuestPrefixDefault
	}
	p.GuestRetention = cmpOr(p.GuestRetention, GuestRetentionDefault)
	p.Grace = cmpOr(p.Grace, GraceDefault)
	p.RestoreWindow = cmpOr(p.RestoreWindow, RestoreWindowDefault)
	p.Lease = cmpOr(p.Lease, LeaseDefault)
	p.CheckpointInterval = cmpOr(p.CheckpointInterval, CheckpointIntervalDefault)
	if p.MaxShare == 0 {
		p.MaxShare = MaxShareDefault
	}
	if p.PartSize <= 0 {
		p.PartSize = PartSizeDefault
	}
	if p.Checkpoint <= 0 {
		p.Checkpoint = CheckpointDefault
	}
	if p.Now == nil {
		p.Now = time.Now
	}
	return &Sweeper{p: p}, nil
}

func cmpOr(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// runState is the checkpoint of the sweep in progress, kept in Redis.
type runState struct {
	SweepID string `json:"sweep_id"`
	DryRun  bool   `json:"dry_run"`
	Phase   string `json:"phase"` // phaseMark or phaseQuarantine
	After   string `json:"after"` // mark: last key listed and accounted for
	Parts   int    `json:"parts"` // manifest parts written
	QParts  int    `json:"q_parts"`
	Report  Report `json:"report"`
}

const (
	phaseMark       = "mark"
	phaseQuarantine = "quarantine"
)

func (s *Sweeper) loadState(ctx context.Context) (*runState, error) {
	b, err := s.p.Redis.Get(ctx, rkeys.SweepRun()).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("sweep: read checkpoint: %w", err)
	}
	var st runState
	if err := jsonUnmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("sweep: read checkpoint: %w", err)
	}
	// A checkpoint written by an older version may lack a map.
	r := &st.Report
	for _, m := range []*map[Reason]int64{&r.Candidates, &r.CandidateBytes} {
		if *m == nil {
			*m = map[Reason]int64{}
		}
	}
	if r.Skipped == nil {
		r.Skipped = map[string]int64{}
	}
	return &st, nil
}

func (s *Sweeper) saveState(ctx context.Context, st *runState) error {
	b, err := jsonMarshal(st)
	if err != nil {
		return err
	}
	if err := s.p.Redis.Set(ctx, rkeys.SweepRun(), b, 0).Err(); err != nil {
		return fmt.Errorf("sweep: checkpoint: %w", err)
	}
	return nil
}

func (s *Sweeper) clearState(ctx context.Context) error {
	if err := s.p.Redis.Del(ctx, rkeys.SweepRun()).Err(); err != nil {
		return fmt.Errorf("sweep: clear checkpoint: %w", err)
	}
	return nil
}
