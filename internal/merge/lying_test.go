package merge_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/lifecycle-worker/lifecycle/internal/errclass"
	"github.com/lifecycle-worker/lifecycle/internal/sim/artifisim"
	"github.com/lifecycle-worker/lifecycle/internal/sim/faults"
	"github.com/lifecycle-worker/lifecycle/internal/testutil"
	"github.com/lifecycle-worker/lifecycle/internal/upstream/artifi"
)

// TestLyingUpstreamsMerge merges a guest with photos in Artifi (three
// listing pages) and stored objects while Artifi lies: a merge may report
// complete only when the guest owns nothing any more, in Artifi or in the
// store. With no lie the merge completes, so the test can fail.
func TestLyingUpstreamsMerge(t *testing.T) {
	_, rdb := testutil.RealRedis(t)
	modes := []string{"", artifisim.LieUnknownCode, artifisim.LieGoneForExisting, artifisim.LieListNoTotal,
		artifisim.LieListDropPage, artifisim.LieDeleteNoop}
	var complete, falseComplete, refused int
	for n, mode := range modes {
		t.Run(fmt.Sprintf("mode=%q", mode), func(t *testing.T) {
			b := setupOn(t, rdb)
			ctx := context.Background()
			guest, user := fmt.Sprintf("g-%d", n), fmt.Sprintf("u-%d", n)
			b.seedGuest(t, guest, 4)
			b.sim.AddPhotos(guest, 2*artifi.PageSizeDefault+5)
			b.sim.AddUser(user)
			b.sim.Faults().Set(faults.Config{Lies: []string{mode}})
			var err error
			for range 5 {
				if _, err = b.m.Merge(ctx, guest, user, "task"); errclass.Of(err) != errclass.Retry {
					break
				}
			}
			left := len(b.keys(t, "users/"+guest+"/"))
			guestInArtifi := b.sim.UserExists(guest)
			if err == nil {
				complete++
				if left > 0 || guestInArtifi {
					falseComplete++
					t.Errorf("merge complete while the guest keeps %d objects, artifi user exists %v", left, guestInArtifi)
				}
			} else {
				refused++
				t.Logf("merge not complete: %v", err)
			}
			if mode == "" && err != nil {
				t.Errorf("honest Artifi: merge = %v, want complete", err)
			}
		})
	}
	fmt.Printf("lying upstreams (merge): %d modes + control, %d complete (%d with guest assets left), %d not complete\n",
		len(modes)-1, complete, falseComplete, refused)
}
