package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hibiken/asynq"
	goredis "github.com/redis/go-redis/v9"

	"github.com/lifecycle-worker/lifecycle/integration/harness"
	"github.com/lifecycle-worker/lifecycle/internal/merge"
	"github.com/lifecycle-worker/lifecycle/internal/rkeys"
	"github.com/lifecycle-worker/lifecycle/internal/sim"
	"github.com/lifecycle-worker/lifecycle/internal/skeys"
	"github.com/lifecycle-worker/lifecycle/internal/storage"
	"github.com/lifecycle-worker/lifecycle/internal/sweep/sweeptest"
	"github.com/lifecycle-worker/lifecycle/internal/testutil"
	"github.com/lifecycle-worker/lifecycle/tasks"
)

// raceRuns is how often each race is run: enough to see both orders.
const raceRuns = 20

// raceWorld is one Redis, the simulators, a file store and three worker
// processes, shared by every run of every race so that a run costs
// seconds, not process starts. Runs use ids of their own.
type raceWorld struct {
	opt     asynq.RedisClientOpt
	rdb     *goredis.Client
	set     *sim.Set
	store   storage.Store
	dir     string
	env     []string
	workers []*harness.Process
	tc      *tasks.Client
	ac      *asynq.Client
	in      *asynq.Inspector
}

func newRaceWorld(t *testing.T) *raceWorld {
	t.Helper()
	// Redis is a redis-server process of the test's own (no container:
	// nothing here needs an image, so the test needs no Docker).
	addr, rdb := testutil.RealRedis(t)
	w := &raceWorld{opt: asynq.RedisClientOpt{Addr: addr}, rdb: rdb, set: harness.StartSimulators(t)}
	w.store, w.dir = testutil.FileStore(t)
	w.env = harness.WorkerEnv(t, "redis://"+addr, w.dir, w.set,
		"LIFECYCLE_SWEEP_MAX_SHARE=1", "LIFECYCLE_SWEEP_GRACE=1h", "LIFECYCLE_TASK_CHECK_INTERVAL=20ms")
	w.startWorkers(t, 3)
	w.tc = tasks.NewClient(w.opt)
	w.ac = asynq.NewClient(w.opt)
	w.in = asynq.NewInspector(w.opt)
	t.Cleanup(func() { w.tc.Close(); w.ac.Close(); w.in.Close() })
	return w
}

func (w *raceWorld) startWorkers(t *testing.T, n int) {
	t.Helper()
	for range n {
		env := append(slices.Clone(w.env), "LIFECYCLE_HTTP_ADDR="+testutil.FreeAddr(t))
		w.workers = append(w.workers, harness.StartProcess(t, env, "worker"))
	}
}

// killWorkers kills every worker (SIGKILL: no cleanup, as a crash) and
// starts as many new ones.
func (w *raceWorld) killWorkers(t *testing.T) {
	t.Helper()
	for _, p := range w.workers {
		_ = p.Signal(syscall.SIGKILL)
	}
	for _, p := range w.workers {
		p.Wait(10 * time.Second)
	}
	n := len(w.workers)
	w.workers = nil
	w.startWorkers(t, n)
}

// wait waits until every task is completed or dead-lettered and returns
// their infos by id.
func (w *raceWorld) wait(t *testing.T, queue string, ids ...string) map[string]*asynq.TaskInfo {
	t.Helper()
	out := map[string]*asynq.TaskInfo{}
	testutil.Eventually(t, 60*time.Second, func() bool {
		for _, id := range ids {
			if _, ok := out[id]; ok {
				continue
			}
			info, err := w.in.GetTaskInfo(queue, id)
			if err == nil && (info.State == asynq.TaskStateCompleted || info.State == asynq.TaskStateArchived) {
				out[id] = info
			}
		}
		return len(out) == len(ids)
	}, "tasks not done: %v", testutil.Later(func() any { return w.workerLogs() }))
	return out
}

