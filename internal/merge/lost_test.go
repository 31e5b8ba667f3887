package merge_test

import (
	"context"
	"errors"
	"iter"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/lifecycle-worker/lifecycle/internal/errclass"
	"github.com/lifecycle-worker/lifecycle/internal/identity"
	"github.com/lifecycle-worker/lifecycle/internal/lease"
	"github.com/lifecycle-worker/lifecycle/internal/merge"
	"github.com/lifecycle-worker/lifecycle/internal/rkeys"
	"github.com/lifecycle-worker/lifecycle/internal/storage"
	"github.com/lifecycle-worker/lifecycle/internal/userlock"
)

type okArtifi struct{}

func (okArtifi) UpdateUserID(context.Context, string, string, bool) error  { return nil }
func (okArtifi) AllUserPhotoIDs(context.Context, string) ([]string, error) { return nil, nil }

// stealingMover lists two objects; moving the first, it sees the user's lock
// taken by another task (its lease ran out while Redis was unreachable) and
// works on until its context ends.
type stealingMover struct {
	rdb   redis.UniversalClient
	moved []string
}

func (m *stealingMover) List(context.Context, string, string) iter.Seq2[storage.Object, error] {
	return func(yield func(storage.Object, error) bool) {
		for _, k := range []string{"users/g-1/a.jpg", "users/g-1/b.jpg"} {
			if !yield(storage.Object{Key: k}, nil) {
				return
			}
		}
	}
}

func (m *stealingMover) Move(ctx context.Context, src, _ string) error {
	if err := m.rdb.Set(ctx, rkeys.UserLock("u-1"), "another-task", time.Minute).Err(); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(5 * time.Second):
		m.moved = append(m.moved, src)
		return nil
	}
}

// TestMergeStopsWhenItsLockIsLost: a merge whose user lock is taken over
// stops at its next call with a retryable error that says so, instead of
// moving on beside the new holder.
func TestMergeStopsWhenItsLockIsLost(t *testing.T) {
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer rdb.Close()
	mover := &stealingMover{rdb: rdb}
	m := &merge.Merger{Artifi: okArtifi{}, Store: mover, Redis: rdb, Identity: identity.New(rdb),
		Locks: userlock.New(rdb, 300*time.Millisecond), Log: zerolog.Nop()}

	_, err := m.Merge(context.Background(), "g-1", "u-1", "task-1")
	if !errors.Is(err, lease.ErrLost) || errclass.Of(err) != errclass.Retry {
		t.Fatalf("Merge = %v (class %q), want a retry naming the lost lock", err, errclass.Of(err))
	}
	if len(mover.moved) != 0 {
		t.Errorf("moved %v after the lock was lost", mover.moved)
	}
	if _, merged, _ := m.Identity.MergedInto(context.Background(), "g-1"); merged {
		t.Error("the merge was recorded although it stopped")
	}
}
