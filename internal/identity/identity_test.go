package identity

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lifecycle-worker/lifecycle/internal/testutil"
)

func TestMergesAndTombstones(t *testing.T) {
	ctx := context.Background()
	_, rdb := testutil.Redis(t)
	s := New(rdb)

	for _, m := range [][2]string{{"g-1", "u-1"}, {"g-2", "u-1"}, {"g-0", "g-1"}, {"g-1", "u-1"}, {"u-1", "g-0"}} {
		if err := s.RecordMerge(ctx, m[0], m[1]); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Aliases(ctx, "u-1")
	if err != nil {
		t.Fatal(err)
	}
	// Transitive, deduplicated, and the cycle back to u-1 does not loop.
	if diff := cmp.Diff([]string{"g-0", "g-1", "g-2"}, got); diff != "" {
		t.Errorf("aliases (-want +got):\n%s", diff)
	}
	if into, ok, _ := s.MergedInto(ctx, "g-2"); !ok || into != "u-1" {
		t.Errorf("MergedInto(g-2) = %q %v", into, ok)
	}
	if _, ok, _ := s.MergedInto(ctx, "nobody"); ok {
		t.Error("unknown guest reported as merged")
	}

	at := time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)
	if err := s.SetTombstone(ctx, "req-7", at, "u-1", "g-1"); err != nil {
		t.Fatal(err)
	}
	ts, ok, err := s.Tombstoned(ctx, "g-1")
	if err != nil || !ok {
		t.Fatalf("Tombstoned(g-1) = %v %v", ok, err)
	}
	if diff := cmp.Diff(Tombstone{RequestID: "req-7", ErasedAt: at}, ts); diff != "" {
		t.Errorf("tombstone (-want +got):\n%s", diff)
	}
	if _, ok, _ := s.Tombstoned(ctx, "g-2"); ok {
		t.Error("g-2 was not erased")
	}
}
