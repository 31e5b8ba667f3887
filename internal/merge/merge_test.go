package merge_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/lifecycle-worker/lifecycle/internal/errclass"
	"github.com/lifecycle-worker/lifecycle/internal/identity"
	"github.com/lifecycle-worker/lifecycle/internal/merge"
	"github.com/lifecycle-worker/lifecycle/internal/sim/artifisim"
	"github.com/lifecycle-worker/lifecycle/internal/sim/faults"
	"github.com/lifecycle-worker/lifecycle/internal/storage"
	"github.com/lifecycle-worker/lifecycle/internal/testutil"
	"github.com/lifecycle-worker/lifecycle/internal/upstream/artifi"
	"github.com/lifecycle-worker/lifecycle/internal/userlock"
)

// bundle is a merger with real parts: miniredis, the Artifi simulator, a
// file store.
type bundle struct {
	m     *merge.Merger
	sim   *artifisim.Server
	store storage.Store
	ids   *identity.Store
	locks *userlock.Locker
	logs  *testutil.Buffer
}

func setup(t *testing.T) *bundle {
	t.Helper()
	_, rdb := testutil.Redis(t)
	return setupOn(t, rdb)
}

// setupOn is setup on a Redis of the caller's.
func setupOn(t *testing.T, rdb redis.UniversalClient) *bundle {
	t.Helper()
	sim := artifisim.New(artifisim.Options{WebsiteID: 422, ClientKey: "k"})
	url, err := sim.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	ac, err := artifi.New(artifi.Config{BaseURL: url, WebsiteID: 422, ClientKey: "k"})
	if err != nil {
		t.Fatal(err)
	}
	store, _ := testutil.FileStore(t)
	b := &bundle{sim: sim, store: store, ids: identity.New(rdb), locks: userlock.New(rdb, time.Minute), logs: &testutil.Buffer{}}
	b.m = &merge.Merger{Artifi: ac, Store: store, Redis: rdb, Identity: b.ids, Locks: b.locks, Log: zerolog.New(b.logs)}
	return b
}

// seedGuest gives a guest photos and designs in Artifi and n stored objects.
func (b *bundle) seedGuest(t *testing.T, guest string, n int) []string {
	t.Helper()
	b.sim.AddUser(guest)
	b.sim.AddPhotos(guest, 3)
	b.sim.AddDesigns(guest, 2)
	var rel []string
	for i := range n {
		r := fmt.Sprintf("photos/%04d.jpg", i)
		testutil.PutObjects(t, b.store, "users/"+guest+"/"+r)
		rel = append(rel, r)
	}
	return rel
}

// keys lists the keys under prefix, relative to it.
func (b *bundle) keys(t *testing.T, prefix string) []string {
	t.Helper()
	var out []string
	for _, k := range testutil.Keys(t, b.store, prefix) {
		out = append(out, strings.TrimPrefix(k, prefix))
	}
	return out
}

func TestMergeMovesEverythingOnce(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	rel := b.seedGuest(t, "g-1", 120) // crosses several progress checkpoints
	b.sim.AddUser("u-1")
	if _, err := b.m.Merge(ctx, "g-1", "u-1", "task-1"); err != nil {
		t.Fatal(err)
	}

	if diff := cmp.Diff(rel, b.keys(t, "users/u-1/")); diff != "" {
		t.Errorf("objects under the user (-want +got):\n%s", diff)
	}
	if left := b.keys(t, "users/g-1/"); len(left) != 0 {
		t.Errorf("left under the guest: %v", left)
	}
	if b.sim.UserExists("g-1") || len(b.sim.Photos("u-1")) != 3 || b.sim.Designs("u-1") != 2 {
		t.Errorf("artifi: guest exists %v, user photos %d designs %d; want false, 3, 2",
			b.sim.UserExists("g-1"), len(b.sim.Photos("u-1")), b.sim.Designs("u-1"))
	}
	if into, ok, _ := b.ids.MergedInto(ctx, "g-1"); !ok || into != "u-1" {
		t.Errorf("alias not recorded: %q %v", into, ok)
	}
	if busy, err := b.m.InProgress(ctx, "g-1"); busy || err != nil {
		t.Errorf("InProgress after the merge = %v, %v; want false", busy, err)
	}

	// The same merge run again (another producer, after retention): already
	// gone, Artifi not called again.
	if _, err := b.m.Merge(ctx, "g-1", "u-1", "task-2"); errclass.Of(err) != errclass.AlreadyGone {
		t.Errorf("second merge = %v (class %q), want already gone", err, errclass.Of(err))
	}
	if n := b.sim.Merges(); n != 1 {
		t.Errorf("artifi merges = %d, want 1", n)
	}
}

