package integration

import (
	"context"
	"encoding/json"
	"io"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hibiken/asynq"
	goredis "github.com/redis/go-redis/v9"

	"github.com/lifecycle-worker/lifecycle/integration/harness"
	"github.com/lifecycle-worker/lifecycle/internal/identity"
	"github.com/lifecycle-worker/lifecycle/internal/rkeys"
	"github.com/lifecycle-worker/lifecycle/internal/sim/artifisim"
	"github.com/lifecycle-worker/lifecycle/internal/sim/faults"
	"github.com/lifecycle-worker/lifecycle/internal/skeys"
	"github.com/lifecycle-worker/lifecycle/internal/storage"
	"github.com/lifecycle-worker/lifecycle/internal/sweep"
	"github.com/lifecycle-worker/lifecycle/internal/sweep/sweeptest"
	"github.com/lifecycle-worker/lifecycle/internal/testutil"
	"github.com/lifecycle-worker/lifecycle/tasks"
)

const day = 24 * time.Hour

// sweepWorld is a store, a Redis with identity records, and an Artifi
// simulator, seeded with one of each kind of object the sweep must tell
// apart.
type sweepWorld struct {
	redis  harness.Redis
	rdb    *goredis.Client
	dir    string
	store  storage.Store
	sim    *artifisim.Server
	simURL string
}

func newSweepWorld(t *testing.T) *sweepWorld {
	t.Helper()
	w := &sweepWorld{redis: harness.StartRedis(t, nil), sim: artifisim.New(artifisim.Options{WebsiteID: 422, ClientKey: "test-key"})}
	var err error
	if w.simURL, err = w.sim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.sim.Close)
	w.store, w.dir = testutil.FileStore(t)
	w.rdb = testutil.Client(t, w.redis.Addr)
	return w
}

// env is what every lifecycle process of the test is configured with.
func (w *sweepWorld) env(t *testing.T, extra ...string) []string {
	return append([]string{
		"LIFECYCLE_REDIS_URL=" + w.redis.URL(),
		"LIFECYCLE_HTTP_ADDR=" + testutil.FreeAddr(t),
		"LIFECYCLE_STORAGE=file://" + w.dir,
		"LIFECYCLE_ARTIFI_URL=" + w.simURL,
		"LIFECYCLE_ARTIFI_WEBSITE_ID=422",
		"LIFECYCLE_ARTIFI_CLIENT_KEY=test-key",
		"LIFECYCLE_SWEEP_GRACE=1h",
	}, extra...)
}

// report reads the report a sweep stored.
func (w *sweepWorld) report(t *testing.T, id string) sweep.Report {
	t.Helper()
	var rep sweep.Report
	if err := json.Unmarshal([]byte(w.body(t, skeys.SweepReport(id))), &rep); err != nil {
		t.Fatalf("report of %s: %v", id, err)
	}
	return rep
}

