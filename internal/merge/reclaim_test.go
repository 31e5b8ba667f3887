package merge_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/lifecycle-worker/lifecycle/internal/errclass"
	"github.com/lifecycle-worker/lifecycle/internal/merge"
	"github.com/lifecycle-worker/lifecycle/internal/sweep"
)

// quarantine answers Reclaim with what each call finds, in turn.
type quarantine struct {
	calls []sweep.Reclaimed
	errs  []error
	n     int
}

func (q *quarantine) Reclaim(context.Context, string, string) (sweep.Reclaimed, error) {
	i := min(q.n, len(q.calls)-1)
	q.n++
	return q.calls[i], q.errs[i]
}

// TestMergeSaysWhatItTookBackFromQuarantine: the result counts what the
// merge moved and what it took back from a sweep's quarantine, across a
// retry that finds only the rest, and names what the purge took; the log
// line warns of the loss.
func TestMergeSaysWhatItTookBackFromQuarantine(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	b.seedGuest(t, "g-1", 4)
	b.m.Quarantine = &quarantine{
		calls: []sweep.Reclaimed{{Restored: 5, Purged: 2, PurgedBy: []string{"s-1"}}, {Restored: 1}},
		errs:  []error{errors.New("store unreachable"), nil},
	}
	if _, err := b.m.Merge(ctx, "g-1", "u-1", "task-1"); errclass.Of(err) != errclass.Retry {
		t.Fatalf("first attempt = %v, want a retry", err)
	}
	res, err := b.m.Merge(ctx, "g-1", "u-1", "task-1")
	if err != nil {
		t.Fatal(err)
	}
	want := merge.Result{ObjectsMoved: 4, ObjectsRestored: 6, ObjectsPurged: 2, PurgedBy: []string{"s-1"}}
	if diff := cmp.Diff(want, res); diff != "" {
		t.Errorf("result (-want +got):\n%s", diff)
	}
	if log := b.logs.String(); !strings.Contains(log, `"level":"warn"`) || !strings.Contains(log, `"objects_purged":2`) {
		t.Errorf("no warning of the purged objects:\n%s", log)
	}
}
