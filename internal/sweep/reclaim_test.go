package sweep_test

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/lifecycle-worker/lifecycle/internal/sweep"
	"github.com/lifecycle-worker/lifecycle/internal/sweep/sweeptest"
	"github.com/lifecycle-worker/lifecycle/internal/testutil"
)

// queued is a merge queue holding merges of the listed guests.
type queued map[string]bool

func (q queued) Queued(_ context.Context, guestID string) (bool, error) { return q[guestID], nil }

// TestMergeTakesBackWhatASweepQuarantined: a guest the sweep took for gone
// who registers gets their objects back from quarantine under the user's
// id, within the restore window; past it (purged), the merge is told how
// many were lost and to which sweep. A guest whose merge waits in the
// queue is not expired at all, and a restore of a guest merged since puts
// its objects under the user it became.
func TestMergeTakesBackWhatASweepQuarantined(t *testing.T) {
	ctx := context.Background()
	b := setup(t)
	s := b.sweeper(t, func(p *sweep.Params) { p.Queue = queued{"guest-50": true} })
	rep, err := s.Sweep(ctx, "s-1", false)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Skipped["merge_queued"] != 1 || len(testutil.Keys(t, b.store, "users/guest-50/")) != 1 {
		t.Errorf("guest-50, whose merge is queued: skipped %v, its objects %v; want left in place",
			rep.Skipped, testutil.Keys(t, b.store, "users/guest-50/"))
	}

	got, err := s.Reclaim(ctx, "guest-4", "u-9")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(sweep.Reclaimed{Restored: 2}, got); diff != "" {
		t.Errorf("reclaim within the window (-want +got):\n%s", diff)
	}
	want := []string{"users/u-9/designs/a.json", "users/u-9/photos/7.jpg"}
	if diff := cmp.Diff(want, testutil.Keys(t, b.store, "users/u-9/")); diff != "" {
		t.Errorf("the user's objects (-want +got):\n%s", diff)
	}
	if q := testutil.Keys(t, b.store, "quarantine/s-1/users/guest-4/"); len(q) != 0 {
		t.Errorf("left in quarantine: %v", q)
	}
	if again, err := s.Reclaim(ctx, "guest-4", "u-9"); err != nil || !cmp.Equal(again, sweep.Reclaimed{}) {
		t.Errorf("second reclaim = %+v, %v; want nothing, as it was all taken back", again, err)
	}

	// guest-2x expires in a second sweep, which is purged past the window.
	*b.clock = b.clock.Add(31 * day)
	sweeptest.Seed(t, b.store, b.dir, *b.clock, []sweeptest.Object{
		{Key: "users/guest-2x/designs/a.json", Age: 40 * day}, {Key: "users/guest-2x/designs/b.json", Age: 40 * day}})
	s = b.sweeper(t, nil)
	if _, err := s.Sweep(ctx, "s-2", false); err != nil {
		t.Fatal(err)
	}
	*b.clock = b.clock.Add(8 * day)
	if _, err := s.Purge(ctx, "p-1", false); err != nil {
		t.Fatal(err)
	}
	got, err = s.Reclaim(ctx, "guest-2x", "u-8")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(sweep.Reclaimed{Purged: 2, PurgedBy: []string{"s-2"}}, got); diff != "" {
		t.Errorf("reclaim past the window (-want +got):\n%s", diff)
	}
}

// TestRestoreOfAMergedGuestGoesToTheUser: a guest quarantined and then
// merged (its merge found nothing, say, before this version) is restored
// under the user it became, not back under the guest where nobody owns it.
func TestRestoreOfAMergedGuestGoesToTheUser(t *testing.T) {
	ctx := context.Background()
	b := setup(t)
	s := b.sweeper(t, nil)
	if _, err := s.Sweep(ctx, "s-1", false); err != nil {
		t.Fatal(err)
	}
	if err := b.ids.RecordMerge(ctx, "guest-4", "u-7"); err != nil {
		t.Fatal(err)
	}
	res, err := s.Restore(ctx, "s-1", "users/guest-4/")
	if err != nil || res.Restored != 2 {
		t.Fatalf("restore = %+v, %v; want 2 restored", res, err)
	}
	want := []string{"users/u-7/designs/a.json", "users/u-7/photos/7.jpg"}
	if diff := cmp.Diff(want, testutil.Keys(t, b.store, "users/u-7/")); diff != "" {
		t.Errorf("the user's objects (-want +got):\n%s", diff)
	}
	if left := testutil.Keys(t, b.store, "users/guest-4/"); len(left) != 0 {
		t.Errorf("restored under the merged guest: %v", left)
	}
	// The restore forgot what it took back: a merge finds nothing more.
	if got, err := s.Reclaim(ctx, "guest-4", "u-7"); err != nil || !cmp.Equal(got, sweep.Reclaimed{}) {
		t.Errorf("reclaim after the restore = %+v, %v; want nothing", got, err)
	}
}
