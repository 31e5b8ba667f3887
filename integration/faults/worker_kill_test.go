package faults

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/lifecycle-worker/lifecycle/integration/harness"
	"github.com/lifecycle-worker/lifecycle/internal/erasure"
	simfaults "github.com/lifecycle-worker/lifecycle/internal/sim/faults"
	"github.com/lifecycle-worker/lifecycle/internal/skeys"
	"github.com/lifecycle-worker/lifecycle/internal/testutil"
	"github.com/lifecycle-worker/lifecycle/tasks"
)

// kindTally is one kind of work's figures in scenario 1's line.
type kindTally struct {
	in, completed, deadLettered, lost int
	// repeats are upstream calls beyond the first per step; lostReply of
	// them follow a reply the simulator dropped; the rest (unexplained)
	// can only be calls in flight at a kill, at most one per step.
	repeats, lostReply, unexplained int
}

func (k kindTally) String() string {
	return fmt.Sprintf("in=%d completed=%d dead_lettered=%d lost=%d repeated_upstream=%d (after a dropped reply %d, in flight at a kill %d)",
		k.in, k.completed, k.deadLettered, k.lost, k.repeats, k.lostReply, k.unexplained)
}

// step adds one step's upstream calls to k: calls made, of which lost had
// their reply dropped. It returns the repeats no dropped reply explains.
func (k *kindTally) step(calls, lost int) int {
	extra := max(0, calls-1)
	k.repeats += extra
	k.lostReply += min(extra, lost)
	u := max(0, extra-lost)
	k.unexplained += u
	return u
}

