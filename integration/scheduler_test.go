package integration

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hibiken/asynq"

	"github.com/lifecycle-worker/lifecycle/integration/harness"
	"github.com/lifecycle-worker/lifecycle/internal/sweep"
	"github.com/lifecycle-worker/lifecycle/internal/sweep/sweeptest"
	"github.com/lifecycle-worker/lifecycle/scheduler"
)

// TestThreeSchedulersEnqueueEachFiringOnce runs three real `lifecycle
// scheduler` processes on one Redis with an entry firing every 2 seconds,
// started a moment apart as a rolling deploy would, and checks that every
// firing in the window was enqueued, and by exactly one of them.
func TestThreeSchedulersEnqueueEachFiringOnce(t *testing.T) {
	redis := harness.StartRedis(t, nil)
	schedule := filepath.Join(t.TempDir(), "schedule.json")
	const entry, queue = "tick", "itest-periodic"
	body := `{"entries":[{"name":"` + entry + `","cron":"*/2 * * * * *","type":"test:tick","queue":"` + queue + `","retention":"1h"}]}`
	if err := os.WriteFile(schedule, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{"LIFECYCLE_REDIS_URL=" + redis.URL(), "LIFECYCLE_SCHEDULE_FILE=" + schedule, "LIFECYCLE_LOG_LEVEL=debug"}
	var procs []*harness.Process
	for range 3 {
		procs = append(procs, harness.StartProcess(t, env, "scheduler"))
		time.Sleep(700 * time.Millisecond)
	}
	// All three are up now; let them share at least five firings.
	time.Sleep(11 * time.Second)
	for _, p := range procs {
		if err := p.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
	}
	for i, p := range procs {
		if code, exited := p.Wait(10 * time.Second); !exited || code != 0 {
			t.Fatalf("scheduler %d: exit %d (exited %v)", i, code, exited)
		}
	}

	// Who enqueued what, from the schedulers' own log lines.
	enqueuedBy := map[string][]int{} // task id -> schedulers that enqueued it
	conflicts := 0
	for i, p := range procs {
		sc := bufio.NewScanner(strings.NewReader(p.Output()))
		for sc.Scan() {
			var line struct {
				Message string `json:"message"`
				Entry   string `json:"entry"`
				TaskID  string `json:"task_id"`
			}
			if json.Unmarshal(sc.Bytes(), &line) != nil || line.Entry != entry {
				continue
			}
			switch line.Message {
			case "periodic task enqueued":
				enqueuedBy[line.TaskID] = append(enqueuedBy[line.TaskID], i)
			case "periodic task already enqueued by another scheduler":
				conflicts++
			}
		}
	}

	inspector := asynq.NewInspector(redis.Opt())
	defer inspector.Close()
	pending, err := inspector.ListPendingTasks(queue, asynq.PageSize(1000))
	if err != nil {
		t.Fatal(err)
	}
	var inQueue []string
	for _, p := range pending {
		inQueue = append(inQueue, p.ID)
	}
	sort.Strings(inQueue)
	if len(inQueue) < 5 {
		t.Fatalf("%d firings enqueued in ~13 s of a 2 s schedule, want at least 5: %v", len(inQueue), inQueue)
	}

	// Every 2 s slot from the first firing to the last is there: none lost.
	first, last := slotOf(t, inQueue[0]), slotOf(t, inQueue[len(inQueue)-1])
	var want []string
	for at := first; !at.After(last); at = at.Add(2 * time.Second) {
		want = append(want, scheduler.FiringID(entry, at))
	}
	if diff := cmp.Diff(want, inQueue); diff != "" {
		t.Errorf("firings in the queue (-every slot +got):\n%s", diff)
	}
	// Each was enqueued by exactly one scheduler; the others met its id.
	var logged []string
	for id, by := range enqueuedBy {
		logged = append(logged, id)
		if len(by) != 1 {
			t.Errorf("firing %s enqueued by schedulers %v, want exactly one", id, by)
		}
	}
	sort.Strings(logged)
	if diff := cmp.Diff(inQueue, logged); diff != "" {
		t.Errorf("firings logged as enqueued vs in the queue (-queue +logs):\n%s", diff)
	}
	if conflicts == 0 {
		t.Error("no scheduler met another's firing: the three did not run side by side")
	}
	t.Logf("%d firings, each enqueued once; %d duplicate attempts refused by task id", len(inQueue), conflicts)
}

// slotOf reads the scheduled time back out of a FiringID.
func slotOf(t *testing.T, id string) time.Time {
	t.Helper()
	var unix int64
	i := strings.LastIndexByte(id, ':')
	if i < 0 {
		t.Fatalf("not a firing id: %q", id)
	}
	for _, c := range id[i+1:] {
		unix = unix*10 + int64(c-'0')
	}
	at := time.Unix(unix, 0)
	if scheduler.FiringID(firingEntry(id), at) != id {
		t.Fatalf("not a firing id: %q", id)
	}
	return at
}

func firingEntry(id string) string {
	parts := strings.Split(id, ":")
	return strings.Join(parts[1:len(parts)-1], ":")
}

// TestScheduledSweepRunsOnTheWorker: a sweep entry in the schedule file
// fires, a worker runs it, and the sweep is named after the firing, so that
// the report can be found from the schedule.
func TestScheduledSweepRunsOnTheWorker(t *testing.T) {
	w := newSweepWorld(t)
	sweeptest.Seed(t, w.store, w.dir, time.Now(), []sweeptest.Object{
		{Key: "users/guest-gone/designs/a.json", Age: 45 * day},
		{Key: "users/u-1/designs/a.json", Age: 45 * day},
	})
	schedule := filepath.Join(t.TempDir(), "schedule.json")
	body := `{"entries":[{"name":"sweep-it","cron":"*/3 * * * * *","type":"assets:sweep","queue":"sweep","payload":{"dry_run":true}}]}`
	if err := os.WriteFile(schedule, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	sched := harness.StartProcess(t, w.env(t, "LIFECYCLE_SCHEDULE_FILE="+schedule), "scheduler")
	worker := harness.StartProcess(t, w.env(t, "LIFECYCLE_SWEEP_MAX_SHARE=0.9"), "worker")

	var reports []string
	if !harness.WaitFor(context.Background(), 30*time.Second, func() bool {
		reports = reports[:0]
		for _, k := range sweeptest.Keys(t, w.store, "sweeps/") {
			if strings.HasSuffix(k, "/report.json") {
				reports = append(reports, k)
			}
		}
		return len(reports) > 0
	}) {
		t.Fatalf("no sweep report within 30 s; scheduler:\n%s\nworker:\n%s", sched.Output(), worker.Output())
	}
	id := strings.TrimSuffix(strings.TrimPrefix(reports[0], "sweeps/"), "/report.json")
	if !strings.HasPrefix(id, "periodic-sweep-it-") {
		t.Errorf("sweep id %q, want it named after the firing (periodic-sweep-it-{unix time})", id)
	}
	rc, err := w.store.Get(context.Background(), reports[0])
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var rep sweep.Report
	if err := json.NewDecoder(rc).Decode(&rep); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[sweep.Reason]int64{sweep.GuestExpired: 1}, rep.Candidates); diff != "" || rep.Status != sweep.StatusDryRun {
		t.Errorf("scheduled dry run: status %s, candidates (-want +got):\n%s", rep.Status, diff)
	}
	if keys := sweeptest.Keys(t, w.store, "users/"); len(keys) != 2 {
		t.Errorf("a dry run moved objects: users/ holds %v", keys)
	}
}