func (w *sweepWorld) body(t *testing.T, key string) string {
	t.Helper()
	rc, err := w.store.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("%s: %v", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// runTask enqueues t and waits until the worker completed it.
func runTask(t *testing.T, r harness.Redis, task *asynq.Task, worker *harness.Process) {
	t.Helper()
	c := asynq.NewClient(r.Opt())
	defer c.Close()
	info, err := c.Enqueue(task)
	if err != nil {
		t.Fatal(err)
	}
	in := asynq.NewInspector(r.Opt())
	defer in.Close()
	var last *asynq.TaskInfo
	testutil.Eventually(t, 60*time.Second, func() bool {
		last, _ = in.GetTaskInfo(info.Queue, info.ID)
		return last != nil && (last.State == asynq.TaskStateCompleted || last.State == asynq.TaskStateArchived || last.LastErr != "")
	}, "task %s not done: %+v", info.ID, testutil.Later(func() any { return last }))
	if last.State != asynq.TaskStateCompleted {
		t.Fatalf("task %s: %+v; worker output:\n%s", info.ID, last, worker.Output())
	}
}

// TestSweepPurgeAndRestore is the acceptance test, through a real
// worker and the real command line: after a sweep and a purge exactly the
// orphans are gone, every live or fresh object remains, and a restore
// brings a quarantined prefix back intact.
func TestSweepPurgeAndRestore(t *testing.T) {
	w := newSweepWorld(t)
	ctx := context.Background()
	ids := identity.New(w.rdb)
	if err := ids.SetTombstone(ctx, "erase-1", time.Now().Add(-20*day), "u-erased"); err != nil {
		t.Fatal(err)
	}
	if err := ids.RecordMerge(ctx, "guest-merged", "u-live"); err != nil {
		t.Fatal(err)
	}
	photos := w.sim.AddPhotos("u-live", 2)
	w.sim.AddPhotos("guest-new", 1)

	type obj struct {
		key    string
		age    time.Duration
		orphan bool
	}
	seed := []obj{
		// Live: a registered user's photos that Artifi lists, and designs.
		{"users/u-live/photos/" + photos[0] + ".jpg", 60 * day, false},
		{"users/u-live/photos/" + photos[1] + ".png", 60 * day, false},
		{"users/u-live/designs/d-1.json", 60 * day, false},
		// Upstream-deleted: a photo Artifi no longer has.
		{"users/u-live/photos/999999.jpg", 60 * day, true},
		// Fresh: uploads in flight, whoever the owner.
		{"users/u-live/photos/999998.jpg", time.Minute, false},
		{"users/u-erased/photos/late.jpg", time.Minute, false},
		{"users/guest-old/designs/new.json", 2 * time.Minute, false},
		// Erased user.
		{"users/u-erased/cart.json", 10 * day, true},
		{"users/u-erased/photos/1.jpg", 10 * day, true},
		{"users/u-erased/designs/a/b.json", 10 * day, true},
		// Merged-away guest.
		{"users/guest-merged/designs/x.json", 3 * day, true},
		// Expired guest (nothing newer than 30 days)...
		{"users/guest-gone/designs/a.json", 45 * day, true},
		{"users/guest-gone/photos/3.jpg", 40 * day, true},
		// ...but a guest active 3 days ago keeps everything.
		{"users/guest-new/designs/a.json", 45 * day, false},
		{"users/guest-new/designs/b.json", 3 * day, false},
		// Not under users/: never swept.
		{"receipts/erase-1.json", 400 * day, false},
	}
	now := time.Now()
	var objs []sweeptest.Object
	var live, orphans []string
	for _, o := range seed {
		objs = append(objs, sweeptest.Object{Key: o.key, Age: o.age})
		if o.orphan {
			orphans = append(orphans, o.key)
		} else {
			live = append(live, o.key)
		}
	}
	sweeptest.Seed(t, w.store, w.dir, now, objs)
	slices.Sort(live)
	slices.Sort(orphans)

	worker := harness.StartProcess(t, w.env(t, "LIFECYCLE_SWEEP_MAX_SHARE=0.9", "LIFECYCLE_SWEEP_RESTORE_WINDOW=2s"), "worker")

	// Sweep.
	task, err := tasks.NewAssetsSweepTask(tasks.AssetsSweepPayload{SweepID: "it-1"})
	if err != nil {
		t.Fatal(err)
	}
	runTask(t, w.redis, task, worker)
	// The erased user's leftovers are deleted at once, not quarantined:
	// nothing of theirs waits for a restore.
	var wantQ []string
	for _, k := range orphans {
		if !strings.HasPrefix(k, "users/u-erased/") {
			wantQ = append(wantQ, skeys.Quarantined("it-1", k))
		}
	}
	gotAll := testutil.Keys(t, w.store, "")
	if diff := cmp.Diff(live, without(gotAll, "quarantine/", "sweeps/")); diff != "" {
		t.Errorf("after the sweep, outside quarantine (-live and fresh +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantQ, testutil.Keys(t, w.store, "quarantine/")); diff != "" {
		t.Errorf("quarantine (-orphans +got):\n%s", diff)
	}

	// Restore one user's prefix from the command line.
	restore := harness.StartProcess(t, w.env(t), "sweep", "restore", "it-1", "--prefix", "users/guest-gone/")
	if code, exited := restore.Wait(30 * time.Second); !exited || code != 0 {
		t.Fatalf("sweep restore: exit %d (exited %v):\n%s", code, exited, restore.Output())
	}
	var restoredKeys []string
	for _, k := range orphans {
		if strings.HasPrefix(k, "users/guest-gone/") {
			restoredKeys = append(restoredKeys, k)
			if got := w.body(t, k); got != "body of "+k {
				t.Errorf("restored %s holds %q", k, got)
			}
		}
	}
	if !strings.Contains(restore.Output(), `"restored": 2`) {
		t.Errorf("restore output lacks the count:\n%s", restore.Output())
	}

	// Purge, once the (2 s) restore window since the sweep finished has passed.
	finished := w.report(t, "it-1").FinishedAt
	testutil.Eventually(t, 10*time.Second, func() bool { return time.Since(finished) > 2*time.Second },
		"the restore window of it-1 (finished at %v) is not over", finished)
	purge, err := tasks.NewAssetsSweepTask(tasks.AssetsSweepPayload{SweepID: "purge-1", Mode: tasks.SweepModePurge})
	if err != nil {
		t.Fatal(err)
	}
	runTask(t, w.redis, purge, worker)

	wantFinal := slices.Sorted(slices.Values(append(slices.Clone(live), restoredKeys...)))
	// The audit trail's copies (audit/) are the operators' restore and
	// purge, not assets.
	if diff := cmp.Diff(wantFinal, without(testutil.Keys(t, w.store, ""), "sweeps/", "audit/")); diff != "" {
		t.Errorf("after sweep, restore and purge (-live, fresh and restored +got):\n%s", diff)
	}
	list := harness.StartProcess(t, w.env(t), "sweep", "list")
	if code, _ := list.Wait(30 * time.Second); code != 0 || !hasLineWith(list.Output(), "it-1", "purged") {
		t.Errorf("sweep list: exit %d:\n%s", code, list.Output())
	}
	show := harness.StartProcess(t, w.env(t), "sweep", "show", "it-1")
	if code, _ := show.Wait(30 * time.Second); code != 0 {
		t.Fatalf("sweep show: exit %d:\n%s", code, show.Output())
	}
	rep := printedReport(t, show.Output())
	got := map[string]any{"status": rep.Status, "scanned": rep.Scanned, "fresh": rep.Fresh, "moved": rep.Moved,
		"erased": rep.Erased, "purged": rep.Purged, "restored": rep.Restored, "candidates": rep.Candidates}
	want := map[string]any{"status": sweep.StatusPurged, "scanned": int64(len(seed) - 1), "fresh": int64(3),
		"moved": int64(len(orphans) - 3), "erased": int64(3), "purged": int64(len(orphans) - 3 - 2), "restored": int64(2),
		"candidates": map[sweep.Reason]int64{sweep.Erased: 3, sweep.Merged: 1, sweep.GuestExpired: 2, sweep.UpstreamDeleted: 1}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("report (-want +got):\n%s", diff)
	}
}

// TestSweepSafetyLimitOnEmptyUpstream: Artifi answers a complete, empty
// listing for every user (it knows them, with no photos: an upstream that
// lost its data), so every photo looks deleted upstream. (A user Artifi
// does not know proves nothing and keeps its photos: sweep's lying tests.)
// `lifecycle sweep run` stops and says so. That a tripped sweep moves
// nothing, and what it counted by reason, are
// sweep.TestSafetyLimitTripsOnAnEmptyUpstream.
func TestSweepSafetyLimitOnEmptyUpstream(t *testing.T) {
	w := newSweepWorld(t)
	var objs []sweeptest.Object
	for u := range 20 {
		w.sim.AddUser("u-" + strconv.Itoa(u))
		for p := range 5 {
			objs = append(objs, sweeptest.Object{Key: "users/u-" + strconv.Itoa(u) + "/photos/" + strconv.Itoa(1000+u*10+p) + ".jpg", Age: 90 * day})
		}
		objs = append(objs, sweeptest.Object{Key: "users/u-" + strconv.Itoa(u) + "/designs/d.json", Age: 90 * day})
	}
	sweeptest.Seed(t, w.store, w.dir, time.Now(), objs)

	run := harness.StartProcess(t, w.env(t, "LIFECYCLE_SWEEP_MAX_SHARE=0.2"), "sweep", "run", "--id", "outage-1")
	code, exited := run.Wait(60 * time.Second)
	if !exited || code != 1 {
		t.Fatalf("sweep run: exit %d (exited %v), want 1:\n%s", code, exited, run.Output())
	}
	for _, want := range []string{`"status": "tripped"`, "ALERT: sweep safety limit tripped"} {
		if !strings.Contains(run.Output(), want) {
			t.Errorf("sweep run output lacks %q:\n%s", want, run.Output())
		}
	}
}

// printedReport finds the indented report a sweep command printed amid its
// JSON log lines (stdout and stderr are one stream here).
func printedReport(t *testing.T, out string) sweep.Report {
	t.Helper()
	start, end := strings.Index(out, "{\n"), strings.LastIndex(out, "\n}")
	var rep sweep.Report
	if start < 0 || end < start {
		t.Fatalf("no report in the output:\n%s", out)
	}
	if err := json.Unmarshal([]byte(out[start:end+2]), &rep); err != nil {
		t.Fatalf("report in the output: %v\n%s", err, out)
	}
	return rep
}

func without(keys []string, prefixes ...string) []string {
	var out []string
	for _, k := range keys {
		if !slices.ContainsFunc(prefixes, func(p string) bool { return strings.HasPrefix(k, p) }) {
			out = append(out, k)
		}
	}
	return out
}

func hasLineWith(out string, words ...string) bool {
	for line := range strings.SplitSeq(out, "\n") {
		if !slices.ContainsFunc(words, func(w string) bool { return !strings.Contains(line, w) }) {
			return true
		}
	}
	return false
}

// TestKilledSweepResumesFromItsCheckpoint: a sweep process killed (SIGKILL)
// halfway through its mark is finished by the next sweep process, from its
// checkpoint. That the counts and outcome are those of a sweep never
// interrupted is sweep.TestCrashedSweepResumesFromItsCheckpoint.
func TestKilledSweepResumesFromItsCheckpoint(t *testing.T) {
	w := newSweepWorld(t)
	// A slow Artifi makes the mark last about 10 s (40 users, 250 ms each).
	w.sim.Faults().Set(faults.Config{Latency: 250 * time.Millisecond})
	var objs []sweeptest.Object
	orphans := 0
	for u := range 40 {
		user := "u-" + strconv.Itoa(100+u)
		for _, id := range w.sim.AddPhotos(user, 10) {
			objs = append(objs, sweeptest.Object{Key: "users/" + user + "/photos/" + id + ".jpg", Age: 90 * day})
		}
		for d := range 40 {
			objs = append(objs, sweeptest.Object{Key: "users/" + user + "/designs/" + strconv.Itoa(d) + ".json", Age: 90 * day})
		}
		gone := "users/" + user + "/photos/1.jpg" // never in Artifi
		objs = append(objs, sweeptest.Object{Key: gone, Age: 90 * day})
		orphans++
	}
	sweeptest.Seed(t, w.store, w.dir, time.Now(), objs)

	first := harness.StartProcess(t, w.env(t), "sweep", "run", "--id", "crash-1")
	// Wait for a checkpoint that is partway through, then kill the process
	// without letting it clean up.
	var mid struct {
		Phase  string       `json:"phase"`
		After  string       `json:"after"`
		Report sweep.Report `json:"report"`
	}
	testutil.Eventually(t, 30*time.Second, func() bool {
		b, err := w.rdb.Get(context.Background(), rkeys.SweepRun()).Bytes()
		return err == nil && json.Unmarshal(b, &mid) == nil && mid.Report.Scanned > 0
	}, "no checkpoint within 30 s")
	if err := first.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	first.Wait(10 * time.Second)
	if mid.Phase != "mark" || mid.Report.Scanned >= int64(len(objs)) {
		t.Fatalf("killed at %s after %d of %d objects; want partway through the mark", mid.Phase, mid.Report.Scanned, len(objs))
	}
	t.Logf("killed after a checkpoint at %d of %d objects (%s)", mid.Report.Scanned, len(objs), mid.After)
	// The killed holder's lease would run out in 30 s; end it now.
	if err := w.rdb.Del(context.Background(), rkeys.SweepLock()).Err(); err != nil {
		t.Fatal(err)
	}
	w.sim.Faults().Set(faults.Config{})

	second := harness.StartProcess(t, w.env(t), "sweep", "run", "--id", "next-1")
	if code, exited := second.Wait(60 * time.Second); !exited || code != 0 {
		t.Fatalf("second sweep: exit %d (exited %v):\n%s", code, exited, second.Output())
	}
	rep := printedReport(t, second.Output())
	got := map[string]any{"id": rep.SweepID, "status": rep.Status, "resumed": rep.Resumed, "moved": rep.Moved}
	want := map[string]any{"id": "crash-1", "status": sweep.StatusQuarantined, "resumed": 1, "moved": int64(orphans)}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("report of the resumed sweep (-want +got):\n%s", diff)
	}
}
