package scheduler

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hibiken/asynq"
	"github.com/rs/zerolog"

	"github.com/lifecycle-worker/lifecycle/internal/testutil"
)

// TestBuiltinFirings pins what each built-in entry enqueues, as asynq
// stores it: the entries take their numbers from the tasks policies, and a
// change there must not change a firing by accident.
func TestBuiltinFirings(t *testing.T) {
	redis := testutil.AsynqRedis(t)
	client := asynq.NewClient(redis)
	defer client.Close()
	start := time.Date(2026, 11, 28, 0, 0, 30, 0, time.UTC)
	now := start
	s, err := New(Params{Client: client, Builtin: Builtin(), Now: func() time.Time { return now }, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	now = start.Add(24 * time.Hour) // every entry is due, each fires once
	s.fireDue(context.Background())

	type firing struct {
		ID, Type, Payload, Queue string
		MaxRetry                 int
		Timeout, Retention       time.Duration
	}
	want := []firing{
		{FiringID("dead-letter-archiver", start.Add(30*time.Second)), "deadletters:archive", "{}", "sweep", 25, 30 * time.Minute, time.Hour},
		{FiringID("assets-sweep", time.Date(2026, 11, 28, 3, 17, 0, 0, time.UTC)), "assets:sweep", `{"mode":"quarantine"}`, "sweep", 5, 6 * time.Hour, 48 * time.Hour},
		{FiringID("assets-purge", time.Date(2026, 11, 28, 4, 47, 0, 0, time.UTC)), "assets:sweep", `{"mode":"purge"}`, "sweep", 5, 6 * time.Hour, 48 * time.Hour},
	}
	inspector := testutil.Inspector(t, redis)
	var got []firing
	for _, w := range want {
		info, err := inspector.GetTaskInfo(w.Queue, w.ID)
		if err != nil {
			t.Errorf("%s: %v", w.ID, err)
			continue
		}
		got = append(got, firing{info.ID, info.Type, string(info.Payload), info.Queue, info.MaxRetry, info.Timeout, info.Retention})
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("built-in firings (-want, +got):\n%s", diff)
	}
}
