package integration

import (
	"bufio"
	"encoding/json"
	"errors"
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
	"github.com/lifecycle-worker/lifecycle/internal/testutil"
	"github.com/lifecycle-worker/lifecycle/scheduler"
)

// TestThreeSchedulersEnqueueEachFiringOnce runs three real `lifecycle
// scheduler` processes on one Redis with an entry firing every 2 seconds,
// started one after another as a rolling deploy would, and checks that every
// firing they shared was enqueued once, and that they did compete for it.
// Which scheduler logs what, with clocks that disagree, is
// scheduler.TestManySchedulersEnqueueEachFiringOnce.
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
	for i := range 3 {
		p := harness.StartProcess(t, env, "scheduler")
		testutil.Eventually(t, 10*time.Second, func() bool { return strings.Contains(p.Output(), "scheduler started") },
			"scheduler %d did not start", i)
		procs = append(procs, p)
	}

	// All three are up now; let them share at least five firings.
	allUp := time.Now()
	inspector := asynq.NewInspector(redis.Opt())
	defer inspector.Close()
	firings := func() []string {
		pending, err := inspector.ListPendingTasks(queue, asynq.PageSize(1000))
		if errors.Is(err, asynq.ErrQueueNotFound) {
			return nil // no firing yet: asynq makes a queue on its first task
		}
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, p := range pending {
			ids = append(ids, p.ID)
		}
		sort.Strings(ids)
		return ids
	}
	var inQueue []string
	testutil.Eventually(t, 30*time.Second, func() bool {
		inQueue = firings()
		shared := 0
		for _, id := range inQueue {
			if !slotOf(t, id).Before(allUp) {
				shared++
			}
		}
		return shared >= 5
	}, "fewer than 5 firings since all three schedulers were up: %v", testutil.Later(func() any { return inQueue }))
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

	// Every 2 s slot from the first firing to the last is there: none lost.
	inQueue = firings()
	first, last := slotOf(t, inQueue[0]), slotOf(t, inQueue[len(inQueue)-1])
	var want []string
	for at := first; !at.After(last); at = at.Add(2 * time.Second) {
		want = append(want, scheduler.FiringID(entry, at))
	}
	if diff := cmp.Diff(want, inQueue); diff != "" {
		t.Errorf("firings in the queue (-every slot +got):\n%s", diff)
	}
	// The others met each firing's id: the three ran side by side.
	conflicts := 0
	for _, p := range procs {
		sc := bufio.NewScanner(strings.NewReader(p.Output()))
		for sc.Scan() {
			var line struct {
				Message string `json:"message"`
				Entry   string `json:"entry"`
			}
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Entry == entry &&
				line.Message == "periodic task already enqueued by another scheduler" {
				conflicts++
			}
		}
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
	harness.StartProcess(t, w.env(t, "LIFECYCLE_SCHEDULE_FILE="+schedule), "scheduler")
	harness.StartProcess(t, w.env(t, "LIFECYCLE_SWEEP_MAX_SHARE=0.9"), "worker")

	var reports []string
	testutil.Eventually(t, 30*time.Second, func() bool {
		reports = reports[:0]
		for _, k := range testutil.Keys(t, w.store, "sweeps/") {
			if strings.HasSuffix(k, "/report.json") {
				reports = append(reports, k)
			}
		}
		return len(reports) > 0
	}, "no sweep report within 30 s")
	id := strings.TrimSuffix(strings.TrimPrefix(reports[0], "sweeps/"), "/report.json")
	if !strings.HasPrefix(id, "periodic-sweep-it-") {
		t.Errorf("sweep id %q, want it named after the firing (periodic-sweep-it-{unix time})", id)
	}
	rep := w.report(t, id)
	if diff := cmp.Diff(map[sweep.Reason]int64{sweep.GuestExpired: 1}, rep.Candidates); diff != "" || rep.Status != sweep.StatusDryRun {
		t.Errorf("scheduled dry run: status %s, candidates (-want +got):\n%s", rep.Status, diff)
	}
	if keys := testutil.Keys(t, w.store, "users/"); len(keys) != 2 {
		t.Errorf("a dry run moved objects: users/ holds %v", keys)
	}
}
