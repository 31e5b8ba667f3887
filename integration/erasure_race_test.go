package integration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/lifecycle-worker/lifecycle/integration/harness"
	"github.com/lifecycle-worker/lifecycle/internal/erasure"
	"github.com/lifecycle-worker/lifecycle/internal/erasure/erasuretasks"
	"github.com/lifecycle-worker/lifecycle/internal/rkeys"
	"github.com/lifecycle-worker/lifecycle/internal/skeys"
	"github.com/lifecycle-worker/lifecycle/internal/testutil"
	"github.com/lifecycle-worker/lifecycle/tasks"
)

// eraseWorld is a raceWorld whose workers sign receipts and run erasures
// in short slices, with the privacy team's filing service in the test.
type eraseWorld struct {
	*raceWorld
	erasures *erasure.Service
}

func newEraseWorld(t *testing.T) *eraseWorld {
	t.Helper()
	addr, rdb := testutil.RealRedis(t)
	w := &raceWorld{opt: asynq.RedisClientOpt{Addr: addr}, rdb: rdb, set: harness.StartSimulators(t)}
	w.store, w.dir = testutil.FileStore(t)
	w.env = harness.WorkerEnv(t, "redis://"+addr, w.dir, w.set,
		"LIFECYCLE_RECEIPT_SIGNING_KEY="+receiptSigningKey, "LIFECYCLE_ERASURE_SLICE_BUDGET=1s",
		"LIFECYCLE_TASK_CHECK_INTERVAL=20ms")
	w.startWorkers(t, 3)
	w.tc = tasks.NewClient(w.opt)
	w.ac = asynq.NewClient(w.opt)
	w.in = asynq.NewInspector(w.opt)
	t.Cleanup(func() { w.tc.Close(); w.ac.Close(); w.in.Close() })
	q := erasuretasks.NewQueue(tasks.WrapClient(asynq.NewClientFromRedisClient(rdb)), asynq.NewInspectorFromRedisClient(rdb))
	return &eraseWorld{raceWorld: w, erasures: &erasure.Service{Store: erasure.NewStore(rdb), Queue: q}}
}

func (w *eraseWorld) file(t *testing.T, id, user string) {
	t.Helper()
	if _, err := w.erasures.File(context.Background(), erasure.Request{ID: id, UserID: user, FiledBy: "dpo-race", FiledAt: time.Now().Add(-time.Minute)}); err != nil {
		t.Fatal(err)
	}
}

// enqueueMerge enqueues a merge and returns its task id ("" after a failure,
// which it reports).
func (w *eraseWorld) enqueueMerge(t *testing.T, guest, user string) string {
	res, err := w.tc.EnqueueMerge(context.Background(), tasks.UserMergePayload{GuestID: guest, UserID: user})
	if err != nil {
		t.Error(err)
		return ""
	}
	return res.TaskID
}

// settled waits until request id is done, failed or in review.
func (w *eraseWorld) settled(t *testing.T, id string) erasure.Record {
	t.Helper()
	var rec erasure.Record
	testutil.Eventually(t, 90*time.Second, func() bool {
		rec, _ = w.erasures.Get(context.Background(), id)
		// A slice backing off (an unconfirmed step is tried again) runs
		// at once: asynq's backoff would only make each run slower.
		if retrying, err := w.in.ListRetryTasks(tasks.QueueErase); err == nil {
			for _, r := range retrying {
				_ = w.in.RunTask(tasks.QueueErase, r.ID)
			}
		}
		s := rec.State.Status
		return s == erasure.StatusDone || (s == erasure.StatusNeedsReview && len(rec.State.Unconfirmed) > 0) ||
			(s == erasure.StatusFailed && rec.State.Error != "")
	}, "erasure %s not settled: %+v\n%v", id, testutil.Later(func() any { return rec }), testutil.Later(func() any { return w.workerLogs() }))
	return rec
}

