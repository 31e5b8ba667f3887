package handlers

import (
	"context"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/lifecycle-worker/lifecycle/internal/completion"
	"github.com/lifecycle-worker/lifecycle/internal/logx"
	"github.com/lifecycle-worker/lifecycle/internal/metrics"
	"github.com/lifecycle-worker/lifecycle/internal/testutil"
)

// TestAsynqRerunsACompletionItCouldNotRecord reproduces the asynq v0.26.0
// defect that Completions works around: Redis unreachable for a moment just
// as a handler returns success leaves the task active, even after Redis is
// back and asynq's syncer has retried (it retries on a context that
// markAsComplete already cancelled), until the recoverer runs it again.
//
// Without Completions the upstream is called twice; with it, once, and the
// second run is logged as already_completed. When the first case fails
// (asynq recorded the completion after all), asynq is fixed and Completions,
// internal/completion and this test can go.
func TestAsynqRerunsACompletionItCouldNotRecord(t *testing.T) {
	for _, tc := range []struct {
		name        string
		completions bool
		wantCalls   int
		wantOutcome []string
	}{
		{"asynq alone", false, 2, []string{"succeeded", "succeeded"}},
		{"with completion records", true, 1, []string{"succeeded", "already_completed"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr, direct := testutil.RealRedis(t)
			blip := newBlipProxy(t, addr)
			logs := &testutil.Buffer{}
			log := logx.New(logs, "info", "json")
			reg := metrics.New(nil)
			var calls atomic.Int32

			// The blip starts once the first run's handler and middleware
			// have returned, before asynq marks the task complete, and
			// lasts longer than go-redis's own retries.
			var once sync.Once
			cutOnReturn := func(next asynq.Handler) asynq.Handler {
				return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
					err := next.ProcessTask(ctx, t)
					once.Do(func() { blip.cut(3 * time.Second) })
					return err
				})
			}
			mux := asynq.NewServeMux()
			mux.Use(cutOnReturn, Outcomes(log, reg.Tasks, time.Now, nil))
			if tc.completions {
				viaProxy := redis.NewClient(&redis.Options{Addr: blip.addr()})
				t.Cleanup(func() { _ = viaProxy.Close() })
				mux.Use(Completions(&completion.Store{Redis: viaProxy}, log))
			}
			mux.HandleFunc("test:upstream-call", func(context.Context, *asynq.Task) error {
				calls.Add(1)
				return nil
			})

			client := asynq.NewClientFromRedisClient(direct)
			defer client.Close()
			info, err := client.Enqueue(asynq.NewTask("test:upstream-call", nil),
				asynq.TaskID("t1"), asynq.MaxRetry(5), asynq.Retention(time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			inspector := asynq.NewInspectorFromRedisClient(direct)

			first := defectServer(asynq.RedisClientOpt{Addr: blip.addr()})
			if err := first.Start(mux); err != nil {
				t.Fatal(err)
			}
			testutil.Eventually(t, 10*time.Second, func() bool { return calls.Load() == 1 }, "first run not seen")
			// Redis is back after 3 s; asynq's syncer retries every 5 s.
			time.Sleep(7 * time.Second)
			got, err := inspector.GetTaskInfo(info.Queue, info.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.State != asynq.TaskStateActive {
				t.Fatalf("after the blip the task is %s, not active: asynq recorded the completion itself, so it is fixed and Completions can go", got.State)
			}
			first.Shutdown()

			// The recoverer takes a task whose lease ran out 30 s ago; move
			// the lease back instead of waiting a minute, then start a
			// worker, whose recoverer runs at once.
			if err := direct.ZAdd(context.Background(), "asynq:{"+info.Queue+"}:lease",
				redis.Z{Score: float64(time.Now().Add(-time.Minute).Unix()), Member: info.ID}).Err(); err != nil {
				t.Fatal(err)
			}
			second := defectServer(asynq.RedisClientOpt{Addr: addr})
			if err := second.Start(mux); err != nil {
				t.Fatal(err)
			}
			defer second.Shutdown()
			testutil.WaitTask(t, inspector, info.Queue, info.ID, asynq.TaskStateCompleted, 20*time.Second)
			_ = inspector.Close()

			if n := int(calls.Load()); n != tc.wantCalls {
				t.Errorf("upstream called %d times, want %d", n, tc.wantCalls)
			}
			var outcomes []string
			for _, l := range logLines(logs) {
				if o, ok := l["outcome"].(string); ok {
					outcomes = append(outcomes, o)
				}
			}
			if strings.Join(outcomes, ",") != strings.Join(tc.wantOutcome, ",") {
				t.Errorf("outcome lines %v, want %v", outcomes, tc.wantOutcome)
			}
		})
	}
}

func defectServer(r asynq.RedisConnOpt) *asynq.Server {
	return asynq.NewServer(r, asynq.Config{
		Concurrency:              1,
		RetryDelayFunc:           func(int, error, *asynq.Task) time.Duration { return 0 },
		DelayedTaskCheckInterval: 100 * time.Millisecond,
		TaskCheckInterval:        100 * time.Millisecond,
		ShutdownTimeout:          time.Second,
		Logger:                   asynqLogger{zerolog.Nop()},
	})
}

// blipProxy forwards TCP to a Redis and can make it unreachable for a while:
// open connections are closed and new ones are dropped on arrival.
type blipProxy struct {
	ln    net.Listener
	mu    sync.Mutex
	down  bool
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

func newBlipProxy(t *testing.T, target string) *blipProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &blipProxy{ln: ln, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.serve(c, target)
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		p.closeAll()
		p.wg.Wait()
	})
	return p
}

func (p *blipProxy) addr() string { return p.ln.Addr().String() }

func (p *blipProxy) serve(c net.Conn, target string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.down {
		_ = c.Close()
		return
	}
	up, err := net.Dial("tcp", target)
	if err != nil {
		_ = c.Close()
		return
	}
	p.conns[c], p.conns[up] = struct{}{}, struct{}{}
	pipe := func(dst, src net.Conn) {
		defer p.wg.Done()
		_, _ = io.Copy(dst, src)
		_ = dst.Close()
		_ = src.Close()
	}
	p.wg.Add(2)
	go pipe(up, c)
	go pipe(c, up)
}

func (p *blipProxy) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		_ = c.Close()
	}
	clear(p.conns)
}

// cut makes Redis unreachable through the proxy for d.
func (p *blipProxy) cut(d time.Duration) {
	p.mu.Lock()
	p.down = true
	p.mu.Unlock()
	p.closeAll()
	time.AfterFunc(d, func() {
		p.mu.Lock()
		p.down = false
		p.mu.Unlock()
	})
}
