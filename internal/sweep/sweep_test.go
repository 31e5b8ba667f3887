package sweep_test

import (
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"github.com/lifecycle-worker/lifecycle/internal/identity"
	"github.com/lifecycle-worker/lifecycle/internal/merge"
	"github.com/lifecycle-worker/lifecycle/internal/rkeys"
	"github.com/lifecycle-worker/lifecycle/internal/skeys"
	"github.com/lifecycle-worker/lifecycle/internal/storage"
	"github.com/lifecycle-worker/lifecycle/internal/sweep"
	"github.com/lifecycle-worker/lifecycle/internal/sweep/sweeptest"
	"github.com/lifecycle-worker/lifecycle/internal/testutil"
	"github.com/lifecycle-worker/lifecycle/internal/userlock"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const day = 24 * time.Hour

var now = time.Date(2026, 11, 28, 3, 0, 0, 0, time.UTC)

// world is the seeded store of every test: one object of each kind the
// issue names, and the near misses that must survive.
var world = []struct {
	obj    sweeptest.Object
	reason sweep.Reason // "" stays
}{
	// u-1 is live; Artifi lists photos 1 and 3.
	{sweeptest.Object{Key: "users/u-1/photos/1.jpg", Age: 90 * day}, ""},
	{sweeptest.Object{Key: "users/u-1/photos/2.jpg", Age: 90 * day}, sweep.UpstreamDeleted},
	{sweeptest.Object{Key: "users/u-1/photos/4.png", Age: time.Hour}, ""}, // not listed yet: an upload in flight
	{sweeptest.Object{Key: "users/u-1/designs/d-1.json", Age: 90 * day}, ""},
	// u-2 was erased.
	{sweeptest.Object{Key: "users/u-2/cart.json", Age: 10 * day}, sweep.Erased},
	{sweeptest.Object{Key: "users/u-2/photos/5.jpg", Age: 10 * day}, sweep.Erased},
	{sweeptest.Object{Key: "users/u-2/photos/6.jpg", Age: time.Hour}, ""},
	// guest-3 was merged into u-1.
	{sweeptest.Object{Key: "users/guest-3/designs/x.json", Age: 5 * day}, sweep.Merged},
	// guest-4 left 40 days ago.
	{sweeptest.Object{Key: "users/guest-4/designs/a.json", Age: 40 * day}, sweep.GuestExpired},
	{sweeptest.Object{Key: "users/guest-4/photos/7.jpg", Age: 41 * day}, sweep.GuestExpired},
	// guest-5 came back 2 days ago: all of theirs stays.
	{sweeptest.Object{Key: "users/guest-5/designs/a.json", Age: 40 * day}, ""},
	{sweeptest.Object{Key: "users/guest-5/designs/b.json", Age: 2 * day}, ""},
	// guest-8 is being merged (the merge crashed and awaits its retry):
	// old, never recorded as merged, and its photo already gone from its
	// Artifi list to the registered user's, yet nothing of it moves.
	{sweeptest.Object{Key: "users/guest-8/photos/8.jpg", Age: 60 * day}, ""},
	// guest-50 shares guest-5's prefix, and is expired.
	{sweeptest.Object{Key: "users/guest-50/designs/a.json", Age: 31 * day}, sweep.GuestExpired},
	// A key with no owner segment is never ours to judge.
	{sweeptest.Object{Key: "users/loose.txt", Age: 400 * day}, ""},
	// Outside users/: never swept.
	{sweeptest.Object{Key: "receipts/r-1.pdf", Age: 400 * day}, ""},
}

type bundle struct {
	dir    string
	store  storage.Store
	rdb    *redis.Client
	mr     *miniredis.Miniredis
	ids    *identity.Store
	photos *sweeptest.Photos
	clock  *time.Time
	params sweep.Params
}

func setup(t *testing.T) *bundle {
	t.Helper()
	b := &bundle{photos: &sweeptest.Photos{}}
	b.store, b.dir = testutil.FileStore(t)
	b.mr, b.rdb = testutil.Redis(t)
	b.ids = identity.New(b.rdb)
	ctx := t.Context()
	if err := b.ids.SetTombstone(ctx, "erase-1", now.Add(-20*day), "u-2"); err != nil {
		t.Fatal(err)
	}
	if err := b.ids.RecordMerge(ctx, "guest-3", "u-1"); err != nil {
		t.Fatal(err)
	}
	if err := b.rdb.HSet(ctx, rkeys.MergeProgress("guest-8"), "artifi", "done").Err(); err != nil {
		t.Fatal(err)
	}
	b.photos.Set("u-1", "1", "3")
	b.photos.Set("guest-5", "unrelated")
	var objs []sweeptest.Object
	for _, w := range world {
		objs = append(objs, w.obj)
	}
	sweeptest.Seed(t, b.store, b.dir, now, objs)
	clock := now
	b.clock = &clock
	b.params = sweep.Params{
		Store: b.store, Redis: b.rdb, Identity: b.ids, Merges: &merge.Merger{Redis: b.rdb}, Photos: b.photos, Locks: userlock.New(b.rdb, 0),
		MaxShare: 0.9, Now: func() time.Time { return *b.clock }, Log: zerolog.Nop(),
	}
	return b
}

func (b *bundle) sweeper(t *testing.T, edit func(p *sweep.Params)) *sweep.Sweeper {
	t.Helper()
	p := b.params
	if edit != nil {
		edit(&p)
	}
	s, err := sweep.New(p)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// expected splits the world into the keys that stay and the orphans.
func expected() (stays, orphans []string, byReason map[sweep.Reason]int64) {
	byReason = map[sweep.Reason]int64{}
	for _, w := range world {
		if w.reason == "" {
			stays = append(stays, w.obj.Key)
		} else {
			orphans = append(orphans, w.obj.Key)
			byReason[w.reason]++
		}
	}
	slices.Sort(stays)
	slices.Sort(orphans)
	return stays, orphans, byReason
}

func userKeys(keys []string) []string {
	var out []string
	for _, k := range keys {
		if strings.HasPrefix(k, "users/") {
			out = append(out, k)
		}
	}
	return out
}

func quarantined(id string, keys []string) []string {
	var out []string
	for _, k := range keys {
		out = append(out, skeys.Quarantined(id, k))
	}
	return out
}

func TestSweepQuarantinesExactlyTheOrphans(t *testing.T) {
	b := setup(t)
	s := b.sweeper(t, nil)
	rep, err := s.Sweep(t.Context(), "s-1", false)
	if err != nil {
		t.Fatal(err)
	}
	stays, orphans, byReason := expected()
	if diff := cmp.Diff(userKeys(stays), testutil.Keys(t, b.store, "users/")); diff != "" {
		t.Errorf("users/ after the sweep (-want +got):\n%s", diff)
	}
	// An erased user's leftovers are deleted at once: nothing of theirs
	// waits in quarantine, nor in the manifest, for a restore.
	moved := slices.DeleteFunc(slices.Clone(orphans), func(k string) bool { return strings.HasPrefix(k, "users/u-2/") })
	if diff := cmp.Diff(quarantined("s-1", moved), testutil.Keys(t, b.store, "quarantine/")); diff != "" {
		t.Errorf("quarantine after the sweep (-want +got):\n%s", diff)
	}
	for e, err := range s.Manifest(t.Context(), "s-1") {
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(e.Key, "u-2") || strings.Contains(e.To, "u-2") {
			t.Errorf("the manifest names the erased user: %+v", e)
		}
	}
	if diff := cmp.Diff(byReason, rep.Candidates); diff != "" {
		t.Errorf("candidates by reason (-want +got):\n%s", diff)
	}
	got := struct {
		Status         string
		Scanned, Fresh int64
		Moved, Erased  int64
	}{rep.Status, rep.Scanned, rep.Fresh, rep.Moved, rep.Erased}
	want := struct {
		Status         string
		Scanned, Fresh int64
		Moved, Erased  int64
	}{sweep.StatusQuarantined, int64(len(userKeys(stays)) + len(orphans)), 2, int64(len(moved)), 2}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("report (-want +got):\n%s", diff)
	}
	stored, err := s.Report(t.Context(), "s-1")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(rep, stored); diff != "" {
		t.Errorf("stored report differs from the returned one (-returned +stored):\n%s", diff)
	}
	// Artifi is asked once per live user with photos, not once per photo.
	if got := b.photos.Calls(); got != 1 {
		t.Errorf("%d photo list calls, want 1 (u-1)", got)
	}
	// The same sweep again (a retry after it finished) changes nothing.
	again, err := s.Sweep(t.Context(), "s-1", false)
	if err != nil || again.Moved != rep.Moved {
		t.Errorf("repeat: moved %d, %v; want the first report back", again.Moved, err)
	}
}

func TestRestoreThenPurge(t *testing.T) {
	b := setup(t)
	s := b.sweeper(t, nil)
	if _, err := s.Sweep(t.Context(), "s-1", false); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	res, err := s.Restore(ctx, "s-1", "users/guest-4/")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(sweep.RestoreResult{Restored: 2}, res); diff != "" {
		t.Errorf("restore (-want +got):\n%s", diff)
	}
	for _, k := range []string{"users/guest-4/designs/a.json", "users/guest-4/photos/7.jpg"} {
		rc, err := b.store.Get(ctx, k)
		if err != nil {
			t.Fatalf("restored %s: %v", k, err)
		}
		body, err := io.ReadAll(rc)
		rc.Close()
		if got := string(body); err != nil || got != "body of "+k {
			t.Errorf("restored %s holds %q", k, got)
		}
	}

	// Not yet past the restore window: nothing purged.
	if res, err := s.Purge(ctx, "p-1", false); err != nil || res.Objects != 0 {
		t.Fatalf("purge within the window: %+v, %v", res, err)
	}
	*b.clock = now.Add(7*day + time.Minute)
	pr, err := s.Purge(ctx, "p-2", false)
	if err != nil {
		t.Fatal(err)
	}
	// Less the two restored and the erased user's two, deleted at once.
	_, orphans, _ := expected()
	if diff := cmp.Diff(sweep.PurgeResult{Sweeps: []string{"s-1"}, Objects: int64(len(orphans) - 4), Bytes: pr.Bytes}, pr); diff != "" {
		t.Errorf("purge (-want +got):\n%s", diff)
	}
	if got := testutil.Keys(t, b.store, "quarantine/"); len(got) != 0 {
		t.Errorf("quarantine after the purge: %v", got)
	}
	rep, _ := s.Report(ctx, "s-1")
	if rep.Status != sweep.StatusPurged || rep.Purged != int64(len(orphans)-4) || rep.Restored != 2 {
		t.Errorf("report after purge: status %s, purged %d, restored %d", rep.Status, rep.Purged, rep.Restored)
	}
	if _, err := s.Restore(ctx, "s-1", ""); !errors.Is(err, sweep.ErrNotRestorable) {
		t.Errorf("restore after purge: %v, want ErrNotRestorable", err)
	}
}

func TestSafetyLimitTripsOnAnEmptyUpstream(t *testing.T) {
	b := setup(t)
	// Many live photos, and Artifi answering "no photos" for everyone.
	var objs []sweeptest.Object
	for i := range 30 {
		objs = append(objs, sweeptest.Object{Key: "users/u-9/photos/" + string(rune('a'+i%26)) + strings.Repeat("x", i/26) + ".jpg", Age: 60 * day})
	}
	sweeptest.Seed(t, b.store, b.dir, now, objs)
	b.photos.Empty = true
	before := testutil.Keys(t, b.store, "")
	s := b.sweeper(t, func(p *sweep.Params) { p.MaxShare = 0.5 })
	rep, err := s.Sweep(t.Context(), "s-1", false)
	if !errors.Is(err, sweep.ErrTripped) {
		t.Fatalf("err = %v, want ErrTripped", err)
	}
	if rep.Status != sweep.StatusTripped || rep.Moved != 0 || rep.Share <= 0.5 {
		t.Errorf("report: status %s, moved %d, share %.2f", rep.Status, rep.Moved, rep.Share)
	}
	// Every old photo of a live user looks deleted upstream: u-9's, and
	// u-1's 1.jpg besides its 2.jpg.
	_, _, byReason := expected()
	byReason[sweep.UpstreamDeleted] = int64(len(objs)) + 2
	if diff := cmp.Diff(byReason, rep.Candidates); diff != "" {
		t.Errorf("candidates by reason (-want +got):\n%s", diff)
	}
	after := testutil.Keys(t, b.store, "")
	var added []string
	for _, k := range after {
		if !slices.Contains(before, k) {
			added = append(added, k)
		}
	}
	// Only the sweep's own report and manifest were written.
	for _, k := range added {
		if !strings.HasPrefix(k, "sweeps/s-1/") {
			t.Errorf("tripped sweep wrote %s", k)
		}
	}
	if diff := cmp.Diff(userKeys(before), testutil.Keys(t, b.store, "users/")); diff != "" {
		t.Errorf("tripped sweep changed users/ (-before +after):\n%s", diff)
	}
}

func TestDryRunMovesNothing(t *testing.T) {
	b := setup(t)
	before := testutil.Keys(t, b.store, "users/")
	s := b.sweeper(t, nil)
	rep, err := s.Sweep(t.Context(), "dry-1", true)
	if err != nil {
		t.Fatal(err)
	}
	_, orphans, byReason := expected()
	if diff := cmp.Diff(before, testutil.Keys(t, b.store, "users/")); diff != "" {
		t.Errorf("dry run changed users/ (-before +after):\n%s", diff)
	}
	if diff := cmp.Diff(byReason, rep.Candidates); diff != "" {
		t.Errorf("dry run candidates (-want +got):\n%s", diff)
	}
	var listed []string
	for e, err := range s.Manifest(t.Context(), "dry-1") {
		if err != nil {
			t.Fatal(err)
		}
		listed = append(listed, e.Key)
	}
	if diff := cmp.Diff(orphans, listed); diff != "" {
		t.Errorf("dry run manifest (-want +got):\n%s", diff)
	}
	if rep.Status != sweep.StatusDryRun || rep.Moved != 0 {
		t.Errorf("status %s, moved %d", rep.Status, rep.Moved)
	}
}

// A sweep that fails halfway (Artifi down) is finished by the next sweep
// task, whatever its id, with the same outcome and counts as a sweep that
// never failed.
func TestCrashedSweepResumesFromItsCheckpoint(t *testing.T) {
	b := setup(t)
	// More live users with photos, so that the failure comes late.
	var objs []sweeptest.Object
	for _, u := range []string{"u-10", "u-11", "u-12", "u-13"} {
		b.photos.Set(u, "1")
		objs = append(objs, sweeptest.Object{Key: "users/" + u + "/photos/1.jpg", Age: 50 * day},
			sweeptest.Object{Key: "users/" + u + "/photos/2.jpg", Age: 50 * day})
	}
	sweeptest.Seed(t, b.store, b.dir, now, objs)
	b.photos.Fail, b.photos.FailAt = errors.New("artifi: 503"), 4
	small := func(p *sweep.Params) { p.PartSize, p.Checkpoint = 2, 3 }
	s := b.sweeper(t, small)
	if _, err := s.Sweep(t.Context(), "s-1", false); err == nil {
		t.Fatal("first attempt succeeded; want the Artifi failure")
	}
	running, ok, err := s.Running(t.Context())
	if err != nil || !ok || running.Scanned == 0 {
		t.Fatalf("checkpoint after the failure: %+v %v %v", running, ok, err)
	}
	b.photos.Fail = nil
	rep, err := s.Sweep(t.Context(), "s-2", false)
	if err != nil {
		t.Fatal(err)
	}
	if rep.SweepID != "s-1" || rep.Resumed != 1 {
		t.Errorf("finished sweep %s resumed %d times; want s-1 resumed once", rep.SweepID, rep.Resumed)
	}

	// The same world swept in one go, for comparison.
	ref := setup(t)
	for _, u := range []string{"u-10", "u-11", "u-12", "u-13"} {
		ref.photos.Set(u, "1")
	}
	sweeptest.Seed(t, ref.store, ref.dir, now, objs)
	want, err := ref.sweeper(t, small).Sweep(t.Context(), "s-1", false)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(testutil.Keys(t, ref.store, ""), testutil.Keys(t, b.store, "")); diff != "" {
		t.Errorf("keys after a resumed sweep vs one in one go (-one go +resumed):\n%s", diff)
	}
	type counts struct {
		Scanned, Fresh, Moved int64
		Candidates            map[sweep.Reason]int64
	}
	if diff := cmp.Diff(counts{want.Scanned, want.Fresh, want.Moved, want.Candidates},
		counts{rep.Scanned, rep.Fresh, rep.Moved, rep.Candidates}); diff != "" {
		t.Errorf("counts (-one go +resumed):\n%s", diff)
	}
	if _, ok, _ := s.Running(t.Context()); ok {
		t.Error("checkpoint left behind after the sweep finished")
	}
}

func TestOneSweepAtATime(t *testing.T) {
	b := setup(t)
	// Another sweep holds the lock (its process is alive and renewing).
	if err := b.rdb.Set(t.Context(), rkeys.SweepLock(), "other", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	s := b.sweeper(t, nil)
	for name, run := range map[string]func() error{
		"sweep":   func() error { _, err := s.Sweep(t.Context(), "s-1", false); return err },
		"purge":   func() error { _, err := s.Purge(t.Context(), "p-1", false); return err },
		"restore": func() error { _, err := s.Restore(t.Context(), "s-0", ""); return err },
	} {
		if err := run(); !errors.Is(err, sweep.ErrBusy) {
			t.Errorf("%s while another sweep runs: %v, want ErrBusy", name, err)
		}
	}
	var busy *sweep.BusyError
	if _, err := s.Sweep(t.Context(), "s-1", false); !errors.As(err, &busy) || busy.Holder != "other" || busy.Wait <= 0 {
		t.Errorf("busy error %v, want one naming the holder and its lease", err)
	}
	// The holder crashed: its lease runs out and the next sweep goes ahead.
	b.mr.FastForward(time.Minute)
	if _, err := s.Sweep(t.Context(), "s-1", false); err != nil {
		t.Errorf("after the lease ran out: %v", err)
	}
}

// A merge holding a guest's lock keeps the sweep off that guest's objects.
func TestSweepLeavesUsersBeingMerged(t *testing.T) {
	b := setup(t)
	lk, err := userlock.New(b.rdb, 0).Acquire(t.Context(), "merge-task", "guest-3")
	if err != nil {
		t.Fatal(err)
	}
	defer lk.Release(context.Background())
	rep, err := b.sweeper(t, nil).Sweep(t.Context(), "s-1", false)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Skipped["busy"] != 1 {
		t.Errorf("skipped %v, want busy: 1", rep.Skipped)
	}
	if keys := testutil.Keys(t, b.store, "users/guest-3/"); len(keys) != 1 {
		t.Errorf("guest-3 keys %v, want its object kept", keys)
	}
}

// An owner reclaimed between the mark and the move keeps its objects: here a
// merge of the expired guest-4 starts while the sweep is still listing.
func TestOwnerReclaimedBeforeTheMoveKeepsItsObjects(t *testing.T) {
	b := setup(t)
	b.photos.OnCall = func(userID string) {
		// u-1 is listed after guest-4 (key order): guest-4 is marked already.
		if userID == "u-1" {
			b.mr.HSet(rkeys.MergeProgress("guest-4"), "artifi", "calling")
		}
	}
	rep, err := b.sweeper(t, nil).Sweep(t.Context(), "s-1", false)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Candidates[sweep.GuestExpired] != 3 || rep.Skipped["reclaimed"] != 2 {
		t.Errorf("candidates %v, skipped %v; want guest-4's 2 objects marked, then skipped as reclaimed", rep.Candidates, rep.Skipped)
	}
	if got := testutil.Keys(t, b.store, "users/guest-4/"); len(got) != 2 {
		t.Errorf("guest-4 holds %v, want both objects", got)
	}
}

// Two attempts of one sweep never run at once: the lock is not re-entered
// by a sweep id, only taken when free.
func TestSameSweepTwiceAtOnce(t *testing.T) {
	b := setup(t)
	started, release := make(chan struct{}), make(chan struct{})
	b.photos.OnCall = func(string) {
		close(started)
		<-release
	}
	s := b.sweeper(t, nil)
	done := make(chan error, 1)
	go func() {
		_, err := s.Sweep(t.Context(), "s-1", false)
		done <- err
	}()
	<-started
	_, err := s.Sweep(t.Context(), "s-1", false)
	var busy *sweep.BusyError
	if !errors.As(err, &busy) || busy.Holder != "s-1" {
		t.Errorf("second attempt of s-1: %v, want busy with holder s-1", err)
	}
	b.photos.OnCall = nil
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
