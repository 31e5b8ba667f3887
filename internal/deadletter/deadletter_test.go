package deadletter

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	promtest "github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"

	"github.com/lifecycle-worker/lifecycle/internal/testutil"
)

// TestNoDeadLetterLostWithoutATrace lowers the keep limit to 5, dead-letters
// 8 tasks (7 by failing, 1 archived by hand as asynq's recoverer would, with
// no error handler involved) and checks that all 8 are copied, logged and
// counted once, and that only copied ones are trimmed.
func TestNoDeadLetterLostWithoutATrace(t *testing.T) {
	ctx := context.Background()
	opt := testutil.AsynqRedis(t)
	rdb := testutil.Client(t, opt.Addr)
	store, _ := testutil.FileStore(t)
	client := asynq.NewClient(opt)
	defer client.Close()
	inspector := testutil.Inspector(t, opt)

	mux := asynq.NewServeMux()
	mux.HandleFunc("photo:delete", func(context.Context, *asynq.Task) error {
		return fmt.Errorf("bigin: NO_PERMISSION: %w", asynq.SkipRetry)
	})
	srv := asynq.NewServer(opt, asynq.Config{Concurrency: 2, Queues: map[string]int{"photo": 1}, LogLevel: asynq.FatalLevel})
	if err := srv.Start(mux); err != nil {
		t.Fatal(err)
	}
	for i := range 7 {
		if _, err := client.Enqueue(asynq.NewTask("photo:delete", fmt.Appendf(nil, `{"n":%d}`, i)), asynq.Queue("photo")); err != nil {
			t.Fatal(err)
		}
	}
	var q *asynq.QueueInfo
	testutil.Eventually(t, 10*time.Second, func() bool {
		var err error
		q, err = inspector.GetQueueInfo("photo")
		return err == nil && q.Archived == 7
	}, "tasks not dead-lettered: %+v", testutil.Later(func() any { return q }))
	srv.Shutdown()
	crashed, err := client.Enqueue(asynq.NewTask("user:merge", []byte("not json")), asynq.Queue("merge"))
	if err != nil {
		t.Fatal(err)
	}
	if err := inspector.ArchiveTask("merge", crashed.ID); err != nil {
		t.Fatal(err)
	}

	var logs strings.Builder
	counter := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "x"}, []string{"type", "queue"})
	a := &Archiver{Inspector: inspector, Store: store, Redis: rdb, Keep: 5, Now: time.Now, Log: zerolog.New(&logs), DeadLetters: counter}
	rep, err := a.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(Report{Copied: 8, Trimmed: 2}, rep); diff != "" {
		t.Errorf("first run (-want +got):\n%s", diff)
	}
	// Nothing new: nothing copied or counted twice.
	if rep, err := a.Run(ctx); err != nil || rep != (Report{}) {
		t.Errorf("second run: %+v %v, want nothing to do", rep, err)
	}

	var copies []Record
	for obj, err := range store.List(ctx, "dead-letters/", "") {
		if err != nil {
			t.Fatal(err)
		}
		r, err := store.Get(ctx, obj.Key)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(r)
		r.Close()
		var rec Record
		if err := json.Unmarshal(b, &rec); err != nil {
			t.Fatalf("%s: %v", obj.Key, err)
		}
		copies = append(copies, rec)
	}
	if len(copies) != 8 {
		t.Fatalf("%d copies in storage, want 8", len(copies))
	}
	for _, c := range copies {
		if c.Type == "photo:delete" && !strings.Contains(c.LastError, "NO_PERMISSION") {
			t.Errorf("copy of %s lacks its reason: %q", c.ID, c.LastError)
		}
		if c.Type == "user:merge" && string(c.PayloadRaw) != "not json" {
			t.Errorf("undecodable payload not kept verbatim: %q", c.PayloadRaw)
		}
	}
	if q, _ := inspector.GetQueueInfo("photo"); q.Archived != 5 {
		t.Errorf("photo queue keeps %d dead letters, want 5", q.Archived)
	}
	if n := promtest.ToFloat64(counter.WithLabelValues("photo:delete", "photo")) + promtest.ToFloat64(counter.WithLabelValues("user:merge", "merge")); n != 8 {
		t.Errorf("dead letters counted %v times, want 8", n)
	}
	if got := strings.Count(logs.String(), `"message":"task dead-lettered"`); got != 8 {
		t.Errorf("%d dead-letter log lines, want 8", got)
	}
}
