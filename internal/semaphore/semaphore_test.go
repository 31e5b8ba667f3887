package semaphore

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"github.com/lifecycle-worker/lifecycle/internal/rkeys"
	"github.com/lifecycle-worker/lifecycle/internal/testutil"
)

func TestNeverMoreThanLimit(t *testing.T) {
	testutil.OnEachRedis(t, func(t *testing.T, b testutil.Backend) {
		const limit, processes, goroutines, rounds = 4, 3, 8, 15
		var inside, peak, done atomic.Int64
		var wg sync.WaitGroup
		for range processes {
			// One client and one Semaphore per simulated process.
			sem := New(testutil.Client(t, b.Addr), "artifi", limit, WithPoll(time.Millisecond, 5*time.Millisecond))
			for range goroutines {
				wg.Go(func() {
					for range rounds {
						release, err := sem.Acquire(context.Background())
						if err != nil {
							t.Error(err)
							return
						}
						n := inside.Add(1)
						for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
						}
						time.Sleep(time.Millisecond) // the call the slot is for
						inside.Add(-1)
						release()
						done.Add(1)
					}
				})
			}
		}
		wg.Wait()
		if got, want := done.Load(), int64(processes*goroutines*rounds); got != want {
			t.Fatalf("%d calls completed, want %d", got, want)
		}
		if p := peak.Load(); p > limit || p < 2 {
			t.Errorf("peak concurrency %d, want between 2 and %d", p, limit)
		}
		n, err := New(testutil.Client(t, b.Addr), "artifi", limit).Holders(context.Background())
		if err != nil || n != 0 {
			t.Errorf("Holders after all released = %d, %v; want 0", n, err)
		}
	})
}

func TestExpiredLeaseIsReclaimed(t *testing.T) {
	testutil.OnEachRedis(t, func(t *testing.T, b testutil.Backend) {
		ctx := context.Background()
		rdb := b.Client
		// A process that died holding both slots: leases that ran out a
		// moment ago, never released.
		now, err := rdb.Time(ctx).Result()
		if err != nil {
			t.Fatal(err)
		}
		key := rkeys.Semaphore("bpm")
		rdb.ZAdd(ctx, key, redis.Z{Score: float64(now.UnixMilli() - 1), Member: "dead-1"},
			redis.Z{Score: float64(now.UnixMilli() - 1), Member: "dead-2"})

		sem := New(testutil.Client(t, b.Addr), "bpm", 2)
		ctx1, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		var releases []func()
		for range 2 {
			release, err := sem.Acquire(ctx1)
			if err != nil {
				t.Fatalf("Acquire with only expired holders: %v", err)
			}
			releases = append(releases, release)
		}
		members, _ := rdb.ZRange(ctx, key, 0, -1).Result()
		if len(members) != 2 || members[0] == "dead-1" || members[1] == "dead-2" {
			t.Errorf("members = %v, want the two new holders only", members)
		}
		for _, r := range releases {
			r()
		}
	})
}

func TestCrashedHolderFreesItsSlotAfterLease(t *testing.T) {
	testutil.OnEachRedis(t, func(t *testing.T, b testutil.Backend) {
		ctx := context.Background()
		const lease = 150 * time.Millisecond
		// A holder whose process died just after acquiring: its lease is
		// never renewed nor released.
		rdb := b.Client
		rdb.Del(ctx, rkeys.Semaphore("zoho"))
		now, _ := rdb.Time(ctx).Result()
		rdb.ZAdd(ctx, rkeys.Semaphore("zoho"), redis.Z{Score: float64(now.Add(lease).UnixMilli()), Member: "crashed"})
		sem := New(testutil.Client(t, b.Addr), "zoho", 1, WithPoll(time.Millisecond, 5*time.Millisecond))
		start := time.Now()
		release, err := sem.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		release()
		if d := time.Since(start); d < lease/2 || d > lease+time.Second {
			t.Errorf("slot of a crashed holder freed after %v, want about %v", d, lease)
		}
	})
}

func TestReleaseIsIdempotent(t *testing.T) {
	testutil.OnEachRedis(t, func(t *testing.T, b testutil.Backend) {
		ctx := context.Background()
		sem := New(testutil.Client(t, b.Addr), "artifi", 2)
		r1, err := sem.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		r2, err := sem.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		r1()
		r1() // must not free r2's slot
		if n, _ := sem.Holders(ctx); n != 1 {
			t.Errorf("Holders after releasing one of two twice = %d, want 1", n)
		}
		r2()
		if n, _ := sem.Holders(ctx); n != 0 {
			t.Errorf("Holders = %d, want 0", n)
		}
	})
}

func TestAcquireHonoursContext(t *testing.T) {
	testutil.OnEachRedis(t, func(t *testing.T, b testutil.Backend) {
		sem := New(testutil.Client(t, b.Addr), "artifi", 1)
		release, err := sem.Acquire(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		defer release()

		tests := []struct {
			name string
			ctx  func() (context.Context, context.CancelFunc)
			want error
		}{
			{"deadline", func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), 30*time.Millisecond)
			}, context.DeadlineExceeded},
			{"cancelled before", func() (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				return ctx, cancel
			}, context.Canceled},
		}
		for _, tt := range tests {
			ctx, cancel := tt.ctx()
			_, err := sem.Acquire(ctx)
			cancel()
			if err != tt.want {
				t.Errorf("%s: Acquire = %v, want exactly %v", tt.name, err, tt.want)
			}
		}
		if n, _ := sem.Holders(context.Background()); n != 1 {
			t.Errorf("Holders = %d, want 1 (failed acquires leave nothing)", n)
		}
	})
}

