package erasure

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lifecycle-worker/lifecycle/internal/errclass"
	"github.com/lifecycle-worker/lifecycle/internal/rkeys"
)

// FakeCopies is one place of our own copies: items, each naming one id.
// Exported for the package's external tests.
type FakeCopies struct {
	mu    sync.Mutex
	items map[string]string // item -> id it names
	// Reappear is put back after the first Forget (a copy written anew
	// while the erasure runs).
	Reappear map[string]string
	forgets  int
}

func (f *FakeCopies) Add(item, id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.items == nil {
		f.items = map[string]string{}
	}
	f.items[item] = id
}

func (f *FakeCopies) Forget(_ context.Context, ids []string) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for it, id := range f.items {
		if slices.Contains(ids, id) {
			delete(f.items, it)
			n++
		}
	}
	if f.forgets++; f.forgets == 1 {
		for it, id := range f.Reappear {
			f.items[it] = id
		}
	}
	return n, nil
}

func (f *FakeCopies) Find(_ context.Context, ids []string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for it, id := range f.items {
		if slices.Contains(ids, id) {
			out = append(out, it)
		}
	}
	slices.Sort(out)
	return out, nil
}

// NopOwnCopies are empty places of our own copies, for tests about other
// systems.
func NopOwnCopies() OwnCopies {
	return OwnCopies{Tasks: &FakeCopies{}, DeadLetters: &FakeCopies{}, Quarantine: &FakeCopies{}}
}

func TestOwnCopiesAreErasedCountedAndVerified(t *testing.T) {
	b := setup(t)
	ctx := t.Context()
	tasks, letters, quarantine := &FakeCopies{}, &FakeCopies{}, &FakeCopies{}
	tasks.Add("photo/photo:delete:1 (retry)", "u-1")
	tasks.Add("merge/user:merge:2 (completed)", "g-1")
	tasks.Add("photo/photo:delete:3 (pending)", "u-10") // a neighbour
	letters.Add("dead-letters/photo/photo:delete:4-1.json", "u-1")
	// Enqueued for the user while the erasure ran, after its step.
	tasks.Reappear = map[string]string{"photo/photo:delete:5 (pending)": "u-1"}
	b.ex.Own = OwnCopies{Tasks: tasks, DeadLetters: letters, Quarantine: quarantine}
	rdb := b.ex.Store.rdb
	rdb.HSet(ctx, rkeys.MergeProgress("g-1"), "target", "u-1")
	rdb.HSet(ctx, rkeys.GuestQuarantined("u-1"), "s-1:0", 3)

	if out, err := b.ex.Run(ctx, b.req, 0, time.Now().Add(time.Minute)); err != nil || out != Finished {
		t.Fatalf("Run = %v, %v; want finished", out, err)
	}
	rc, _ := b.receipt(t)
	got := map[string]ReceiptStep{}
	for _, s := range rc.Steps {
		if s.System == SystemOwn {
			got[s.Step] = s
		}
	}
	want := map[string]struct {
		outcome Outcome
		count   int
	}{
		"lifecycle:tasks":        {Deleted, 2},
		"lifecycle:dead-letters": {Deleted, 1},
		"lifecycle:quarantine":   {AlreadyAbsent, 0},
		// u-1's aliases, g-1's merged-into and merge progress, u-1's
		// quarantine record.
		"lifecycle:records": {Deleted, 4},
	}
	for k, w := range want {
		if s := got[k]; s.Outcome != w.outcome || s.Count != w.count {
			t.Errorf("receipt step %s: %s %d, want %s %d", k, s.Outcome, s.Count, w.outcome, w.count)
		}
	}
	if len(got) != len(want) {
		t.Errorf("receipt lists %d steps of %s, want %d", len(got), SystemOwn, len(want))
	}
	for _, f := range []*FakeCopies{tasks, letters} {
		if left, _ := f.Find(ctx, []string{"u-1", "g-1"}); len(left) > 0 {
			t.Errorf("left after the erasure: %v", left)
		}
	}
	if left, _ := tasks.Find(ctx, []string{"u-10"}); len(left) != 1 {
		t.Errorf("the neighbour's task: %v, want it kept", left)
	}
	for _, k := range []string{rkeys.Aliases("u-1"), rkeys.MergedInto("g-1"), rkeys.MergeProgress("g-1"), rkeys.GuestQuarantined("u-1")} {
		if n := rdb.Exists(ctx, k).Val(); n != 0 {
			t.Errorf("%s still exists", k)
		}
	}
	if n := rdb.Exists(ctx, rkeys.Tombstone("u-1"), rkeys.Tombstone("g-1")).Val(); n != 2 {
		t.Errorf("%d tombstones, want 2", n)
	}
	if !slices.ContainsFunc(rc.Verification.Checks, func(c string) bool { return strings.HasPrefix(c, SystemOwn+": ") }) {
		t.Errorf("verification checks name nothing of ours: %v", rc.Verification.Checks)
	}
}

func TestOwnCopiesNotConfiguredFailTheirSteps(t *testing.T) {
	b := setup(t)
	b.ex.Own.DeadLetters = nil
	_, err := b.ex.Run(t.Context(), b.req, 0, time.Now().Add(time.Minute))
	if errclass.Of(err) != errclass.Permanent {
		t.Fatalf("Run = %v; want a permanent failure", err)
	}
	rec, _ := b.ex.Store.Get(t.Context(), b.req.ID)
	if rec.State.Status != StatusFailed || len(rec.State.Failing) != 1 || rec.State.Failing[0].Step != "lifecycle:dead-letters" {
		t.Errorf("status %s, failing %+v; want failed on lifecycle:dead-letters alone", rec.State.Status, rec.State.Failing)
	}
}
