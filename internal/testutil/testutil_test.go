package testutil_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"
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
	_, mini := testutil.Redis(t)
	_, server := testutil.RealRedis(t)
	for _, tt := range []struct {
		name string
		rdb  *redis.Client
	}{{"miniredis", mini}, {"redis-server", server}} {
		got, err := tt.rdb.Eval(t.Context(), `redis.call("SET", KEYS[1], ARGV[1]); return redis.call("GET", KEYS[1])`, []string{"k"}, "v").Text()
		if err != nil || got != "v" {
			t.Errorf("%s: script = %q, %v; want v", tt.name, got, err)
		}
	}
}