func (w *raceWorld) workerLogs() string {
	var b strings.Builder
	for i, p := range w.workers {
		fmt.Fprintf(&b, "--- worker %d\n%s", i, p.Output())
	}
	return b.String()
}

// guestPhotos is how many Artifi photos each race's guest has: a merge is
// only complete once Artifi has moved them, and a guest Artifi does not know
// is dead-lettered as unconfirmed (a 232 for it proves nothing).
const guestPhotos = 2

// seedGuest stores n designs under users/{guest}/, age old, and returns
// their keys relative to that folder.
func (w *raceWorld) seedGuest(t *testing.T, guest string, n int, age time.Duration) []string {
	t.Helper()
	var objs []sweeptest.Object
	var rel []string
	for i := range n {
		r := fmt.Sprintf("designs/%04d.json", i)
		rel = append(rel, r)
		objs = append(objs, sweeptest.Object{Key: skeys.UserPrefix(guest) + r, Age: age})
	}
	sweeptest.Seed(t, w.store, w.dir, time.Now(), objs)
	return rel
}

// quarantinedOf lists the keys any sweep quarantined from guest's folder
// that are still in quarantine.
func (w *raceWorld) quarantinedOf(t *testing.T, guest string) []string {
	t.Helper()
	var out []string
	for _, k := range testutil.Keys(t, w.store, "quarantine/") {
		if strings.Contains(k, "/"+skeys.UserPrefix(guest)) {
			out = append(out, k)
		}
	}
	return out
}

func (w *raceWorld) sweepTask(t *testing.T, id string) *asynq.Task {
	t.Helper()
	task, err := tasks.NewAssetsSweepTask(tasks.AssetsSweepPayload{SweepID: id})
	if err != nil {
		t.Fatal(err)
	}
	return task
}

func mergeResult(t *testing.T, info *asynq.TaskInfo) merge.Result {
	t.Helper()
	var r merge.Result
	if info.State != asynq.TaskStateCompleted {
		t.Fatalf("merge %s: %s, last error %q", info.ID, info.State, info.LastErr)
	}
	if err := json.Unmarshal(info.Result, &r); err != nil {
		t.Fatalf("merge %s: result %q: %v", info.ID, info.Result, err)
	}
	return r
}

// tally is what a race prints: runs, the orders seen, and violations.
type tally struct {
	name       string
	runs       int
	orders     map[string]int
	violations []string
}

func newTally(name string) *tally { return &tally{name: name, orders: map[string]int{}} }

func (tl *tally) violate(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	tl.violations = append(tl.violations, msg)
	t.Error(msg)
}

func (tl *tally) report(t *testing.T) {
	keys := make([]string, 0, len(tl.orders))
	for k := range tl.orders {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, " %q=%d", k, tl.orders[k])
	}
	t.Logf("RACE %s: runs %d, orders seen:%s, violations %d", tl.name, tl.runs, b.String(), len(tl.violations))
	fmt.Printf("RACE %s: runs %d, orders seen:%s, violations %d\n", tl.name, tl.runs, b.String(), len(tl.violations))
}

// release runs each f in its own goroutine, all released together.
func release(fs ...func()) {
	start := make(chan struct{})
	var wg sync.WaitGroup
	for _, f := range fs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			f()
		}()
	}
	close(start)
	wg.Wait()
}

