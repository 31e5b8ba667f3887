package userlock

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

func setup(t *testing.T, lease time.Duration) (*Locker, *miniredis.Miniredis) {
	t.Helper()
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { rdb.Close() })
	return New(rdb, lease), mr
}

func TestExclusiveAcrossOwners(t *testing.T) {
	ctx := context.Background()
	l, _ := setup(t, time.Minute)
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
}

func TestAllOrNothing(t *testing.T) {
	ctx := context.Background()
	l, mr := setup(t, time.Minute)
	other, err := l.Acquire(ctx, "other", "b")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Release(ctx)
	if _, err := l.Acquire(ctx, "mine", "a", "b"); !errors.Is(err, ErrHeld) {
		t.Fatalf("got %v, want ErrHeld", err)
	}
	if mr.Exists("lifecycle:lock:user:a") {
		t.Error("a failed Acquire left a lock behind on a")
	}
}

func TestCrashedOwnerFreesAfterLease(t *testing.T) {
	ctx := context.Background()
	l, mr := setup(t, 3*time.Second)
	// The crashed process has its own connection to Redis, cut when it dies:
	// no more renewals, no release.
	conn := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	crashed, err := New(conn, 3*time.Second).Acquire(ctx, "crashed", "u")
	if err != nil {
		t.Fatal(err)
	}
	conn.Close()
	defer crashed.Release(ctx) // ends its keep-alive, whose calls now fail
	if _, err := l.Acquire(ctx, "next", "u"); !errors.Is(err, ErrHeld) {
		t.Fatalf("before the lease ran out: %v, want ErrHeld", err)
	}
	mr.FastForward(4 * time.Second)
	next, err := l.Acquire(ctx, "next", "u")
	if err != nil {
		t.Fatalf("after the lease ran out: %v", err)
	}
	next.Release(ctx)
}

func TestHolderKeepsLockPastLease(t *testing.T) {
	ctx := context.Background()
	l, mr := setup(t, 300*time.Millisecond)
	mr.SetTime(time.Now())
	lk, err := l.Acquire(ctx, "long", "u")
	if err != nil {
		t.Fatal(err)
	}
	defer lk.Release(ctx)
	for range 6 { // 1.2 s of work, four leases long
		time.Sleep(200 * time.Millisecond)
		mr.FastForward(200 * time.Millisecond)
	}
	if _, err := l.Acquire(ctx, "intruder", "u"); !errors.Is(err, ErrHeld) {
		t.Fatalf("a renewed lock was taken: %v", err)
	}
}