// checkReceipt checks that a done request's receipt names the cart items
// and activity of every subject as unconfirmed, with the reason.
func (w *eraseWorld) checkReceipt(t *testing.T, tl *tally, id string) {
	t.Helper()
	rc, err := w.store.Get(context.Background(), skeys.Receipt(id))
	if err != nil {
		tl.violate(t, "%s done without a receipt: %v", id, err)
		return
	}
	defer rc.Close()
	var r erasure.Receipt
	if err := json.NewDecoder(rc).Decode(&r); err != nil {
		t.Fatal(err)
	}
	for _, sub := range r.Subjects {
		if !slices.ContainsFunc(r.Steps, func(s erasure.ReceiptStep) bool {
			return s.Step == "artifi:cart_activity:"+sub && s.Outcome == erasure.Unconfirmed && s.Answer == erasure.CartActivityAnswer
		}) {
			tl.violate(t, "%s: receipt does not name the cart items and activity of %s", id, sub)
		}
	}
}

// mergeEnded waits until merge id is completed, dead-lettered or deleted
// (nil); once the erasure it waited for has settled, a retry backing off
// runs at once (asynq's backoff would only make each run slower). A merge
// naming a subject that still waits when the erasure reaches our own
// copies is deleted with them (erasure.KindOwnTasks).
func (w *eraseWorld) mergeEnded(t *testing.T, id string) *asynq.TaskInfo {
	t.Helper()
	var info *asynq.TaskInfo
	testutil.Eventually(t, 60*time.Second, func() bool {
		var err error
		if info, err = w.in.GetTaskInfo(tasks.QueueMerge, id); errors.Is(err, asynq.ErrTaskNotFound) {
			info = nil
			return true
		} else if err != nil {
			return false
		}
		if info.State == asynq.TaskStateRetry {
			_ = w.in.RunTask(tasks.QueueMerge, id)
		}
		return info.State == asynq.TaskStateCompleted || info.State == asynq.TaskStateArchived
	}, "merge %s not ended: %v", id, testutil.Later(func() any { return w.workerLogs() }))
	return info
}

// seedUser gives id photos in Artifi and objects in storage.
func (w *eraseWorld) seedUser(t *testing.T, id string, photos, objects int) {
	t.Helper()
	w.set.Artifi.AddPhotos(id, photos)
	w.seedGuest(t, id, objects, 0)
}

// holdsData reports whether anything of id is left in Artifi or storage.
func (w *eraseWorld) holdsData(t *testing.T, id string) bool {
	return len(w.set.Artifi.Photos(id)) > 0 || len(objectsOf(t, w.store, id)) > 0
}