// checkOwned checks that user holds exactly want (relative keys) and
// photos (Artifi photo ids), and that nothing of guest is left in its
// folder, in quarantine or in Artifi.
func (w *raceWorld) checkOwned(t *testing.T, tl *tally, guest, user string, want, photos []string) {
	t.Helper()
	if diff := cmp.Diff(photos, w.set.Artifi.Photos(user)); diff != "" {
		tl.violate(t, "%s→%s: Artifi photos of the user (-want +got):\n%s", guest, user, diff)
	}
	if w.set.Artifi.UserExists(guest) {
		tl.violate(t, "%s→%s: Artifi still knows the guest, with %d photos", guest, user, len(w.set.Artifi.Photos(guest)))
	}
	if diff := cmp.Diff(want, objectsOf(t, w.store, user)); diff != "" {
		tl.violate(t, "%s→%s: objects under the user (-want +got):\n%s", guest, user, diff)
	}
	if left := objectsOf(t, w.store, guest); len(left) != 0 {
		tl.violate(t, "%s→%s: %d objects left under the guest", guest, user, len(left))
	}
	if q := w.quarantinedOf(t, guest); len(q) != 0 {
		tl.violate(t, "%s→%s: merged guest with %d objects left in quarantine: %v", guest, user, len(q), q)
	}
	if into, _ := w.rdb.Get(context.Background(), rkeys.MergedInto(guest)).Result(); into != user {
		tl.violate(t, "%s: merged into %q, want %s", guest, into, user)
	}
}