func TestLeaseIsRenewedWhileHeld(t *testing.T) {
	testutil.OnEachRedis(t, func(t *testing.T, b testutil.Backend) {
		ctx := context.Background()
		const lease = 90 * time.Millisecond
		sem := New(testutil.Client(t, b.Addr), "artifi", 1, WithLease(lease))
		release, err := sem.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(4 * lease) // a call longer than the lease
		n, err := sem.Holders(ctx)
		release()
		if err != nil || n != 1 {
			t.Errorf("Holders after 4 leases held = %d, %v; want 1 (renewed)", n, err)
		}
	})
}

// TestLostSlotIsNotRenewed: a holder whose lease ran out and was counted
// out by another acquirer must not take its slot back when it renews, or
// the limit would be exceeded.
func TestLostSlotIsNotRenewed(t *testing.T) {
	testutil.OnEachRedis(t, func(t *testing.T, b testutil.Backend) {
		ctx := context.Background()
		const lease = 30 * time.Millisecond
		rdb := b.Client
		sem := New(testutil.Client(t, b.Addr), "bpm", 1, WithLease(lease))
		release, err := sem.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer release()
		// What another acquirer's script does to an expired lease.
		if err := rdb.Del(ctx, rkeys.Semaphore("bpm")).Err(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(3 * lease) // renewals come due, and must find the slot gone
		if n, err := rdb.Exists(ctx, rkeys.Semaphore("bpm")).Result(); err != nil || n != 0 {
			t.Errorf("semaphore key exists = %d, %v after the slot was lost; want 0 (not renewed)", n, err)
		}
	})
}

func TestZeroLimit(t *testing.T) {
	_, c := testutil.Redis(t)
	_, err := New(c, "x", 0).Acquire(context.Background())
	if diff := cmp.Diff(ErrLimit.Error(), err.Error()); diff != "" {
		t.Error(diff)
	}
}

// holderProcessEnv makes the test binary a process that takes every slot of
// a semaphore and holds them until it is killed (see
// TestKilledHolderFreesItsSlotsWithinSeconds).
const holderProcessEnv = "SEMAPHORE_TEST_HOLDER_ADDR"

func TestKilledHolderFreesItsSlotsWithinSeconds(t *testing.T) {
	if addr := os.Getenv(holderProcessEnv); addr != "" {
		holdUntilKilled(addr)
		return
	}
	testutil.OnEachRedis(t, func(t *testing.T, b testutil.Backend) {
		const limit, heartbeat = 3, time.Second
		ctx := context.Background()
		cmd := exec.Command(os.Args[0], "-test.run=^TestKilledHolderFreesItsSlotsWithinSeconds$")
		cmd.Env = append(os.Environ(), holderProcessEnv+"="+b.Addr)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		line, err := bufio.NewReader(out).ReadString('\n')
		if err != nil || line != "held\n" {
			t.Fatalf("holder process said %q, %v", line, err)
		}

		sem := New(testutil.Client(t, b.Addr), "artifi", limit, WithHeartbeat(heartbeat), WithPoll(time.Millisecond, 20*time.Millisecond))
		// While the holder lives, beating, its slots stay its own, longer
		// than a heartbeat's time to live.
		short, cancel := context.WithTimeout(ctx, 2*heartbeat)
		_, err = sem.Acquire(short)
		cancel()
		if err == nil {
			t.Fatal("acquired a slot while a live process held them all")
		}

		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()
		killed := time.Now()
		if b.Mini != nil {
			b.FastForward(heartbeat) // miniredis's clock moves only when told
		}
		var releases []func()
		for range limit {
			wait, cancel := context.WithTimeout(ctx, 10*time.Second)
			release, err := sem.Acquire(wait)
			cancel()
			if err != nil {
				t.Fatalf("slots of a killed holder not back after %v: %v", time.Since(killed), err)
			}
			releases = append(releases, release)
		}
		if d := time.Since(killed); d > heartbeat+time.Second {
			t.Errorf("slots of a killed holder back after %v, want within its heartbeat (%v), not a lease (%v)", d, heartbeat, LeaseDefault)
		}
		// And the limit still holds: the dead holder's slots were replaced,
		// not added to.
		short, cancel = context.WithTimeout(ctx, 300*time.Millisecond)
		_, err = sem.Acquire(short)
		cancel()
		if err == nil {
			t.Errorf("acquired slot %d of %d", limit+1, limit)
		}
		if n, err := sem.Holders(ctx); err != nil || n != limit {
			t.Errorf("Holders = %d, %v; want %d", n, err, limit)
		}
		for _, r := range releases {
			r()
		}
	})
}

// holdUntilKilled is the holder process: every slot, then nothing.
func holdUntilKilled(addr string) {
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	sem := New(rdb, "artifi", 3, WithHeartbeat(time.Second))
	for range 3 {
		if _, err := sem.Acquire(context.Background()); err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
	}
	fmt.Println("held")
	select {}
}
