package merge_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"github.com/lifecycle-worker/lifecycle/internal/errclass"
	"github.com/lifecycle-worker/lifecycle/internal/identity"
	"github.com/lifecycle-worker/lifecycle/internal/merge"
	"github.com/lifecycle-worker/lifecycle/internal/rkeys"
	"github.com/lifecycle-worker/lifecycle/internal/testutil"
)

// failingMover moves the first failAfter objects and then fails every move,
// like a worker whose store went away (or that was killed) mid-merge.
type failingMover struct {
	merge.Mover
	failAfter, moved int
}

func (m *failingMover) Move(ctx context.Context, src, dst string) error {
	if m.moved >= m.failAfter {
		return errors.New("store unreachable")
	}
	m.moved++
	return m.Mover.Move(ctx, src, dst)
}

// TestMergeIntoAnotherUserIsRefused: a merge G→U1 cut short after Artifi
// moved the guest's data leaves G to U1. A merge G→U2 is refused and moves
// nothing; the retry of G→U1 completes it.
func TestMergeIntoAnotherUserIsRefused(t *testing.T) {
	tests := []struct {
		name      string
		failAfter int // objects moved before the first merge stops
	}{
		{"stopped before any object moved", 0},
		{"stopped after a checkpoint of moved objects", 55},
	}
	testutil.OnEachRedis(t, func(t *testing.T, be testutil.Backend) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				ctx := context.Background()
				if err := be.Client.FlushAll(ctx).Err(); err != nil {
					t.Fatal(err)
				}
				b := setupOn(t, be.Client)
				rel := b.seedGuest(t, "g-1", 60)
				b.sim.AddUser("u-1")
				b.sim.AddUser("u-2")

				b.m.Store = &failingMover{Mover: b.store, failAfter: tt.failAfter}
				if _, err := b.m.Merge(ctx, "g-1", "u-1", "task-1"); errclass.Of(err) != errclass.Retry {
					t.Fatalf("first merge = %v (class %q), want a retry", err, errclass.Of(err))
				}
				b.m.Store = b.store

				_, err := b.m.Merge(ctx, "g-1", "u-2", "task-2")
				want := "guest g-1 is being merged into u-1; refusing u-2"
				if errclass.Of(err) != errclass.Permanent || err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("merge into another user = %v (class %q); want permanent, %q", err, errclass.Of(err), want)
				}
				if got := b.keys(t, "users/u-2/"); len(got) != 0 {
					t.Errorf("moved to u-2: %v", got)
				}
				if n := len(b.sim.Photos("u-2")); n != 0 || b.sim.Merges() != 1 {
					t.Errorf("artifi: u-2 has %d photos, %d merges; want 0, 1", n, b.sim.Merges())
				}

				if _, err := b.m.Merge(ctx, "g-1", "u-1", "task-1"); err != nil {
					t.Fatalf("retry of the first merge = %v, want success", err)
				}
				if diff := cmp.Diff(rel, b.keys(t, "users/u-1/")); diff != "" {
					t.Errorf("objects under u-1 (-want +got):\n%s", diff)
				}
				if left := b.keys(t, "users/g-1/"); len(left) != 0 {
					t.Errorf("left under the guest: %v", left)
				}
				if n := len(b.sim.Photos("u-1")); n != 3 || b.sim.Merges() != 1 {
					t.Errorf("artifi: u-1 has %d photos, %d merges; want 3, 1", n, b.sim.Merges())
				}
				_, err = b.m.Merge(ctx, "g-1", "u-2", "task-2")
				if errclass.Of(err) != errclass.Permanent || !strings.Contains(err.Error(), "already merged into another user (u-1)") {
					t.Errorf("merge into another user after completion = %v (class %q); want permanent, naming u-1", err, errclass.Of(err))
				}
			})
		}
	})
}

// TestMergeRefusedBeforeTouchingAnythingLeavesGuestFree: a merge that stops
// before recording anything does not claim the guest.
func TestMergeRefusedBeforeTouchingAnythingLeavesGuestFree(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	rel := b.seedGuest(t, "g-1", 3)
	ac := b.m.Artifi
	b.m.Artifi = nil
	if _, err := b.m.Merge(ctx, "g-1", "u-1", "task-1"); errclass.Of(err) != errclass.Permanent {
		t.Fatalf("merge without Artifi = %v (class %q), want permanent", err, errclass.Of(err))
	}
	if busy, err := b.m.InProgress(ctx, "g-1"); busy || err != nil {
		t.Errorf("InProgress after a merge that touched nothing = %v, %v; want false", busy, err)
	}
	b.m.Artifi = ac
	if _, err := b.m.Merge(ctx, "g-1", "u-2", "task-2"); err != nil {
		t.Fatalf("merge into u-2 = %v, want success", err)
	}
	if diff := cmp.Diff(rel, b.keys(t, "users/u-2/")); diff != "" {
		t.Errorf("objects under u-2 (-want +got):\n%s", diff)
	}
}

