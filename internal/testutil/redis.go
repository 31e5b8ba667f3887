package testutil

import (
	"bytes"
	"context"
	"net"
	"os/exec"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// Redis starts an in-process Redis (miniredis) for the test and returns it,
// for its clock and inspection helpers, with a client on it. Both close when
// the test ends.
func Redis(t testing.TB) (*miniredis.Miniredis, *redis.Client) {
	t.Helper()
	mr := miniredis.RunT(t)
	return mr, Client(t, mr.Addr())
}

// Client returns a new client on addr, closed when the test ends: one per
// simulated process when a test plays several.
func Client(t testing.TB, addr string) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// RealRedis starts Debian's redis-server for the test on a free loopback
// port, with nothing persisted, and returns its address and a client on it.
// The server is killed when the test ends. It is for what miniredis may get
// wrong (Lua scripts, TIME): a missing binary fails the test rather than
// skipping it, so that those checks never silently stop running.
func RealRedis(t testing.TB) (addr string, rdb *redis.Client) {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if bin, err = exec.LookPath("/usr/bin/redis-server"); err != nil {
			t.Fatal("redis-server missing: run make test, which installs it")
		}
	}
	// The port was free a moment ago; if another process took it since, the
	// server exits at once and another port is tried.
	var out bytes.Buffer
	for range 3 {
		addr = FreeAddr(t)
		_, port, _ := net.SplitHostPort(addr)
		out.Reset()
		cmd := exec.Command(bin, "--port", port, "--bind", "127.0.0.1",
			"--save", "", "--appendonly", "no", "--dir", t.TempDir())
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatalf("start redis-server: %v", err)
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		stop := func() { _ = cmd.Process.Kill(); <-exited }
		if answers(addr, exited) {
			t.Cleanup(stop)
			return addr, Client(t, addr)
		}
		stop()
	}
	t.Fatalf("redis-server did not answer PING:\n%s", out.String())
	return "", nil
}

// answers waits until the server on addr answers PING, or has exited, or
// 10 s have passed.
func answers(addr string, exited <-chan struct{}) bool {
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return false
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}

// Backend is a Redis to run a test on: see OnEachRedis.
type Backend struct {
	Addr   string
	Client *redis.Client
	// Mini is the in-process server, for its clock; nil on redis-server.
	Mini *miniredis.Miniredis
}

// OnEachRedis runs test as two subtests, on miniredis and on a real
// redis-server, whose Lua interpreter and clock are production's: code that
// runs scripts or relies on expiries must behave the same on both.
func OnEachRedis(t *testing.T, test func(t *testing.T, b Backend)) {
	t.Run("miniredis", func(t *testing.T) {
		mr, rdb := Redis(t)
		test(t, Backend{Addr: mr.Addr(), Client: rdb, Mini: mr})
	})
	t.Run("redis-server", func(t *testing.T) {
		addr, rdb := RealRedis(t)
		test(t, Backend{Addr: addr, Client: rdb})
	})
}

// FastForward moves Redis's clock on by d, for keys that nothing renews: at
// once on miniredis; on redis-server, whose clock is the wall clock, by
// sleeping, since time passing is then the scenario.
func (b Backend) FastForward(d time.Duration) {
	if b.Mini == nil {
		time.Sleep(d)
		return
	}
	b.Mini.FastForward(d)
}

// Outlive lets d pass on Redis's clock while a keep-alive renews key, held
// for lease. On miniredis the clock moves two thirds of a lease at a time,
// each step once the keep-alive has renewed the key (its time to live is a
// whole lease again): the test waits for renewals, never for a fixed time,
// and a keep-alive slow to be scheduled cannot let the key run out. On
// redis-server it sleeps for d, as FastForward does.
func (b Backend) Outlive(t testing.TB, key string, lease, d time.Duration) {
	t.Helper()
	if b.Mini == nil {
		time.Sleep(d)
		return
	}
	for step := 2 * lease / 3; d > 0; d -= step {
		b.Mini.FastForward(min(d, step))
		Eventually(t, 2*lease, func() bool { return b.Mini.TTL(key) == lease },
			"%s not renewed: time to live %v", key, Later(func() any { return b.Mini.TTL(key) }))
	}
}

// FreeAddr returns a loopback host:port that was free a moment ago.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