// TestMergeLostResponse: Artifi applies the merge but the reply is lost. The
// retry meets 232, verifies it, and completes: one merge, no failure.
func TestMergeLostResponse(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	rel := b.seedGuest(t, "g-2", 5)
	// The reply of UpdateUserId itself is lost (the listing before it is
	// answered).
	once := true
	b.m.Artifi = loseUpdateReply{Artifi: b.m.Artifi, lose: func() {
		if once {
			once = false
			b.sim.Faults().Set(faults.Config{DropReplyRate: 1})
		}
	}}
	if _, err := b.m.Merge(ctx, "g-2", "u-2", "task-1"); errclass.Of(err) != errclass.Retry {
		t.Fatalf("merge with the reply lost = %v (class %q), want a retry", err, errclass.Of(err))
	}
	if n := b.sim.Merges(); n != 1 {
		t.Fatalf("artifi merges after the lost reply = %d, want 1", n)
	}
	// A guest whose merge was cut short owns its objects until it completes.
	if busy, err := b.m.InProgress(ctx, "g-2"); !busy || err != nil {
		t.Errorf("InProgress during the merge = %v, %v; want true", busy, err)
	}
	b.sim.Faults().Set(faults.Config{})
	if _, err := b.m.Merge(ctx, "g-2", "u-2", "task-1"); err != nil {
		t.Fatalf("retry = %v, want success", err)
	}

	if n := b.sim.Merges(); n != 1 {
		t.Errorf("artifi merges = %d, want 1", n)
	}
	if diff := cmp.Diff(rel, b.keys(t, "users/u-2/")); diff != "" {
		t.Errorf("objects under the user (-want +got):\n%s", diff)
	}
	if len(b.sim.Photos("u-2")) != 3 || b.sim.UserExists("g-2") {
		t.Errorf("artifi: user photos %d, guest exists %v; want 3, false", len(b.sim.Photos("u-2")), b.sim.UserExists("g-2"))
	}
	if !strings.Contains(b.logs.String(), "232 verified") {
		t.Errorf("the verified 232 is not in the log:\n%s", b.logs.String())
	}
}

func TestMergeRefusals(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	if err := b.ids.SetTombstone(ctx, "req-9", time.Now(), "u-erased"); err != nil {
		t.Fatal(err)
	}
	if err := b.ids.RecordMerge(ctx, "g-taken", "u-other"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, guest, user, reason string
	}{
		{"into an erased user", "g-3", "u-erased", "was erased by request req-9"},
		{"of an erased guest", "u-erased", "u-3", "was erased by request req-9"},
		{"a guest merged elsewhere", "g-taken", "u-3", "already merged into another user"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := b.m.Merge(ctx, tt.guest, tt.user, "task-"+tt.guest)
			if errclass.Of(err) != errclass.Permanent || !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("Merge = %v (class %q); want permanent, %q", err, errclass.Of(err), tt.reason)
			}
		})
	}
	if b.sim.Merges() != 0 {
		t.Error("a refused merge reached Artifi")
	}
}

// TestMergeWaitsForErasure: while an erasure holds the user, the merge does
// not touch anything and asks to be retried once the lease could have ended.
func TestMergeWaitsForErasure(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	b.seedGuest(t, "g-4", 2)
	erasure, err := b.locks.Acquire(ctx, "user:erase:req-1", "u-4")
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.m.Merge(ctx, "g-4", "u-4", "task-4")
	if d, ok := errclass.Delay(err); errclass.Of(err) != errclass.Retry || !ok || d <= 0 || d > time.Minute {
		t.Fatalf("Merge while locked = %v (delay %v); want a retry within the lease", err, d)
	}
	if b.sim.Merges() != 0 || len(b.keys(t, "users/u-4/")) != 0 {
		t.Fatal("the merge ran while the erasure held the user")
	}
	erasure.Release(ctx)
	if _, err := b.m.Merge(ctx, "g-4", "u-4", "task-4"); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"photos/0000.jpg", "photos/0001.jpg"}, b.keys(t, "users/u-4/")); diff != "" {
		t.Errorf("after the erasure released the user (-want +got):\n%s", diff)
	}
}

func TestMergeWithoutArtifiIsPermanent(t *testing.T) {
	b := setup(t)
	b.m.Artifi = nil
	_, err := b.m.Merge(context.Background(), "g-5", "u-5", "task-5")
	if errclass.Of(err) != errclass.Permanent || !strings.Contains(err.Error(), "artifi: system not configured") {
		t.Errorf("Merge without Artifi = %v (class %q); want permanent, naming Artifi", err, errclass.Of(err))
	}
}

// loseUpdateReply turns on the loss of replies just before UpdateUserId.
type loseUpdateReply struct {
	merge.Artifi
	lose func()
}

func (l loseUpdateReply) UpdateUserID(ctx context.Context, newUserID, oldUserID string, isGuest bool) error {
	l.lose()
	return l.Artifi.UpdateUserID(ctx, newUserID, oldUserID, isGuest)
}