// TestMergeRefusesRecordWithoutTarget: a progress record written before
// records named their target is refused, whoever asks, and nothing moves.
func TestMergeRefusesRecordWithoutTarget(t *testing.T) {
	testutil.OnEachRedis(t, func(t *testing.T, be testutil.Backend) {
		b := setupOn(t, be.Client)
		ctx := context.Background()
		rel := b.seedGuest(t, "g-1", 3)
		if err := be.Client.HSet(ctx, rkeys.MergeProgress("g-1"), "artifi", "done").Err(); err != nil {
			t.Fatal(err)
		}
		_, err := b.m.Merge(ctx, "g-1", "u-1", "task-1")
		if errclass.Of(err) != errclass.Permanent || !strings.Contains(err.Error(), "recorded without its target") {
			t.Errorf("Merge = %v (class %q); want permanent, naming the record without target", err, errclass.Of(err))
		}
		if diff := cmp.Diff(rel, b.keys(t, "users/g-1/")); diff != "" {
			t.Errorf("objects under the guest (-want +got):\n%s", diff)
		}
		if b.sim.Merges() != 0 {
			t.Error("artifi was called")
		}
		if busy, err := b.m.InProgress(ctx, "g-1"); !busy || err != nil {
			t.Errorf("InProgress = %v, %v; want true (the guest still owns its objects)", busy, err)
		}
	})
}

// beforeLock runs do once, just before the first command that names one of
// keys: the moment between a merge's checks and its lock.
type beforeLock struct {
	keys map[string]bool
	once sync.Once
	do   func()
	ran  bool
}

func (h *beforeLock) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *beforeLock) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}
func (h *beforeLock) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		for _, a := range cmd.Args() {
			if s, ok := a.(string); ok && h.keys[s] {
				h.once.Do(func() { h.do(); h.ran = true })
			}
		}
		return next(ctx, cmd)
	}
}

// TestMergeRechecksUnderTheLock: what an erasure or another merge records
// between the merge's checks and its lock refuses the merge.
func TestMergeRechecksUnderTheLock(t *testing.T) {
	tests := []struct {
		name   string
		record func(ctx context.Context, ids *identity.Store) error
		class  errclass.Class
		reason string
	}{
		{"guest erased", func(ctx context.Context, ids *identity.Store) error {
			return ids.SetTombstone(ctx, "req-1", time.Now(), "g-1")
		}, errclass.Permanent, "user id g-1 was erased by request req-1"},
		{"user erased", func(ctx context.Context, ids *identity.Store) error {
			return ids.SetTombstone(ctx, "req-2", time.Now(), "u-1")
		}, errclass.Permanent, "user id u-1 was erased by request req-2"},
		{"guest merged into another user", func(ctx context.Context, ids *identity.Store) error {
			return ids.RecordMerge(ctx, "g-1", "u-other")
		}, errclass.Permanent, "already merged into another user (u-other)"},
		{"guest merged into the same user", func(ctx context.Context, ids *identity.Store) error {
			return ids.RecordMerge(ctx, "g-1", "u-1")
		}, errclass.AlreadyGone, "already merged into u-1"},
	}
	testutil.OnEachRedis(t, func(t *testing.T, be testutil.Backend) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				ctx := context.Background()
				if err := be.Client.FlushAll(ctx).Err(); err != nil {
					t.Fatal(err)
				}
				rdb := testutil.Client(t, be.Addr)
				hook := &beforeLock{
					keys: map[string]bool{rkeys.UserLock("g-1"): true, rkeys.UserLock("u-1"): true},
					do: func() {
						if err := tt.record(ctx, identity.New(be.Client)); err != nil {
							t.Error(err)
						}
					},
				}
				rdb.AddHook(hook)
				b := setupOn(t, rdb)
				rel := b.seedGuest(t, "g-1", 3)

				_, err := b.m.Merge(ctx, "g-1", "u-1", "task-1")
				if !hook.ran {
					t.Fatal("the merge never took its lock")
				}
				if errclass.Of(err) != tt.class || err == nil || !strings.Contains(err.Error(), tt.reason) {
					t.Errorf("Merge = %v (class %q); want %q, %q", err, errclass.Of(err), tt.class, tt.reason)
				}
				if b.sim.Merges() != 0 {
					t.Error("artifi was called")
				}
				if diff := cmp.Diff(rel, b.keys(t, "users/g-1/")); diff != "" {
					t.Errorf("objects under the guest (-want +got):\n%s", diff)
				}
				if got := b.keys(t, "users/u-1/"); len(got) != 0 {
					t.Errorf("moved to the user: %v", got)
				}
			})
		}
	})
}
