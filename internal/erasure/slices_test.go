package erasure

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lifecycle-worker/lifecycle/internal/errclass"
)

// fakeQueue records what slices asked of their successors.
type fakeQueue struct{ calls []string }

func (q *fakeQueue) Check(r Request) error {
	if r.ID == "" {
		return errors.New("request_id: required")
	}
	return nil
}
func (q *fakeQueue) Enqueue(_ context.Context, r Request, n int, d time.Duration) error {
	q.calls = append(q.calls, fmt.Sprintf("enqueue %s#%d in %v", r.ID, n, d))
	return nil
}
func (q *fakeQueue) RunNow(_ context.Context, r Request, n int) error {
	q.calls = append(q.calls, fmt.Sprintf("run %s#%d", r.ID, n))
	return nil
}
func (q *fakeQueue) Cancel(_ context.Context, r Request, n int) error {
	q.calls = append(q.calls, fmt.Sprintf("cancel %s#%d", r.ID, n))
	return nil
}
func (q *fakeQueue) TaskID(r Request, n int) string { return fmt.Sprintf("task:%s:%d", r.ID, n) }

func TestRunSlice(t *testing.T) {
	tests := []struct {
		name      string
		budget    time.Duration
		slice     int
		newer     int  // a newer slice recorded as having taken over
		mergeLock bool // a merge holds the user's lock
		wantClass errclass.Class
		wantCalls []string
		wantState Status
	}{
		{name: "finishes and cancels its watchdog", budget: time.Minute,
			wantCalls: []string{"enqueue req-1#1 in 40s", "cancel req-1#1"}, wantState: StatusDone},
		{name: "budget spent: hands over at once", budget: time.Nanosecond,
			wantCalls: []string{"enqueue req-1#1 in 40s", "run req-1#1"}, wantState: StatusRunning},
		{name: "user locked by a merge: retried after its lease", budget: time.Minute, mergeLock: true,
			wantClass: errclass.Retry, wantState: StatusQueued},
		// asynq recovering a killed worker's task, long after the watchdog
		// slice took over: it ends without touching anything.
		{name: "superseded by a newer slice", budget: time.Minute, slice: 1, newer: 2,
			wantState: StatusRunning},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := setup(t)
			ctx := context.Background()
			b.ex.SliceBudget = tt.budget
			if tt.mergeLock {
				l, err := b.ex.Locks.Acquire(ctx, "merge-task", "u-1", "g-9")
				if err != nil {
					t.Fatal(err)
				}
				defer l.Release(ctx)
			}
			if tt.newer > 0 {
				if err := b.ex.Store.SetState(ctx, b.req.ID, State{Status: StatusRunning, Slice: tt.newer}); err != nil {
					t.Fatal(err)
				}
			}
			err := b.ex.RunSlice(ctx, b.req, tt.slice)
			if got := errclass.Of(err); got != tt.wantClass {
				t.Fatalf("RunSlice = %v (class %q), want class %q", err, got, tt.wantClass)
			}
			if d, _ := errclass.Delay(err); tt.mergeLock && d <= 0 {
				t.Errorf("no retry delay from the held lock: %v", err)
			}
			if diff := cmp.Diff(tt.wantCalls, b.queue.calls); diff != "" {
				t.Errorf("successor calls (-want +got):\n%s", diff)
			}
			rec, err := b.ex.Store.Get(ctx, b.req.ID)
			if err != nil || rec.State.Status != tt.wantState {
				t.Errorf("status %q, %v; want %q", rec.State.Status, err, tt.wantState)
			}
		})
	}
}

// A task enqueued without a filing (lifecycle enqueue) still gets its record
// and legal deadline.
func TestRunSliceRecordsAnUnfiledRequest(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	r := Request{ID: "req-raw", UserID: "u-77", FiledBy: "dpo-7", FiledAt: b.now}
	if err := b.ex.RunSlice(ctx, r, 0); err != nil {
		t.Fatal(err)
	}
	rec, err := b.ex.Store.Get(ctx, "req-raw")
	if err != nil || rec.State.Status != StatusDone || !rec.DueAt.Equal(Due(b.now, false)) {
		t.Errorf("record %+v due %v, %v; want done, due a month after filing", rec.State, rec.DueAt, err)
	}
}

func TestRunSliceWithoutReceiptKeyIsPermanent(t *testing.T) {
	b := setup(t)
	b.ex.ReceiptKey = nil
	err := b.ex.RunSlice(context.Background(), b.req, 0)
	if errclass.Of(err) != errclass.Permanent || !errors.Is(err, ErrReceiptKey) {
		t.Errorf("RunSlice = %v, want a permanent error naming the missing key", err)
	}
	if b.artifi.total != 0 || !strings.Contains(err.Error(), "LIFECYCLE_RECEIPT_SIGNING_KEY") {
		t.Errorf("an erasure without a receipt key deleted %d photos (%v)", b.artifi.total, err)
	}
}