// TestErasureRaces runs the erasure side of issue 20's races, each raceRuns
// times on three worker processes, a redis-server, the simulators and a file
// store. Over every run: no erasure is done while its subject's data lives
// on under another id, and every receipt names cart items and activity.
func TestErasureRaces(t *testing.T) {
	t.Parallel()
	w := newEraseWorld(t)
	start := time.Now()
	ctx := context.Background()

	// (d) A merge of a guest into a registered user released together with
	// the erasure of that user.
	t.Run("merge_vs_erasure_of_the_user", func(t *testing.T) {
		tl := newTally("d: merge against an erasure of the registered user")
		defer tl.report(t)
		for run := range raceRuns {
			guest, user, req := fmt.Sprintf("guest-d%d", run), fmt.Sprintf("u-d%d", run), fmt.Sprintf("GDPR-d%d", run)
			w.seedUser(t, guest, 3, 8)
			w.seedUser(t, user, 3, 8)
			var mergeID string
			release(func() { w.file(t, req, user) }, func() { mergeID = w.enqueueMerge(t, guest, user) })
			if mergeID == "" {
				t.FailNow()
			}
			rec := w.settled(t, req)
			m := w.mergeEnded(t, mergeID)
			tl.runs++
			into, _ := w.rdb.Get(ctx, rkeys.MergedInto(guest)).Result()
			// Whether the erasure took the guest in as merged: its plan says,
			// since the guest's merged-into record and completed merge task
			// go with the erasure's own copies of the ids.
			covered := w.planCovers(t, req, guest)
			switch {
			case m == nil && covered:
				tl.orders["merge first, then the erasure covered the guest (merge task deleted with the erasure's own copies)"]++
			case m == nil && into == "":
				tl.orders["erasure first, the waiting merge deleted with the erasure's own copies"]++
				if !w.holdsData(t, guest) {
					tl.violate(t, "%s: merge deleted, yet the guest's data is gone", guest)
				}
			case m == nil:
				tl.violate(t, "%s→%s: merge task gone, yet merged into %q", guest, user, into)
			case m.State == asynq.TaskStateCompleted && covered:
				tl.orders["merge first, then the erasure covered the guest"]++
			case m.State == asynq.TaskStateArchived && strings.Contains(m.LastErr, "was erased by request "+req):
				tl.orders["erasure first, the merge waited and was refused"]++
				if !w.holdsData(t, guest) {
					tl.violate(t, "%s: refused merge, yet the guest's data is gone", guest)
				}
			default:
				tl.violate(t, "%s→%s: merge %s, merged into %q", guest, user, describeMerge(m), into)
			}
			// After UpdateUserId Artifi no longer knows the guest id, so
			// the delete of its designs proves nothing (227): review.
			tl.orders["erasure "+string(rec.State.Status)]++
			if rec.State.Status != erasure.StatusDone {
				if rec.State.Status != erasure.StatusNeedsReview {
					tl.violate(t, "%s: %s %q, want done or needs_review", req, rec.State.Status, rec.State.Error)
				}
				continue
			}
			if w.holdsData(t, user) || (covered && w.holdsData(t, guest)) {
				tl.violate(t, "%s done while data of %s lives on (user %v, guest %v)", req, user, w.holdsData(t, user), w.holdsData(t, guest))
			}
			w.checkReceipt(t, tl, req)
		}
	})

	// (e) The erasure of a guest id released together with its merge into
	// a registered user.
	t.Run("erasure_of_a_merging_guest", func(t *testing.T) {
		tl := newTally("e: erasure of a guest against its merge")
		defer tl.report(t)
		for run := range raceRuns {
			guest, user, req := fmt.Sprintf("guest-e%d", run), fmt.Sprintf("u-e%d", run), fmt.Sprintf("GDPR-e%d", run)
			w.seedUser(t, guest, 3, 8)
			var mergeID string
			release(func() { w.file(t, req, guest) }, func() { mergeID = w.enqueueMerge(t, guest, user) })
			if mergeID == "" {
				t.FailNow()
			}
			m := w.mergeEnded(t, mergeID)
			rec := w.settled(t, req)
			tl.runs++
			into, _ := w.rdb.Get(ctx, rkeys.MergedInto(guest)).Result()
			want := "guest " + guest + " is now user " + user + ": erase " + user
			switch {
			case into == user && rec.State.Status == erasure.StatusNeedsReview &&
				slices.ContainsFunc(rec.State.Unconfirmed, func(f erasure.Finding) bool { return f.Answer == want }):
				tl.orders["merge first, the erasure needs review naming the user"]++
			case into == "" && rec.State.Status == erasure.StatusDone && (m == nil || m.State == asynq.TaskStateArchived):
				if m == nil {
					tl.orders["erasure first, the waiting merge deleted with the erasure's own copies"]++
				} else {
					tl.orders["erasure first, the merge waited and was refused"]++
				}
				w.checkReceipt(t, tl, req)
				if w.holdsData(t, guest) || w.holdsData(t, user) {
					tl.violate(t, "%s done, yet data of %s is left", req, guest)
				}
			default:
				tl.violate(t, "%s: erasure %s %v, merge %s, merged into %q", guest, rec.State.Status, rec.State.Unconfirmed, describeMerge(m), into)
			}
			if rec.State.Status == erasure.StatusDone && into != "" {
				tl.violate(t, "%s done while %s's data lives on under %s", req, guest, into)
			}
		}
	})

	// (f) A worker killed while its erasure holds the user's lock and a
	// merge into that user waits. The lock then frees (as its lease would);
	// the fence keeps the merge out until the next slice has finished.
	t.Run("killed_erasure_holding_the_lock_vs_waiting_merge", func(t *testing.T) {
		tl := newTally("f: worker killed while its erasure holds the lock and a merge waits")
		defer tl.report(t)
		for run := range raceRuns {
			guest, user, req := fmt.Sprintf("guest-f%d", run), fmt.Sprintf("u-f%d", run), fmt.Sprintf("GDPR-f%d", run)
			w.seedUser(t, guest, 3, 8)
			w.seedUser(t, user, 40, 300)
			w.file(t, req, user)
			testutil.Eventually(t, 20*time.Second, func() bool {
				rec, _ := w.erasures.Get(ctx, req)
				n, _ := w.rdb.Exists(ctx, rkeys.UserLock(user)).Result()
				return rec.State.Status == erasure.StatusDone || (rec.State.Status == erasure.StatusRunning && n > 0)
			}, "%s never ran", req)
			res, err := w.tc.EnqueueMerge(ctx, tasks.UserMergePayload{GuestID: guest, UserID: user})
			if err != nil {
				t.Fatal(err)
			}
			time.Sleep(100 * time.Millisecond) // the merge meets the held lock
			w.killWorkers(t)
			rec, _ := w.erasures.Get(ctx, req)
			killedMidway := rec.State.Status != erasure.StatusDone
			// The lease would free the dead worker's lock in 30 s: free it
			// now, and run the watchdog slice now instead of in 40 s.
			w.rdb.Del(ctx, rkeys.UserLock(user), rkeys.UserLock(guest))
			if killedMidway {
				_ = w.in.RunTask(tasks.QueueErase, w.erasures.Queue.TaskID(rec.Request, rec.State.Slice+1))
			}
			// A merge the kill interrupted is retried under another id,
			// as asynq's recoverer would a minute later.
			mergeID := res.TaskID
			if info, err := w.in.GetTaskInfo(tasks.QueueMerge, mergeID); err == nil && info.State == asynq.TaskStateActive {
				retry, err := tasks.NewUserMergeTask(tasks.UserMergePayload{GuestID: guest, UserID: user}, asynq.TaskID(mergeID+"-retry"))
				if err != nil {
					t.Fatal(err)
				}
				if _, err := w.ac.Enqueue(retry); err != nil {
					t.Fatal(err)
				}
				mergeID += "-retry"
			}
			rec = w.settled(t, req)
			m := w.mergeEnded(t, mergeID)
			tl.runs++
			order := "erasure done before the kill"
			if killedMidway {
				order = "killed mid-erasure"
			}
			into, _ := w.rdb.Get(ctx, rkeys.MergedInto(guest)).Result()
			switch {
			case m == nil && into == "":
				tl.orders[order+"; waiting merge deleted with the erasure's own copies"]++
			case m != nil && m.State == asynq.TaskStateArchived && strings.Contains(m.LastErr, "was erased by request "+req):
				tl.orders[order+"; merge refused after the receipt"]++
			default:
				tl.violate(t, "%s→%s: merge %s, merged into %q", guest, user, describeMerge(m), into)
			}
			if rec.State.Status != erasure.StatusDone {
				tl.violate(t, "%s: %s %q %v, want done", req, rec.State.Status, rec.State.Error, rec.State.Remains)
				continue
			}
			if w.holdsData(t, user) {
				tl.violate(t, "%s done while data of %s lives on", req, user)
			}
			if !w.holdsData(t, guest) {
				tl.violate(t, "%s: the refused guest's data is gone", guest)
			}
			w.checkReceipt(t, tl, req)
		}
	})
	t.Logf("all erasure races: %v", time.Since(start).Round(time.Second))
}

// describeMerge says how a merge task ended (mergeEnded).
func describeMerge(m *asynq.TaskInfo) string {
	if m == nil {
		return "deleted"
	}
	return fmt.Sprintf("%s %q", m.State, m.LastErr)
}

// planCovers reports whether request id's plan covers subject.
func (w *eraseWorld) planCovers(t *testing.T, id, subject string) bool {
	t.Helper()
	b, err := w.rdb.Get(context.Background(), rkeys.ErasurePlan(id)).Bytes()
	if err != nil {
		t.Fatalf("plan of %s: %v", id, err)
	}
	var p erasure.Plan
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatal(err)
	}
	return slices.Contains(p.IDs, subject)
}
