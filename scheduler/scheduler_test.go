package scheduler

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hibiken/asynq"
	"github.com/rs/zerolog"

	"github.com/lifecycle-worker/lifecycle/internal/testutil"
)

// TestManySchedulersEnqueueEachFiringOnce runs three schedulers whose clocks
// disagree by up to 40 s over five minutely firings, and checks that every
// firing is enqueued exactly once: by one scheduler, which logs it, while
// the two others meet its task id and log that quietly.
func TestManySchedulersEnqueueEachFiringOnce(t *testing.T) {
	redis := testutil.AsynqRedis(t)
	client := asynq.NewClient(redis)
	defer client.Close()

	start := time.Date(2026, 11, 28, 3, 0, 10, 0, time.UTC)
	builtin := []Entry{{Name: "sweep", Cron: "* * * * *", Type: "assets:sweep", Queue: "sweep"}}
	var clocks []*time.Time
	var scheds []*Scheduler
	var logs []*bytes.Buffer
	for i := range 3 {
		now := start.Add(time.Duration(i) * 20 * time.Second)
		clocks = append(clocks, &now)
		logs = append(logs, &bytes.Buffer{})
		s, err := New(Params{Client: client, Builtin: builtin, Now: func() time.Time { return *clocks[i] }, Log: zerolog.New(logs[i])})
		if err != nil {
			t.Fatal(err)
		}
		scheds = append(scheds, s)
	}
	for step := range 5 * 6 { // five minutes in 10 s steps
		for i, s := range scheds {
			*clocks[i] = start.Add(time.Duration(step)*10*time.Second + time.Duration(i)*20*time.Second)
			s.fireDue(context.Background())
		}
	}

	inspector := testutil.Inspector(t, redis)
	pending, err := inspector.ListPendingTasks("sweep")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range pending {
		got = append(got, p.ID)
	}
	sort.Strings(got)
	var want []string
	wantLogged := map[string]logged{}
	for m := 1; m <= 5; m++ {
		id := FiringID("sweep", time.Date(2026, 11, 28, 3, m, 0, 0, time.UTC))
		want = append(want, id)
		wantLogged[id] = logged{Enqueued: 1, Conflicts: 2}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("enqueued firings (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantLogged, loggedFirings(t, logs)); diff != "" {
		t.Errorf("log lines by firing (-want +got):\n%s", diff)
	}
}

// logged counts a firing's log lines across schedulers.
type logged struct{ Enqueued, Conflicts int }

func loggedFirings(t *testing.T, logs []*bytes.Buffer) map[string]logged {
	t.Helper()
	out := map[string]logged{}
	for _, l := range logs {
		sc := bufio.NewScanner(l)
		for sc.Scan() {
			var line struct {
				Message string `json:"message"`
				TaskID  string `json:"task_id"`
			}
			if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
				t.Fatalf("log line %q: %v", sc.Text(), err)
			}
			n := out[line.TaskID]
			switch line.Message {
			case "periodic task enqueued":
				n.Enqueued++
			case "periodic task already enqueued by another scheduler":
				n.Conflicts++
			default:
				t.Errorf("unexpected log line %s", sc.Text())
			}
			out[line.TaskID] = n
		}
	}
	return out
}

func TestScheduleFileErrorsNameTheEntry(t *testing.T) {
	tests := []struct {
		body string
		want string
	}{
		{`{"entries":[{"name":"a","cron":"61 * * * *","type":"t"}]}`, `entry "a".cron:`},
		{`{"entries":[{"cron":"* * * * *","type":"t"}]}`, `entries[0].name: required`},
		{`{"entries":[{"name":"a","cron":"@daily"}]}`, `entry "a".type: required`},
		{`{"entries":[{"name":"a","cron":"@daily","type":"t"},{"name":"a","cron":"@daily","type":"t"}]}`, `entry "a": name used twice`},
		{`{"entries":[{"name":"a","cron":"@daily","type":"t","retention":"forever"}]}`, `entry "a".retention: want a positive duration`},
		{`{"entries":`, `unexpected end of JSON input`},
	}
	for _, tt := range tests {
		path := filepath.Join(t.TempDir(), "schedule.json")
		if err := os.WriteFile(path, []byte(tt.body), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := ReadFile(path)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ReadFile(%s) = %v, want error containing %q", tt.body, err, tt.want)
		}
	}
}

// TestReloadKeepsLastGoodSchedule: a typo in the file must not stop sweeps.
func TestReloadKeepsLastGoodSchedule(t *testing.T) {
	path := filepath.Join(t.TempDir(), "schedule.json")
	write := func(s string) {
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(`{"entries":[{"name":"a","cron":"@hourly","type":"t"}]}`)
	s, err := New(Params{File: path, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	write(`{"entries":[{"name":"a","cron":"@hourly","type":"t"},{"name":"b","cron":"@daily","type":"u"}]}`)
	if err := s.load(); err != nil || len(s.entries) != 2 {
		t.Fatalf("reload: %v, %d entries, want 2", err, len(s.entries))
	}
	write(`{"entries":[{"name":"a","cron":"not a spec","type":"t"}]}`)
	if err := s.load(); err == nil {
		t.Fatal("a broken file was accepted")
	}
	if len(s.entries) != 2 {
		t.Errorf("broken reload dropped entries: %d left, want 2", len(s.entries))
	}
}

// TestEntryOptions: a firing carries the entry's timeout and retries, not
// asynq's 30 minutes and 25.
func TestEntryOptions(t *testing.T) {
	redis := testutil.AsynqRedis(t)
	client := asynq.NewClient(redis)
	defer client.Close()
	five := 5
	now := time.Date(2026, 11, 28, 3, 0, 0, 0, time.UTC)
	s, err := New(Params{Client: client, Now: func() time.Time { return now }, Log: zerolog.Nop(),
		Builtin: []Entry{{Name: "long", Cron: "* * * * *", Type: "assets:sweep", Queue: "sweep", Timeout: "6h", MaxRetry: &five}}})
	if err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Minute)
	s.fireDue(context.Background())
	inspector := testutil.Inspector(t, redis)
	info, err := inspector.GetTaskInfo("sweep", FiringID("long", now))
	if err != nil {
		t.Fatal(err)
	}
	if info.Timeout != 6*time.Hour || info.MaxRetry != 5 {
		t.Errorf("timeout %v, max retry %d; want 6h and 5", info.Timeout, info.MaxRetry)
	}
}
