package merge_test

import (
	"context"
	"strings"
	"testing"

	"github.com/lifecycle-worker/lifecycle/internal/errclass"
)

// An open erasure fences its ids between its slices, when it holds no user
// lock: a merge into or out of a fenced id waits (retries) and touches
// nothing, whichever side is fenced, and runs once the fence is lifted.
func TestMergeWaitsForAFencedErasure(t *testing.T) {
	for _, fenced := range []string{"g-5", "u-5"} {
		t.Run(fenced, func(t *testing.T) {
			b := setup(t)
			ctx := context.Background()
			b.seedGuest(t, "g-5", 2)
			if err := b.ids.Fence(ctx, "req-9", fenced); err != nil {
				t.Fatal(err)
			}
			_, err := b.m.Merge(ctx, "g-5", "u-5", "task-5")
			if errclass.Of(err) != errclass.Retry || !strings.Contains(err.Error(), fenced+" is being erased by request req-9") {
				t.Fatalf("Merge while fenced = %v; want a retry naming %s and req-9", err, fenced)
			}
			if b.sim.Merges() != 0 || len(b.keys(t, "users/u-5/")) != 0 {
				t.Fatal("the merge ran while an erasure covered the ids")
			}
			if err := b.ids.Unfence(ctx, "req-9", fenced); err != nil {
				t.Fatal(err)
			}
			if _, err := b.m.Merge(ctx, "g-5", "u-5", "task-5"); err != nil {
				t.Fatalf("Merge after the fence = %v", err)
			}
		})
	}
}