// TestWorkerSIGKILLedRepeatedly (scenario 1): three workers, one SIGKILLed
// and replaced every 2 s, four times, under mixed load: photo deletions,
// guest-to-user merges filed in waves between the kills, and GDPR erasures,
// while Artifi loses 2% of its replies after applying the call. Per kind:
// nothing lost (every task ends succeeded, already gone or dead-lettered
// with a reason; every erasure done, or needs_review only for findings the
// simulators cannot confirm, which it names), each guest merged by exactly
// one applied UpdateUserId, and an upstream call repeated only where its
// answer never arrived: its reply was dropped, or it was in flight at a kill
// (at most one such repeat per step, and no more than the killed workers'
// slots). A repeat of work whose completion was recorded is neither: no
// task runs to the upstream again once a run of it ended succeeded or
// already gone (its outcome lines, written after the completion record).
func TestWorkerSIGKILLedRepeatedly(t *testing.T) {
	t.Parallel() // processes of this machine only (main_test.go)
	const (
		photos, guests, erasures = 500, 32, 3
		guestPhotos, guestObjs   = 3, 2
		erasePhotos, eraseObjs   = 40, 10
		kills, concurrency       = 4, 10
		signingKey               = "MC4CAQAwBQYDK2VwBCIEIL4jbNy+MLgI+6rtamHjZUWDkRLV43Z2F5aJLEf7HxJR"
	)
	ctx := context.Background()
	r := startAOFRedis(t)
	rdb := testutil.Client(t, r.Addr())
	set := harness.StartSimulators(t)
	store, dir := testutil.FileStore(t)

	jobs := artifiPhotos(set, "kill", photos)
	type mergeJob struct {
		guest, user string
		photos      []string
	}
	var merges []mergeJob
	for i := range guests {
		m := mergeJob{guest: fmt.Sprintf("g-kill-%d", i), user: fmt.Sprintf("u-kill-%d", i)}
		m.photos = set.Artifi.AddPhotos(m.guest, guestPhotos)
		set.Artifi.AddDesigns(m.guest, 1)
		set.Artifi.AddUser(m.user)
		for j := range guestObjs {
			testutil.PutObjects(t, store, fmt.Sprintf("users/%s/designs/%04d.png", m.guest, j))
		}
		merges = append(merges, m)
	}
	var eraseUsers, eraseIDs []string
	var erasePhotoIDs []string
	for i := range erasures {
		u, id := fmt.Sprintf("e-kill-%d", i), fmt.Sprintf("gdpr-kill-%d", i)
		erasePhotoIDs = append(erasePhotoIDs, set.Artifi.AddPhotos(u, erasePhotos)...)
		set.Artifi.AddDesigns(u, 2)
		for j := range eraseObjs {
			testutil.PutObjects(t, store, fmt.Sprintf("users/%s/photos/%05d.jpg", u, j))
		}
		eraseUsers, eraseIDs = append(eraseUsers, u), append(eraseIDs, id)
	}

	set.Artifi.Faults().Set(simfaults.Config{Latency: 150 * time.Millisecond, DropReplyRate: 0.02, Seed: 11})
	env := []string{"LIFECYCLE_CONCURRENCY=10", "LIFECYCLE_RECEIPT_SIGNING_KEY=" + signingKey}
	ps := startWorkers(t, 3, r.URL(), dir, set, env...)
	for i, u := range eraseUsers {
		file := harness.StartProcess(t, harness.WorkerEnv(t, r.URL(), dir, set, env...), "erasure", "file",
			"--request-id", eraseIDs[i], "--user-id", u, "--filed-by", "dpo-1")
		if code, _ := file.Wait(30 * time.Second); code != 0 {
			t.Fatalf("erasure file: exit %d\n%s", code, file.Output())
		}
	}
	client := tasks.NewClient(asynq.RedisClientOpt{Addr: r.Addr()})
	defer client.Close()
	enqueuePhotos(t, client, jobs)
	in := asynq.NewInspector(asynq.RedisClientOpt{Addr: r.Addr()})
	defer in.Close()

	// Merges are filed in a wave before each kill, so that every kill
	// lands on some; the active counts at each kill go into the line.
	wave := guests / kills
	var atKills []string
	for k := range kills {
		for _, m := range merges[k*wave : (k+1)*wave] {
			if _, err := client.EnqueueMerge(ctx, tasks.UserMergePayload{GuestID: m.guest, UserID: m.user}); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(2 * time.Second)
		var active []string
		for _, q := range []string{tasks.QueuePhoto, tasks.QueueMerge, tasks.QueueErase} {
			if qi, err := in.GetQueueInfo(q); err == nil {
				active = append(active, fmt.Sprintf("%s:%d", q, qi.Active))
			}
		}
		atKills = append(atKills, strings.Join(active, ","))
		victim := ps[k%len(ps)]
		if err := victim.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		victim.Wait(5 * time.Second)
		ps = append(ps, startWorker(t, r.URL(), dir, set, env...))
	}
	lastKill := time.Now()

	photoOut := drain(t, in, tasks.QueuePhoto, photos, 4*time.Minute)
	mergeOut := drain(t, in, tasks.QueueMerge, guests, 2*time.Minute)
	es := erasure.NewStore(rdb)
	records := map[string]erasure.Record{}
	testutil.Eventually(t, 3*time.Minute, func() bool {
		for _, id := range eraseIDs {
			rec, err := es.Get(ctx, id)
			if err != nil {
				return false
			}
			records[id] = rec
			if s := rec.State.Status; s != erasure.StatusDone && s != erasure.StatusNeedsReview && s != erasure.StatusFailed {
				return false
			}
		}
		return true
	}, "erasures not finished: %v", testutil.Later(func() any { return records }))
	recovery := time.Since(lastKill)

	// Dead-lettered work must say why.
	reasons := map[string]int{}
	for _, q := range []string{tasks.QueuePhoto, tasks.QueueMerge} {
		archived, _ := in.ListArchivedTasks(q, asynq.PageSize(1000))
		for _, ti := range archived {
			t.Logf("%s task %s dead-lettered: %s", q, ti.ID, ti.LastErr)
			if ti.LastErr == "" {
				t.Errorf("%s task %s dead-lettered without a reason", q, ti.ID)
			}
			// The reason without the ids in it, to count alike ones.
			why := ti.LastErr
			if _, rest, ok := strings.Cut(why, "for user "); ok {
				_, why, _ = strings.Cut(rest, ": ")
			}
			why, _, _ = strings.Cut(why, " [")
			reasons[q+": "+why]++
		}
	}

	// Photos: every one gone, each DeleteUserPhoto repeated only after a
	// lost answer.
	ph := kindTally{in: photos, completed: photoOut.completed, deadLettered: photoOut.archived,
		lost: photos - photoOut.done + photosLeft(set, jobs)}
	for _, j := range jobs {
		if u := ph.step(set.Artifi.DeleteCount(j.PhotoID), set.Artifi.DeleteLost(j.PhotoID)); u > 1 {
			t.Errorf("photo %s: %d repeated deletions no dropped reply explains, want at most 1 (in flight at a kill)", j.PhotoID, u)
		}
	}

	// Merges: one applied UpdateUserId per guest, its photos with the user,
	// nothing left under the guest's prefix, every object moved.
	mg := kindTally{in: guests, completed: mergeOut.completed, deadLettered: mergeOut.archived, lost: guests - mergeOut.done}
	appliedOnce := 0
	for _, m := range merges {
		calls, lost, applied := set.Artifi.MergeCalls(m.guest)
		if applied == 1 {
			appliedOnce++
		} else {
			t.Errorf("guest %s: UpdateUserId applied %d times, want exactly 1", m.guest, applied)
		}
		if u := mg.step(calls, lost); u > 1 {
			t.Errorf("guest %s: %d repeated UpdateUserId calls no dropped reply explains, want at most 1", m.guest, u)
		}
		have := map[string]bool{}
		for _, id := range set.Artifi.Photos(m.user) {
			have[id] = true
		}
		missing := 0
		for _, id := range m.photos {
			if !have[id] {
				missing++
			}
		}
		left := len(set.Artifi.Photos(m.guest)) + len(testutil.Keys(t, store, "users/"+m.guest+"/"))
		moved := len(testutil.Keys(t, store, "users/"+m.user+"/"))
		if applied != 1 || missing != 0 || left != 0 || moved != guestObjs {
			mg.lost++
			t.Errorf("guest %s: %d photos not with %s, %d things left under the guest, %d of %d objects moved",
				m.guest, missing, m.user, left, moved, guestObjs)
		}
	}

	// Erasures: done (or needs_review, naming what the simulators cannot
	// confirm), one receipt each with the counts the simulators held,
	// nothing of the user left.
	er := kindTally{in: erasures}
	reviews := 0
	for _, id := range erasePhotoIDs {
		if u := er.step(set.Artifi.DeleteCount(id), set.Artifi.DeleteLost(id)); u > 1 {
			t.Errorf("erasure photo %s: %d repeated deletions no dropped reply explains, want at most 1", id, u)
		}
	}
	for i, id := range eraseIDs {
		u, rec := eraseUsers[i], records[id]
		switch rec.State.Status {
		case erasure.StatusDone:
			er.completed++
		case erasure.StatusNeedsReview:
			reviews++
			t.Logf("erasure %s needs review, for findings the simulators cannot confirm: %+v", id, rec.State.Unconfirmed)
			if len(rec.State.Unconfirmed) == 0 {
				t.Errorf("erasure %s needs review and names no finding", id)
			}
		default:
			er.deadLettered++
			t.Errorf("erasure %s ended %s: %+v", id, rec.State.Status, rec.State)
		}
		left := len(set.Artifi.Photos(u)) + set.Artifi.Designs(u) + len(testutil.Keys(t, store, "users/"+u+"/"))
		if left != 0 {
			er.lost++
			t.Errorf("erasure %s: %d things of %s left", id, left, u)
		}
		if rec.State.Status != erasure.StatusDone {
			continue
		}
		receipts, _ := filepath.Glob(filepath.Join(dir, filepath.Dir(skeys.Receipt(id)), id+"*"))
		doc, err := os.ReadFile(filepath.Join(dir, skeys.Receipt(id)))
		var rc erasure.Receipt
		if err == nil {
			err = json.Unmarshal(doc, &rc)
		}
		if err != nil || len(receipts) != 1 {
			t.Errorf("erasure %s: receipts %v: %v", id, receipts, err)
			continue
		}
		got := map[string]int{}
		failed := 0
		for _, s := range rc.Systems {
			got[s.System] = s.Count
			failed += s.Failed
		}
		// Artifi: each photo and the designs step; storage: the objects.
		if got[erasure.SystemArtifi] != erasePhotos+1 || got[erasure.SystemStorage] != eraseObjs || failed != 0 {
			t.Errorf("erasure %s receipt counts %v (%d failed), want artifi %d, storage %d", id, got, failed, erasePhotos+1, eraseObjs)
		}
	}

	// No handler ran again once its task's completion was on record.
	reruns := rerunsAfterDone(ps...)
	for id, n := range reruns {
		t.Errorf("task %s: %d more runs reached the upstream after its completion was recorded", id, n)
	}

	dropped := int(set.Artifi.Faults().Stats().Injected[simfaults.KindDropReply])
	inFlight := kills * concurrency
	rep := report{name: "1 worker SIGKILLed x4 (photos, merges, erasures)", in: photos + guests + erasures,
		out:      queueState{completed: ph.completed + mg.completed + er.completed, archived: ph.deadLettered + mg.deadLettered + er.deadLettered},
		attempts: outcomes(ps...), lost: ph.lost + mg.lost + er.lost, repeats: ph.repeats + mg.repeats + er.repeats,
		inFlight: inFlight, recovery: recovery,
		extra: fmt.Sprintf("| photo %v | merge %v applied_once=%d | erase %v needs_review=%d | reruns_after_recorded=%d dropped_replies=%d active_before_kills=[%s] dead_letter_reasons=%v",
			ph, mg, appliedOnce, er, reviews, len(reruns), dropped, strings.Join(atKills, " "), reasons)}
	rep.print()
	if rep.lost != 0 {
		t.Errorf("%d lost (photos %d, merges %d, erasures %d)", rep.lost, ph.lost, mg.lost, er.lost)
	}
	if u := ph.unexplained + mg.unexplained + er.unexplained; u > inFlight {
		t.Errorf("%d repeated upstream calls no dropped reply explains, more than the %d slots of the killed workers", u, inFlight)
	}
}
