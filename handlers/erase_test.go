package handlers

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/google/go-cmp/cmp"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/lifecycle-worker/lifecycle/internal/erasure"
	"github.com/lifecycle-worker/lifecycle/internal/errclass"
	"github.com/lifecycle-worker/lifecycle/internal/identity"
	"github.com/lifecycle-worker/lifecycle/internal/storage"
	"github.com/lifecycle-worker/lifecycle/internal/userlock"
	"github.com/lifecycle-worker/lifecycle/tasks"
)

// eraseArtifi is an Artifi with a few photos and no failures.
type eraseArtifi struct {
	mu     sync.Mutex
	photos map[string][]string
}

func (f *eraseArtifi) AllUserPhotoIDs(_ context.Context, u string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.photos[u]...), nil
}
func (f *eraseArtifi) DeleteUserPhotoV3(context.Context, string, string) error { return nil }
func (f *eraseArtifi) DeleteUserPhotoV4(_ context.Context, u, _ string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.photos[u] = f.photos[u][1:] // order does not matter to the test
	return nil
}
func (f *eraseArtifi) DeleteDesignsByUserID(context.Context, string) error { return nil }
func (f *eraseArtifi) UpdateUserID(context.Context, string, string, bool) error {
	return nil
}

// eraseContinuer records what a slice asked of its successor.
type eraseContinuer struct{ calls []string }

func (c *eraseContinuer) Schedule(_ context.Context, p tasks.UserErasePayload, d time.Duration) error {
	c.calls = append(c.calls, "schedule "+p.RequestID+"#"+itoa(p.Slice)+" in "+d.String())
	return nil
}
func (c *eraseContinuer) RunNow(_ context.Context, p tasks.UserErasePayload) error {
	c.calls = append(c.calls, "run "+p.RequestID+"#"+itoa(p.Slice))
	return nil
}
func (c *eraseContinuer) Cancel(_ context.Context, p tasks.UserErasePayload) error {
	c.calls = append(c.calls, "cancel "+p.RequestID+"#"+itoa(p.Slice))
	return nil
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestUserEraseSlices(t *testing.T) {
	ctx := context.Background()
	payload := tasks.UserErasePayload{RequestID: "gdpr-1", UserID: "u-1", FiledBy: "dpo-1", FiledAt: time.Now()}
	tests := []struct {
		name      string
		slice     time.Duration
		mergeLock bool // a merge holds the user's lock
		wantClass errclass.Class
		wantCalls []string
		wantState erasure.Status
	}{
		{"finishes and cancels its watchdog", time.Minute, false, "",
			[]string{"schedule gdpr-1#1 in 40s", "cancel gdpr-1#1"}, erasure.StatusDone},
		{"budget spent: hands over at once", time.Nanosecond, false, "",
			[]string{"schedule gdpr-1#1 in 40s", "run gdpr-1#1"}, erasure.StatusRunning},
		{"user locked by a merge: retried after its lease", time.Minute, true, errclass.Retry,
			nil, erasure.StatusQueued},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mr := miniredis.RunT(t)
			rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
			defer rdb.Close()
			st, err := storage.Open(ctx, "file://"+t.TempDir(), storage.Credentials{})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			locks := userlock.New(rdb, time.Minute)
			if tt.mergeLock {
				l, err := locks.Acquire(ctx, "merge-task", "u-1", "g-1")
				if err != nil {
					t.Fatal(err)
				}
				defer l.Release(ctx)
			}
			next := &eraseContinuer{}
			h := NewUserErase(Deps{Artifi: &eraseArtifi{photos: map[string][]string{"u-1": {"1", "2", "3"}}},
				Store: st, Redis: rdb, Identity: identity.New(rdb), Locks: locks, Now: time.Now, Log: zerolog.Nop(),
				ReceiptKey: []byte("0123456789abcdef")})
			h.Next, h.Slice = next, tt.slice
			task, err := tasks.NewUserEraseTask(payload)
			if err != nil {
				t.Fatal(err)
			}
			err = h.ProcessTask(ctx, asynq.NewTask(task.Type(), task.Payload()))
			if got := errclass.Of(err); got != tt.wantClass {
				t.Fatalf("ProcessTask = %v (class %q), want class %q", err, got, tt.wantClass)
			}
			if d, _ := errclass.Delay(err); tt.mergeLock && d <= 0 {
				t.Errorf("no retry delay from the held lock: %v", err)
			}
			if diff := cmp.Diff(tt.wantCalls, next.calls); diff != "" {
				t.Errorf("successor calls (-want +got):\n%s", diff)
			}
			rec, err := erasure.NewStore(rdb).Get(ctx, "gdpr-1")
			if err != nil || rec.State.Status != tt.wantState {
				t.Errorf("status %q, %v; want %q", rec.State.Status, err, tt.wantState)
			}
		})
	}
}

func TestUserEraseWithoutReceiptKeyIsDeadLettered(t *testing.T) {
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer rdb.Close()
	st, err := storage.Open(context.Background(), "file://"+t.TempDir(), storage.Credentials{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	h := NewUserErase(Deps{Store: st, Redis: rdb, Identity: identity.New(rdb), Locks: userlock.New(rdb, 0)})
	task, _ := tasks.NewUserEraseTask(tasks.UserErasePayload{RequestID: "r", UserID: "u", FiledBy: "d", FiledAt: time.Now()})
	err = h.ProcessTask(context.Background(), asynq.NewTask(task.Type(), task.Payload()))
	if errclass.Of(err) != errclass.Permanent || !errors.Is(err, erasure.ErrReceiptKey) {
		t.Errorf("ProcessTask = %v, want a permanent error naming the missing key", err)
	}
}
