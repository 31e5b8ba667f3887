package erasure

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lifecycle-worker/lifecycle/internal/errclass"
)

// Every receipt names each id's Artifi cart items and activity as not
// erased, with the reason, and the request still ends done.
func TestReceiptNamesCartAndActivity(t *testing.T) {
	b := setup(t)
	if out, err := b.ex.Run(context.Background(), b.req, 0, time.Now().Add(time.Minute)); err != nil || out != Finished {
		t.Fatalf("Run = %v, %v; want finished", out, err)
	}
	r, _ := b.receipt(t)
	var got []ReceiptStep
	for _, s := range r.Steps {
		if s.Outcome == Unconfirmed {
			got = append(got, s)
		}
	}
	want := []ReceiptStep{
		{Step: "artifi:cart_activity:u-1", System: SystemArtifi, Outcome: Unconfirmed, Answer: CartActivityAnswer},
		{Step: "artifi:cart_activity:g-1", System: SystemArtifi, Outcome: Unconfirmed, Answer: CartActivityAnswer},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("unconfirmed steps of the receipt (-want +got):\n%s", diff)
	}
}

// An erasure fences its ids from the first slice to the receipt, so that a
// merge between slices (or after a crash) waits; the receipt lifts it.
func TestFenceCoversTheWholeRequest(t *testing.T) {
	b := setup(t)
	b.ex.Subjects = &Subjects{Identity: b.ids}
	ctx := context.Background()
	clock := time.Now()
	b.ex.Now = func() time.Time { return clock }
	// A deadline already past: planning, then a pause, as a slice that
	// ran out of budget (or whose worker died) leaves the request.
	if out, err := b.ex.Run(ctx, b.req, 0, clock); err != nil || out != Paused {
		t.Fatalf("first slice = %v, %v; want paused", out, err)
	}
	for _, id := range []string{"u-1", "g-1"} {
		if req, ok, err := b.ids.FencedBy(ctx, id); err != nil || !ok || req != b.req.ID {
			t.Errorf("between slices, %s fenced by %q (%v, %v); want %s", id, req, ok, err, b.req.ID)
		}
	}
	if out, err := b.ex.Run(ctx, b.req, 1, clock.Add(time.Minute)); err != nil || out != Finished {
		t.Fatalf("second slice = %v, %v; want finished", out, err)
	}
	for _, id := range []string{"u-1", "g-1"} {
		if req, ok, _ := b.ids.FencedBy(ctx, id); ok {
			t.Errorf("after the receipt, %s still fenced by %s", id, req)
		}
	}
}

// An erasure of a guest id merged into a user never ends done: by default
// it erases what the guest id holds and waits for review naming the user;
// configured to refuse, it fails at once and erases nothing.
func TestErasureOfAMergedGuest(t *testing.T) {
	for _, tc := range []struct {
		name         string
		refuse       bool
		wantOut      RunOutcome
		wantStatus   Status
		wantErasedG1 bool
	}{
		{"needs review by default", false, NeedsReview, StatusNeedsReview, true},
		{"refused", true, "", StatusFailed, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := setup(t)
			b.ex.Subjects = &Subjects{Identity: b.ids, RefuseMerged: tc.refuse}
			ctx := context.Background()
			req := Request{ID: "req-g", UserID: "g-1", FiledBy: "dpo-7", FiledAt: b.req.FiledAt}
			if _, err := b.ex.Store.Create(ctx, req); err != nil {
				t.Fatal(err)
			}
			out, err := b.ex.Run(ctx, req, 0, time.Now().Add(time.Minute))
			const reason = "guest g-1 is now user u-1: erase u-1"
			if out != tc.wantOut {
				t.Errorf("Run = %v, %v; want %v", out, err, tc.wantOut)
			}
			if tc.refuse && (errclass.Of(err) != errclass.Permanent || err.Error() != reason) {
				t.Errorf("Run error %v; want permanent %q", err, reason)
			}
			rec, _ := b.ex.Store.Get(ctx, req.ID)
			if rec.State.Status != tc.wantStatus {
				t.Errorf("status %s, want %s", rec.State.Status, tc.wantStatus)
			}
			if !tc.refuse {
				want := []Finding{{Step: MergedIDStep, System: "identity", Answer: reason}}
				if diff := cmp.Diff(want, rec.State.Unconfirmed); diff != "" {
					t.Errorf("findings (-want +got):\n%s", diff)
				}
			} else if rec.State.Error != reason {
				t.Errorf("status error %q, want %q", rec.State.Error, reason)
			}
			if erased := len(b.artifi.photos["g-1"]) == 0; erased != tc.wantErasedG1 {
				t.Errorf("g-1's photos erased: %v, want %v", erased, tc.wantErasedG1)
			}
			if len(b.artifi.photos["u-1"]) != 30 {
				t.Errorf("u-1 has %d photos, want its 30 untouched", len(b.artifi.photos["u-1"]))
			}
			if _, ok, _ := b.ids.Tombstoned(ctx, "g-1"); ok {
				t.Error("g-1 tombstoned though the erasure is not done")
			}
		})
	}
}
