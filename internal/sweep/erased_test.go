package sweep_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lifecycle-worker/lifecycle/internal/rkeys"
	"github.com/lifecycle-worker/lifecycle/internal/sweep"
	"github.com/lifecycle-worker/lifecycle/internal/testutil"
)

// An erasure of guest-4, whose objects a sweep quarantined as expired,
// takes them out of the quarantine and the manifest at once, restore
// window or not, and leaves everyone else's.
func TestForgetPurgesAnErasedIDsQuarantineAndManifestLines(t *testing.T) {
	b := setup(t)
	s := b.sweeper(t, nil)
	ctx := t.Context()
	if _, err := s.Sweep(ctx, "s-1", false); err != nil {
		t.Fatal(err)
	}
	ids := []string{"guest-4", "u-77"}
	found, err := s.Find(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	// Two objects and, on a file store, their two folders.
	if diff := cmp.Diff([]string{"sweep s-1: 4 quarantined entries of guest-4", "sweep s-1: 2 manifest lines"}, found); diff != "" {
		t.Errorf("found (-want +got):\n%s", diff)
	}

	// While a sweep runs, the manifests are its own: the erasure retries.
	l, err := b.rdb.SetNX(ctx, rkeys.SweepLock(), "s-2/x", time.Minute).Result()
	if err != nil || !l {
		t.Fatal(err)
	}
	if _, err := s.Forget(ctx, ids); !errors.Is(err, sweep.ErrBusy) {
		t.Errorf("Forget during a sweep: %v, want ErrBusy", err)
	}
	b.rdb.Del(ctx, rkeys.SweepLock())

	// Two objects and their two lines.
	if n, err := s.Forget(ctx, ids); err != nil || n != 4 {
		t.Errorf("Forget = %d, %v; want 4", n, err)
	}
	if n, err := s.Forget(ctx, ids); err != nil || n != 0 {
		t.Errorf("Forget again = %d, %v; want 0", n, err)
	}
	if found, err := s.Find(ctx, ids); err != nil || len(found) > 0 {
		t.Errorf("found after Forget: %v, %v", found, err)
	}
	for _, k := range testutil.Keys(t, b.store, "") {
		if strings.Contains(k, "guest-4/") {
			t.Errorf("%s left", k)
		}
	}
	others := 0
	for e, err := range s.Manifest(ctx, "s-1") {
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(e.Key, "guest-4/") {
			t.Errorf("manifest line left: %+v", e)
		}
		others++
	}
	// Everyone else's stay restorable.
	if res, err := s.Restore(ctx, "s-1", ""); err != nil || res.Restored != int64(others) || others == 0 {
		t.Errorf("restore of the rest: %+v, %v; want %d restored", res, err, others)
	}
}
