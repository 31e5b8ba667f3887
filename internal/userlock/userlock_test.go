package userlock

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/lifecycle-worker/lifecycle/internal/rkeys"
	"github.com/lifecycle-worker/lifecycle/internal/testutil"
)

// ttl is the lease, short so that the real Redis can let locks run out in
// the test.
const ttl = 300 * time.Millisecond

func TestExclusiveAcrossOwners(t *testing.T) {
	testutil.OnEachRedis(t, func(t *testing.T, b testutil.Backend) {
		ctx := context.Background()
		l := New(b.Client, time.Minute)
		merge, err := l.Acquire(ctx, "merge-task", "guest-1", "user-1")
		if err != nil {
			t.Fatal(err)
		}
		_, err = l.Acquire(ctx, "erase-task", "user-1")
		var held *HeldError
		if !errors.As(err, &held) || held.UserID != "user-1" || !errors.Is(err, ErrHeld) {
			t.Fatalf("erase while merge holds user-1: %v, want HeldError for user-1", err)
		}
		// The same task retried (after a crash) gets its own lock back.
		again, err := l.Acquire(ctx, "merge-task", "user-1", "guest-1")
		if err != nil {
			t.Fatalf("owner re-acquire: %v", err)
		}
		again.Release(ctx)
		merge.Release(ctx)
		erase, err := l.Acquire(ctx, "erase-task", "user-1")
		if err != nil {
			t.Fatalf("after release: %v", err)
		}
		erase.Release(ctx)
		erase.Release(ctx) // twice is harmless
	})
}

func TestAllOrNothing(t *testing.T) {
	testutil.OnEachRedis(t, func(t *testing.T, b testutil.Backend) {
		ctx := context.Background()
		l := New(b.Client, time.Minute)
		other, err := l.Acquire(ctx, "other", "b")
		if err != nil {
			t.Fatal(err)
		}
		defer other.Release(ctx)
		if _, err := l.Acquire(ctx, "mine", "a", "b"); !errors.Is(err, ErrHeld) {
			t.Fatalf("got %v, want ErrHeld", err)
		}
		if n, err := b.Client.Exists(ctx, "lifecycle:lock:user:a").Result(); err != nil || n != 0 {
			t.Errorf("a failed Acquire left a lock behind on a (exists %d, %v)", n, err)
		}
	})
}

func TestCrashedOwnerFreesAfterLease(t *testing.T) {
	testutil.OnEachRedis(t, func(t *testing.T, b testutil.Backend) {
		ctx := context.Background()
		l := New(b.Client, ttl)
		// The crashed process has its own connection to Redis, cut when it
		// dies: no more renewals, no release.
		conn := testutil.Client(t, b.Addr)
		crashed, err := New(conn, ttl).Acquire(ctx, "crashed", "u")
		if err != nil {
			t.Fatal(err)
		}
		conn.Close()
		defer crashed.Release(ctx) // ends its keep-alive, whose calls now fail
		if _, err := l.Acquire(ctx, "next", "u"); !errors.Is(err, ErrHeld) {
			t.Fatalf("before the lease ran out: %v, want ErrHeld", err)
		}
		b.FastForward(ttl + ttl/3)
		next, err := l.Acquire(ctx, "next", "u")
		if err != nil {
			t.Fatalf("after the lease ran out: %v", err)
		}
		next.Release(ctx)
	})
}

func TestHolderKeepsLockPastLease(t *testing.T) {
	testutil.OnEachRedis(t, func(t *testing.T, b testutil.Backend) {
		ctx := context.Background()
		l := New(b.Client, ttl)
		lk, err := l.Acquire(ctx, "long", "u")
		if err != nil {
			t.Fatal(err)
		}
		defer lk.Release(ctx)
		b.Outlive(t, rkeys.UserLock("u"), ttl, 4*ttl)
		if _, err := l.Acquire(ctx, "intruder", "u"); !errors.Is(err, ErrHeld) {
			t.Fatalf("a renewed lock was taken: %v", err)
		}
	})
}
