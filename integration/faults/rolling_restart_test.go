package faults

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/lifecycle-worker/lifecycle/integration/harness"
	"github.com/lifecycle-worker/lifecycle/internal/erasure"
	"github.com/lifecycle-worker/lifecycle/internal/identity"
	simfaults "github.com/lifecycle-worker/lifecycle/internal/sim/faults"
	"github.com/lifecycle-worker/lifecycle/internal/skeys"
	"github.com/lifecycle-worker/lifecycle/internal/testutil"
)

// TestRollingRestartDuringErasure (scenario 7): three workers, each stopped
// with SIGTERM and replaced in turn, as a deployment does, while they erase
// a user. The erasure must finish with one receipt whose counts match what
// the simulators and the store hold, and nothing of the user left.
func TestRollingRestartDuringErasure(t *testing.T) {
	t.Parallel() // processes of this machine only (main_test.go)
	const photos, guestPhotos, objects, requestID = 1000, 20, 200, "gdpr-roll-1"
	const user, guest, bpmUser = "u-roll", "g-roll", "roll.user"
	ctx := context.Background()
	r := startAOFRedis(t)
	rdb := testutil.Client(t, r.Addr())
	set := harness.StartSimulators(t)
	store, dir := testutil.FileStore(t)
	set.Artifi.AddPhotos(user, photos)
	set.Artifi.AddPhotos(guest, guestPhotos)
	set.Artifi.AddDesigns(user, 3)
	set.Artifi.AddDesigns(guest, 2)
	set.Bigin.AddRecord("Contacts", "5001", true)
	set.BPM.AddUser(bpmUser, 4242, true)
	if err := identity.New(rdb).RecordMerge(ctx, guest, user); err != nil {
		t.Fatal(err)
	}
	for i := range objects {
		testutil.PutObjects(t, store, fmt.Sprintf("users/%s/photos/%05d.jpg", user, i))
	}
	set.Artifi.Faults().Set(simfaults.Config{Latency: 150 * time.Millisecond}) // the restarts land midway
	// A stopping worker's slice starts no new call and pauses at its
	// checkpoint (erasure.Executor.Stopping), so the calls in flight finish
	// within the grace and none is repeated, even with a shutdown timeout
	// (4 s: 1.5 s of grace) far shorter than a slice (10 s). Before, such a
	// slice ran on until asynq cancelled it (outcome interrupted, 1 or 2 a
	// run), cutting its calls in flight as a kill does; on a loaded machine
	// 1 to 3 photos were then deleted twice.
	extra := []string{"LIFECYCLE_RECEIPT_SIGNING_KEY=MC4CAQAwBQYDK2VwBCIEIL4jbNy+MLgI+6rtamHjZUWDkRLV43Z2F5aJLEf7HxJR",
		"LIFECYCLE_SHUTDOWN_TIMEOUT=4s", "LIFECYCLE_ERASURE_SLICE_BUDGET=10s"}
	ws := startWorkers(t, 3, r.URL(), dir, set, extra...)
	all := append([]*harness.Process(nil), ws...)

	file := harness.StartProcess(t, harness.WorkerEnv(t, r.URL(), dir, set, extra...), "erasure", "file",
		"--request-id", requestID, "--user-id", user, "--bigin", "Contacts:5001", "--bpm-user", bpmUser, "--filed-by", "dpo-1")
	if code, _ := file.Wait(30 * time.Second); code != 0 {
		t.Fatalf("erasure file: exit %d\n%s", code, file.Output())
	}
	start := time.Now()
	es := erasure.NewStore(rdb)
	for i, w := range ws {
		time.Sleep(2 * time.Second)
		if rec, err := es.Get(ctx, requestID); err == nil && rec.State.Status == erasure.StatusDone {
			t.Fatalf("the erasure finished before restart %d: slow the simulators down", i+1)
		}
		if err := w.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if code, ok := w.Wait(15 * time.Second); !ok || code != 0 {
			t.Fatalf("worker %d: SIGTERM: exit %d, exited %v", i+1, code, ok)
		}
		all = append(all, startWorker(t, r.URL(), dir, set, extra...))
	}
	lastRestart := time.Now()
	var rec erasure.Record
	testutil.Eventually(t, 3*time.Minute, func() bool {
		var err error
		rec, err = es.Get(ctx, requestID)
		return err == nil && rec.State.Status == erasure.StatusDone
	}, "erasure not done: %+v", testutil.Later(func() any { return rec.State }))

	receipts, _ := filepath.Glob(filepath.Join(dir, filepath.Dir(skeys.Receipt(requestID)), "*"))
	doc, err := os.ReadFile(filepath.Join(dir, skeys.Receipt(requestID)))
	if err != nil {
		t.Fatal(err)
	}
	var rc erasure.Receipt
	if err := json.Unmarshal(doc, &rc); err != nil {
		t.Fatal(err)
	}
	got := map[string][2]int{}
	failed := 0
	for _, s := range rc.Systems {
		got[s.System] = [2]int{s.Steps, s.Count}
		failed += s.Failed
	}
	want := map[string][2]int{ // system -> {steps, count}
		// Steps: each photo, the designs of both ids, and the cart-and-activity
		// step of both ids (unconfirmed: no deletion endpoint, seed 003).
		erasure.SystemArtifi: {photos + guestPhotos + 2 + 2, photos + guestPhotos + 2},
		erasure.SystemBigin:  {1, 1},
		erasure.SystemIBMBPM: {1, 1},
		// A prefix step and a versions step for each id.
		erasure.SystemStorage: {4, objects},
		// Our own tasks, dead letters, quarantine and records: the merge
		// left the user's aliases and the guest's merged-into.
		erasure.SystemOwn: {4, 2},
	}
	left := len(set.Artifi.Photos(user)) + len(set.Artifi.Photos(guest)) + set.Artifi.Designs(user) + set.Artifi.Designs(guest) +
		len(testutil.Keys(t, store, "users/"+user+"/"))
	if set.Bigin.HasPhoto("Contacts", "5001") {
		left++
	}
	if !set.BPM.AvatarIsDefault(bpmUser) {
		left++
	}
	rep := report{name: "7 rolling restart during an erasure", in: 1, out: queueState{completed: 1},
		attempts: outcomes(all...), lost: left, repeats: set.Artifi.DoubleDeletes(), recovery: time.Since(lastRestart),
		extra: fmt.Sprintf("receipts=%d receipt=%v erased_in=%v", len(receipts), got, time.Since(start).Round(time.Second))}
	rep.print()
	if len(receipts) != 1 {
		t.Errorf("%d receipts, want 1: %v", len(receipts), receipts)
	}
	for sys, w := range want {
		if got[sys] != w {
			t.Errorf("receipt %s {steps, count} = %v, want %v", sys, got[sys], w)
		}
	}
	if failed != 0 || left != 0 {
		t.Errorf("%d failed steps, %d things of the user left", failed, left)
	}
	if rep.repeats != 0 {
		t.Errorf("%d photos deleted twice across graceful restarts, want 0", rep.repeats)
	}
}
