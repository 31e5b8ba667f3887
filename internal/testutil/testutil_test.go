package testutil_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/lifecycle-worker/lifecycle/internal/testutil"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestLaterIsFormattedWhenPrinted(t *testing.T) {
	type state struct{ Phase string }
	s := state{"mark"}
	arg := testutil.Later(func() any { return s })
	s.Phase = "move"
	if diff := cmp.Diff("{Phase:move} {move}", fmt.Sprintf("%+v %v", arg, arg)); diff != "" {
		t.Error(diff)
	}
}

func TestEventuallyWaitsForTheCondition(t *testing.T) {
	calls := 0
	testutil.Eventually(t, 5*time.Second, func() bool { calls++; return calls == 3 }, "never true")
	if calls != 3 {
		t.Errorf("cond called %d times, want 3", calls)
	}
}

// Both Redis kinds run a Lua script: the reason RealRedis exists.
func TestRedisRunsScripts(t *testing.T) {
	testutil.OnEachRedis(t, func(t *testing.T, b testutil.Backend) {
		got, err := b.Client.Eval(t.Context(), `redis.call("SET", KEYS[1], ARGV[1]); return redis.call("GET", KEYS[1])`, []string{"k"}, "v").Text()
		if err != nil || got != "v" {
			t.Errorf("script = %q, %v; want v", got, err)
		}
	})
}

// A key that its holder renews outlives its lease, on both clocks.
func TestOutliveWithRenewals(t *testing.T) {
	const lease = 90 * time.Millisecond
	testutil.OnEachRedis(t, func(t *testing.T, b testutil.Backend) {
		if err := b.Client.Set(t.Context(), "k", "me", lease).Err(); err != nil {
			t.Fatal(err)
		}
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() { // a keep-alive, as internal/lease runs one
			defer close(done)
			tick := time.NewTicker(lease / 3)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
					b.Client.PExpire(t.Context(), "k", lease)
				}
			}
		}()
		b.Outlive(t, "k", lease, 4*lease)
		close(stop)
		<-done
		if n, err := b.Client.Exists(t.Context(), "k").Result(); err != nil || n != 1 {
			t.Errorf("renewed key after four leases: exists %d, %v", n, err)
		}
		b.FastForward(2 * lease)
		if n, err := b.Client.Exists(t.Context(), "k").Result(); err != nil || n != 0 {
			t.Errorf("key no longer renewed, two leases on: exists %d, %v", n, err)
		}
	})
}
