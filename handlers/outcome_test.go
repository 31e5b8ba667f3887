package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hibiken/asynq"
	promtest "github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"

	"github.com/lifecycle-worker/lifecycle/internal/errclass"
	"github.com/lifecycle-worker/lifecycle/internal/logx"
	"github.com/lifecycle-worker/lifecycle/internal/metrics"
	"github.com/lifecycle-worker/lifecycle/internal/testutil"
)

// logLines parses the JSON lines written so far.
func logLines(logs *testutil.Buffer) []map[string]any {
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		m := map[string]any{}
		if json.Unmarshal([]byte(l), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

// TestOutcomes runs each kind of handler result through a real asynq server
// and checks what an operator would see: the task's state in the queue and
// the one outcome line in the log.
func TestOutcomes(t *testing.T) {
	redis := testutil.AsynqRedis(t)
	reg := metrics.New(nil)
	logs := &testutil.Buffer{}
	log := logx.New(logs, "info", "json")

	results := map[string]func(ctx context.Context) error{
		"ok":        func(context.Context) error { return nil },
		"gone":      func(context.Context) error { return errclass.AsGone(errors.New("photo 327 already deleted")) },
		"permanent": func(context.Context) error { return errclass.AsPermanent(errors.New("invalid module")) },
		"transient": func(context.Context) error { return errors.New("connection reset") },
		"later":     func(context.Context) error { return errclass.RetryAfter(errors.New("503"), time.Hour) },
		"throttled": func(context.Context) error { return errclass.Throttled(errors.New("429"), time.Hour) },
		"exhausted": func(context.Context) error { return errors.New("still down") },
		"panics":    func(context.Context) error { panic("nil map") },
		"slow": func(ctx context.Context) error {
			<-ctx.Done() // until the task's timeout
			return ctx.Err()
		},
	}
	mux := asynq.NewServeMux()
	mux.Use(Outcomes(log, reg.Tasks, time.Now, nil))
	for typ, f := range results {
		mux.HandleFunc(typ, func(ctx context.Context, _ *asynq.Task) error {
			SetSystem(ctx, "test-system")
			log.Info().Ctx(ctx).Msg("the handler's own line")
			return f(ctx)
		})
	}
	srv := NewServer(ServerParams{Redis: redis, Concurrency: 4, Queues: map[string]int{"default": 1}, ShutdownTimeout: time.Second, Log: zerolog.Nop()})
	if err := srv.Start(mux); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)

	client := asynq.NewClient(redis)
	defer client.Close()
	ids := map[string]string{}
	for typ := range results {
		retries := 5
		if typ == "exhausted" {
			retries = 0
		}
		opts := []asynq.Option{asynq.MaxRetry(retries), asynq.Retention(time.Hour)}
		if typ == "slow" {
			opts = append(opts, asynq.Timeout(time.Second)) // whole seconds: asynq keeps seconds
		}
		info, err := client.Enqueue(asynq.NewTask(typ, nil), opts...)
		if err != nil {
			t.Fatal(err)
		}
		ids[typ] = info.ID
	}

	type seen struct {
		State   string
		Retried int
		Outcome string
		Class   string
	}
	want := map[string]seen{
		"ok":        {"completed", 0, "succeeded", ""},
		"gone":      {"completed", 0, "already_gone", "already_gone"},
		"permanent": {"archived", 0, "dead_lettered", "permanent"},
		"transient": {"retry", 1, "retried", "retry"},
		"later":     {"retry", 1, "retried", "retry"},
		"throttled": {"retry", 0, "throttled", "retry"}, // a rate limit spends no retry
		"exhausted": {"archived", 0, "dead_lettered", "retry"},
		"panics":    {"archived", 0, "dead_lettered", "permanent"}, // at once, with its place
		"slow":      {"retry", 1, "timed_out", "retry"},            // a failure, not a shutdown
	}
	inspector := testutil.Inspector(t, redis)
	got := map[string]seen{}
	testutil.Eventually(t, 10*time.Second, func() bool {
		for _, l := range logLines(logs) {
			typ, _ := l["type"].(string)
			if _, ok := want[typ]; !ok || got[typ].Outcome != "" || l["outcome"] == nil {
				continue
			}
			info, err := inspector.GetTaskInfo("default", ids[typ])
			if err != nil || info.State == asynq.TaskStateActive {
				continue // the state change may land just after the log line
			}
			class, _ := l["error_class"].(string)
			got[typ] = seen{info.State.String(), info.Retried, l["outcome"].(string), class}
		}
		return len(got) == len(want)
	}, "outcomes seen after 10s: %+v, want %+v\n%s", testutil.Later(func() any { return got }), want, testutil.Later(func() any { return logs.String() }))
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("outcomes (-want +got):\n%s", diff)
	}

	later, _ := inspector.GetTaskInfo("default", ids["later"])
	if wait := time.Until(later.NextProcessAt); wait < 50*time.Minute {
		t.Errorf("Retry-After of 1h ignored: next attempt in %v", wait)
	}
	perm, _ := inspector.GetTaskInfo("default", ids["permanent"])
	if !strings.Contains(perm.LastErr, "invalid module") {
		t.Errorf("dead letter lacks its reason: %q", perm.LastErr)
	}
	panicked, _ := inspector.GetTaskInfo("default", ids["panics"])
	if !strings.Contains(panicked.LastErr, "panic [") || !strings.Contains(panicked.LastErr, "outcome_test.go") {
		t.Errorf("panic error does not name its place: %q", panicked.LastErr)
	}
	msTime := regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}`)
	for _, l := range logLines(logs) {
		fields := []string{"task_id", "type", "time"}
		if l["message"] != "the handler's own line" {
			fields = append(fields, "queue", "attempt", "duration_ms", "outcome", "system")
		}
		for _, field := range fields {
			if _, ok := l[field]; !ok {
				t.Errorf("line lacks %q: %v", field, l)
			}
		}
		if ts, _ := l["time"].(string); !msTime.MatchString(ts) {
			t.Errorf("time %q is not to the millisecond", ts)
		}
	}
	if n := promtest.ToFloat64(reg.Tasks.Outcomes.WithLabelValues("gone", "test-system", "already_gone")); n != 1 {
		t.Errorf("already_gone counter = %v, want 1", n)
	}

	// What asynq counts as failed attempts is what our outcomes count as
	// failures: retried, timed_out and dead_lettered, not throttled. Tasks
	// still being retried move both; they settle together.
	srv.Stop() // no new attempts
	var failed, counted int
	testutil.Eventually(t, 10*time.Second, func() bool {
		q, err := inspector.GetQueueInfo("default")
		if err != nil || q.Active > 0 {
			return false
		}
		failed, counted = q.Failed, 0
		for typ := range results {
			for _, outcome := range metrics.Failures {
				counted += int(promtest.ToFloat64(reg.Tasks.Outcomes.WithLabelValues(typ, "test-system", outcome)))
			}
		}
		return failed == counted
	}, "asynq counted %d failed attempts, our outcomes %d", testutil.Later(func() any { return failed }), testutil.Later(func() any { return counted }))
}