// TestMergeSweepRaces runs the races between merges and sweeps of issue 20,
// each raceRuns times, on three worker processes, a redis-server, the
// simulators and a file store, and prints per race the runs, the orders
// seen and the violations. Over every run: no merged guest has objects left
// in quarantine, and no guest is split between two users.
func TestMergeSweepRaces(t *testing.T) {
	t.Parallel()
	w := newRaceWorld(t)
	start := time.Now()

	// (a) A sweep runs while merges are enqueued for guests past their
	// retention. Whichever comes first, each guest's objects end under
	// the user it became, and the merge's result says how they got there.
	t.Run("sweep_vs_enqueued_merges", func(t *testing.T) {
		tl := newTally("a: sweep while merges of expired guests are enqueued")
		defer tl.report(t)
		const guests, objects = 3, 8
		for run := range raceRuns {
			sweepID := fmt.Sprintf("ra-%d", run)
			var gs, us []string
			rel, photos := map[string][]string{}, map[string][]string{}
			for g := range guests {
				guest, user := fmt.Sprintf("guest-a%d-%d", run, g), fmt.Sprintf("u-a%d-%d", run, g)
				gs, us = append(gs, guest), append(us, user)
				rel[guest] = w.seedGuest(t, guest, objects, 45*day)
				photos[guest] = w.set.Artifi.AddPhotos(guest, guestPhotos)
			}
			var sweepInfo *asynq.TaskInfo
			mergeIDs := make([]string, guests)
			fs := []func(){func() {
				info, err := w.ac.Enqueue(w.sweepTask(t, sweepID))
				if err != nil {
					t.Error(err)
					return
				}
				sweepInfo = info
			}}
			for g := range guests {
				fs = append(fs, func() {
					// Up to the time a sweep of this store takes, so that
					// merges land before, during and after it.
					time.Sleep(time.Duration(rand.IntN(120)) * time.Millisecond)
					res, err := w.tc.EnqueueMerge(context.Background(), tasks.UserMergePayload{GuestID: gs[g], UserID: us[g]})
					if err != nil {
						t.Error(err)
						return
					}
					mergeIDs[g] = res.TaskID
				})
			}
			release(fs...)
			if t.Failed() {
				t.FailNow()
			}
			infos := w.wait(t, tasks.QueueMerge, mergeIDs...)
			if s := w.wait(t, sweepInfo.Queue, sweepInfo.ID)[sweepInfo.ID]; s.State != asynq.TaskStateCompleted {
				t.Fatalf("sweep %s: %s, %q", sweepID, s.State, s.LastErr)
			}
			manifest := w.manifestKeys(t, sweepID)
			for g, guest := range gs {
				tl.runs++
				r := mergeResult(t, infos[mergeIDs[g]])
				marked := slices.ContainsFunc(manifest, func(k string) bool { return strings.HasPrefix(k, skeys.UserPrefix(guest)) })
				switch {
				case r.ObjectsRestored > 0:
					tl.orders["sweep quarantined, then the merge restored"]++
				case marked:
					tl.orders["sweep marked, merge first (queued, busy or moved)"]++
				default:
					tl.orders["merge before the sweep's mark"]++
				}
				if got := int64(r.ObjectsMoved) + r.ObjectsRestored; got != objects || r.ObjectsPurged != 0 {
					tl.violate(t, "%s: result %+v, want %d objects moved or restored", guest, r, objects)
				}
				w.checkOwned(t, tl, guest, us[g], rel[guest], photos[guest])
			}
		}
	})

	// (b) A merge of a guest that an earlier sweep quarantined, released
	// together with an operator's restore of the guest's folder: the
	// objects end under the user either way, never back under the guest.
	t.Run("merge_of_quarantined_guest_vs_restore", func(t *testing.T) {
		tl := newTally("b: merge of a quarantined guest against a restore")
		defer tl.report(t)
		const objects = 8
		for run := range raceRuns {
			guest, user, sweepID := fmt.Sprintf("guest-b%d", run), fmt.Sprintf("u-b%d", run), fmt.Sprintf("rb-%d", run)
			rel := w.seedGuest(t, guest, objects, 45*day)
			photos := w.set.Artifi.AddPhotos(guest, guestPhotos)
			info, err := w.ac.Enqueue(w.sweepTask(t, sweepID))
			if err != nil {
				t.Fatal(err)
			}
			w.wait(t, info.Queue, info.ID)
			if q := w.quarantinedOf(t, guest); len(q) != objects {
				t.Fatalf("the earlier sweep quarantined %d of %s's %d objects", len(q), guest, objects)
			}
			var mergeID string
			var restore *harness.Process
			release(func() {
				// A restore process takes a while to start: every other
				// run gives it a random head start, so both orders come.
				if run%2 == 1 {
					time.Sleep(time.Duration(rand.IntN(1500)) * time.Millisecond)
				}
				res, err := w.tc.EnqueueMerge(context.Background(), tasks.UserMergePayload{GuestID: guest, UserID: user})
				if err != nil {
					t.Error(err)
					return
				}
				mergeID = res.TaskID
			}, func() {
				time.Sleep(time.Duration(rand.IntN(60)) * time.Millisecond)
				restore = harness.StartProcess(t, w.env, "sweep", "restore", sweepID, "--prefix", skeys.UserPrefix(guest))
			})
			if t.Failed() {
				t.FailNow()
			}
			r := mergeResult(t, w.wait(t, tasks.QueueMerge, mergeID)[mergeID])
			if code, exited := restore.Wait(30 * time.Second); !exited || code != 0 {
				t.Fatalf("sweep restore: exit %d (exited %v):\n%s", code, exited, restore.Output())
			}
			tl.runs++
			switch {
			case r.ObjectsRestored == objects:
				tl.orders["merge restored from quarantine, then the restore found nothing"]++
			case r.ObjectsMoved == objects:
				tl.orders["restore put them back under the guest, then the merge moved them"]++
			default:
				tl.orders[fmt.Sprintf("other: moved %d restored %d", r.ObjectsMoved, r.ObjectsRestored)]++
			}
			if got := int64(r.ObjectsMoved) + r.ObjectsRestored; got != objects {
				tl.violate(t, "%s: result %+v, want %d objects moved or restored", guest, r, objects)
			}
			w.checkOwned(t, tl, guest, user, rel, photos)
		}
	})

	// (c) A merge killed after Artifi's UpdateUserId, then a second merge of
	// the same guest into another user released together with the first
	// merge's retry: the second is refused, and nothing of the guest ends
	// under the other user.
	t.Run("killed_merge_then_merge_into_another_user", func(t *testing.T) {
		tl := newTally("c: merge killed after UpdateUserId, then a merge into another user")
		defer tl.report(t)
		const objects = 400
		for run := range raceRuns {
			began := time.Now()
			guest, u1, u2 := fmt.Sprintf("guest-c%d", run), fmt.Sprintf("u-c%d-1", run), fmt.Sprintf("u-c%d-2", run)
			rel := w.seedGuest(t, guest, objects, 0)
			photos := w.set.Artifi.AddPhotos(guest, guestPhotos)
			first, err := w.tc.EnqueueMerge(context.Background(), tasks.UserMergePayload{GuestID: guest, UserID: u1})
			if err != nil {
				t.Fatal(err)
			}
			progress := rkeys.MergeProgress(guest)
			testutil.Eventually(t, 20*time.Second, func() bool {
				v, _ := w.rdb.HGet(context.Background(), progress, "artifi").Result()
				done, _ := w.rdb.Exists(context.Background(), rkeys.MergedInto(guest)).Result()
				return v == "done" || done > 0
			}, "%s: UpdateUserId never done", guest)
			w.killWorkers(t)
			// The killed holder's locks would free with their lease (30 s);
			// end them now, as its retry would after the lease.
			w.rdb.Del(context.Background(), rkeys.UserLock(guest), rkeys.UserLock(u1))
			killedMidway := len(objectsOf(t, w.store, guest)) > 0

			// The first merge's own task waits for asynq to find its worker
			// dead (a minute or so); the same merge enqueued under another
			// task id is its retry, now.
			retry, err := tasks.NewUserMergeTask(tasks.UserMergePayload{GuestID: guest, UserID: u1}, asynq.TaskID(first.TaskID+"-retry"))
			if err != nil {
				t.Fatal(err)
			}
			var secondID string
			release(func() {
				if _, err := w.ac.Enqueue(retry); err != nil {
					t.Error(err)
				}
			}, func() {
				res, err := w.tc.EnqueueMerge(context.Background(), tasks.UserMergePayload{GuestID: guest, UserID: u2})
				if err != nil {
					t.Error(err)
					return
				}
				secondID = res.TaskID
			})
			if t.Failed() {
				t.FailNow()
			}
			infos := w.wait(t, tasks.QueueMerge, first.TaskID+"-retry", secondID)
			second := infos[secondID]
			tl.runs++
			order := "killed after every move"
			if killedMidway {
				order = "killed midway through the moves"
			}
			switch {
			case second.State != asynq.TaskStateArchived:
				tl.violate(t, "%s→%s: %s, want refused (dead-lettered)", guest, u2, second.State)
			case strings.Contains(second.LastErr, "is being merged into "+u1):
				tl.orders[order+"; second merge refused while the first was unfinished"]++
			case strings.Contains(second.LastErr, "already merged into another user ("+u1+")"):
				tl.orders[order+"; second merge refused after the retry finished"]++
			default:
				tl.violate(t, "%s→%s refused for another reason: %q", guest, u2, second.LastErr)
			}
			if infos[first.TaskID+"-retry"].State != asynq.TaskStateCompleted {
				tl.violate(t, "%s→%s retry: %s %q", guest, u1, infos[first.TaskID+"-retry"].State, infos[first.TaskID+"-retry"].LastErr)
			}
			if n := len(w.set.Artifi.Photos(u2)); n != 0 || len(objectsOf(t, w.store, u2)) != 0 {
				tl.violate(t, "guest %s split: %s has %d Artifi photos and %d objects", guest, u2, n, len(objectsOf(t, w.store, u2)))
			}
			w.checkOwned(t, tl, guest, u1, rel, photos)
			t.Logf("run %d: %v", run, time.Since(began).Round(time.Millisecond))
		}
	})
	t.Logf("all races: %v", time.Since(start).Round(time.Second))
}

// manifestKeys lists the original keys in sweep id's manifest.
func (w *raceWorld) manifestKeys(t *testing.T, id string) []string {
	t.Helper()
	var keys []string
	for _, part := range testutil.Keys(t, w.store, skeys.SweepManifest(id)) {
		rc, err := w.store.Get(context.Background(), part)
		if err != nil {
			t.Fatal(err)
		}
		dec := json.NewDecoder(rc)
		for {
			var e struct {
				Key string `json:"key"`
			}
			if dec.Decode(&e) != nil {
				break
			}
			keys = append(keys, e.Key)
		}
		rc.Close()
	}
	return keys
}
