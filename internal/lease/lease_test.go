package lease

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/google/go-cmp/cmp"
	"github.com/lifecycle-worker/lifecycle/internal/testutil"
	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// ttl is short so that the real Redis can let leases run out in the test.
const ttl = 300 * time.Millisecond

// holders reads every key in the database and its owner.
func holders(t *testing.T, rdb *redis.Client) map[string]string {
	t.Helper()
	keys, err := rdb.Keys(t.Context(), "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, k := range keys {
		got[k] = rdb.Get(t.Context(), k).Val()
	}
	return got
}

// crash stops l's renewals without releasing it, as a dead process would.
func crash(l *Lease) {
	l.stop()
	<-l.done
}

func TestAcquire(t *testing.T) {
	type holding struct {
		owner string
		keys  []string
	}
	tests := []struct {
		name     string
		before   []holding     // taken by owners that then crash
		elapse   time.Duration // passes before "me" acquires
		keys     []string
		want     *HeldError // Wait is checked apart
		wantKeys map[string]string
	}{
		{name: "free", keys: []string{"a"},
			wantKeys: map[string]string{"a": "me"}},
		{name: "re-taken by its owner", before: []holding{{"me", []string{"a"}}}, keys: []string{"a"},
			wantKeys: map[string]string{"a": "me"}},
		{name: "held by another", before: []holding{{"other", []string{"a"}}}, keys: []string{"a"},
			want: &HeldError{Key: "a", Holder: "other"}, wantKeys: map[string]string{"a": "other"}},
		{name: "all or nothing", before: []holding{{"other", []string{"b"}}}, keys: []string{"c", "b", "a"},
			want: &HeldError{Key: "b", Holder: "other"}, wantKeys: map[string]string{"b": "other"}},
		{name: "first held key in sorted order", before: []holding{{"x", []string{"c"}}, {"y", []string{"b"}}}, keys: []string{"c", "b"},
			want: &HeldError{Key: "b", Holder: "y"}, wantKeys: map[string]string{"b": "y", "c": "x"}},
		{name: "several keys, each once", keys: []string{"c", "a", "c"},
			wantKeys: map[string]string{"a": "me", "c": "me"}},
		{name: "free once a crashed holder's lease ran out", before: []holding{{"other", []string{"a", "b"}}}, elapse: 2 * ttl, keys: []string{"a"},
			wantKeys: map[string]string{"a": "me"}},
	}
	testutil.OnEachRedis(t, func(t *testing.T, b testutil.Backend) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				ctx := t.Context()
				if err := b.Client.FlushDB(ctx).Err(); err != nil {
					t.Fatal(err)
				}
				for _, h := range tt.before {
					l, err := Acquire(ctx, b.Client, h.owner, ttl, h.keys...)
					if err != nil {
						t.Fatal(err)
					}
					crash(l)
				}
				b.FastForward(tt.elapse)
				l, err := Acquire(ctx, b.Client, "me", ttl, tt.keys...)
				var got *HeldError
				if err == nil {
					defer crash(l) // keep its keys for the check below
				} else if !errors.As(err, &got) || !errors.Is(err, ErrHeld) {
					t.Fatalf("Acquire: %v, want nil or a *HeldError", err)
				} else {
					if got.Wait <= 0 || got.Wait > ttl {
						t.Errorf("Wait %v, want within (0, %v]", got.Wait, ttl)
					}
					got.Wait = 0
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("held error (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff(tt.wantKeys, holders(t, b.Client)); diff != "" {
					t.Errorf("keys (-want +got):\n%s", diff)
				}
			})
		}
	})
}

func TestRenewedPastLease(t *testing.T) {
	testutil.OnEachRedis(t, func(t *testing.T, b testutil.Backend) {
		l, err := Acquire(t.Context(), b.Client, "me", ttl, "a", "b")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Release(context.Background())
		b.Outlive(t, "b", ttl, 4*ttl)
		if _, err := Acquire(t.Context(), b.Client, "other", ttl, "b"); !errors.Is(err, ErrHeld) {
			t.Errorf("a renewed lease was taken: %v", err)
		}
		if err := l.Err(); err != nil {
			t.Errorf("Err of a renewed lease: %v", err)
		}
	})
}

// A lease whose key another owner took is lost, yet its other keys stay
// held until Release, which deletes only what is still its own.
func TestLostLease(t *testing.T) {
	testutil.OnEachRedis(t, func(t *testing.T, b testutil.Backend) {
		l, err := Acquire(t.Context(), b.Client, "me", ttl, "a", "b")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Release(context.Background())
		// "a" ran out while Redis was out of reach, and another took it.
		if err := b.Client.Set(t.Context(), "a", "other", time.Minute).Err(); err != nil {
			t.Fatal(err)
		}
		select {
		case <-l.Lost():
		case <-time.After(2 * ttl):
			t.Fatal("Lost not closed a lease after the takeover")
		}
		if err := l.Err(); !errors.Is(err, ErrLost) {
			t.Errorf("Err: %v, want ErrLost", err)
		}
		b.Outlive(t, "b", ttl, 2*ttl)
		if diff := cmp.Diff(map[string]string{"a": "other", "b": "me"}, holders(t, b.Client)); diff != "" {
			t.Errorf("keys before release (-want +got):\n%s", diff)
		}
		l.Release(t.Context())
		l.Release(t.Context()) // twice is harmless
		if diff := cmp.Diff(map[string]string{"a": "other"}, holders(t, b.Client)); diff != "" {
			t.Errorf("keys after release (-want +got):\n%s", diff)
		}
	})
}

// Work under a lease's Context stops when the lease is lost, and its error
// says why; work whose lease is held is not disturbed.
func TestContextEndsWhenTheLeaseIsLost(t *testing.T) {
	testutil.OnEachRedis(t, func(t *testing.T, b testutil.Backend) {
		l, err := Acquire(t.Context(), b.Client, "me", ttl, "a")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Release(context.Background())
		ctx, cancel := l.Context(t.Context())
		defer cancel()
		if err := Cause(ctx, errors.New("a step failed")); errors.Is(err, ErrLost) {
			t.Errorf("Cause while held = %v, want the error alone", err)
		}
		if err := b.Client.Set(t.Context(), "a", "other", time.Minute).Err(); err != nil {
			t.Fatal(err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(2 * ttl):
			t.Fatal("the context outlived the lease")
		}
		if err := Cause(ctx, ctx.Err()); !errors.Is(err, ErrLost) || !errors.Is(err, context.Canceled) {
			t.Errorf("Cause after the loss = %v, want ErrLost and the work's own error", err)
		}
	})
}

func TestRedisFailureNamesTheKey(t *testing.T) {
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr(), MaxRetries: -1})
	defer rdb.Close()
	mr.Close()
	_, err := Acquire(t.Context(), rdb, "me", ttl, "b", "a")
	var failed *KeyError
	if !errors.As(err, &failed) || failed.Key != "a" {
		t.Errorf("Acquire with Redis down: %v, want a *KeyError for a", err)
	}
}
