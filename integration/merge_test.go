package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hibiken/asynq"

	"github.com/lifecycle-worker/lifecycle/integration/harness"
	"github.com/lifecycle-worker/lifecycle/internal/rkeys"
	"github.com/lifecycle-worker/lifecycle/internal/sim/faults"
	"github.com/lifecycle-worker/lifecycle/internal/storage"
	"github.com/lifecycle-worker/lifecycle/internal/testutil"
	"github.com/lifecycle-worker/lifecycle/tasks"
)

// seedGuestObjects stores n objects under users/{guest}/ and returns their
// keys relative to that prefix.
func seedGuestObjects(t *testing.T, store storage.Store, guest string, n int) []string {
	t.Helper()
	var rel []string
	for i := range n {
		r := fmt.Sprintf("designs/%04d.png", i)
		testutil.PutObjects(t, store, "users/"+guest+"/"+r)
		rel = append(rel, r)
	}
	return rel
}

// objectsOf lists the keys under users/{user}/, relative to that prefix.
func objectsOf(t *testing.T, store storage.Store, user string) []string {
	t.Helper()
	var rel []string
	for _, k := range testutil.Keys(t, store, "users/"+user+"/") {
		rel = append(rel, strings.TrimPrefix(k, "users/"+user+"/"))
	}
	return rel
}

// TestMergeLostResponseCompletesOnce: Artifi applies the merge and the reply
// is lost on the way back. The worker process retries and completes; Artifi
// merged once. The retry, its verified 232, the assets moved and the
// Artifi side of the merge are merge.TestMergeLostResponse.
func TestMergeLostResponseCompletesOnce(t *testing.T) {
	ctx := context.Background()
	redis := harness.StartRedis(t, nil)
	set := harness.StartSimulators(t)
	dir := t.TempDir()
	photos := set.Artifi.AddPhotos("g-lost", 4)
	// Only UpdateUserId's reply may be lost: the listing of the guest's
	// photos before it must get through, or the merge has nothing to check
	// the 232 of its retry against and never calls. The injector draws a
	// request's fault when it arrives, so each listing page is held a second
	// and the drop switched on while the last one (the listing reads pages
	// until an empty one: 4 photos, 2 pages) waits.
	set.Artifi.Faults().Set(faults.Config{Latency: time.Second})

	harness.StartProcess(t, harness.WorkerEnv(t, redis.URL(), dir, set), "worker")
	client := tasks.NewClient(redis.Opt())
	defer client.Close()
	res, err := client.EnqueueMerge(ctx, tasks.UserMergePayload{GuestID: "g-lost", UserID: "u-lost"})
	if err != nil {
		t.Fatal(err)
	}
	const listing = "GET /api/4/UploadImage/GetUserUploadedList"
	testutil.Eventually(t, 20*time.Second, func() bool { return set.Artifi.Requests()[listing] >= 2 },
		"the listing of the guest never reached Artifi: %v", testutil.Later(func() any { return set.Artifi.Requests() }))
	set.Artifi.Faults().Set(faults.Config{DropReplyRate: 1})
	testutil.Eventually(t, 20*time.Second, func() bool { return set.Artifi.Merges() > 0 },
		"merge never reached Artifi: %v", testutil.Later(func() any { return set.Artifi.Requests() }))
	set.Artifi.Faults().Set(faults.Config{})

	in := asynq.NewInspector(redis.Opt())
	defer in.Close()
	testutil.WaitTask(t, in, res.Queue, res.TaskID, asynq.TaskStateCompleted, 30*time.Second)
	if n := set.Artifi.Merges(); n != 1 {
		t.Errorf("Artifi merged %d times, want 1", n)
	}
	if diff := cmp.Diff(photos, set.Artifi.Photos("u-lost")); diff != "" {
		t.Errorf("Artifi photos of the registered user (-want +got):\n%s", diff)
	}
	if set.Artifi.UserExists("g-lost") {
		t.Error("Artifi still knows the guest")
	}
}

// TestWorkerKilledMidMerge: a worker container is killed (SIGKILL) while its
// merge waits on Artifi. Another worker completes the merge once asynq's
// lease on the task expires: every asset ends under the registered id, and
// Artifi merged once.
func TestWorkerKilledMidMerge(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	redis := harness.StartRedis(t, nil)
	set := harness.StartSimulators(t)
	store, dir := testutil.FileStore(t)
	set.Artifi.AddUser("g-kill")
	set.Artifi.AddPhotos("g-kill", 5)
	set.Artifi.AddDesigns("g-kill", 2)
	want := seedGuestObjects(t, store, "g-kill", 200)
	set.Artifi.Faults().Set(faults.Config{Latency: 3 * time.Second})

	env := harness.WorkerEnv(t, redis.URL(), dir, set)
	first := harness.StartHostWorker(t, env, dir)
	client := tasks.NewClient(redis.Opt())
	defer client.Close()
	res, err := client.EnqueueMerge(ctx, tasks.UserMergePayload{GuestID: "g-kill", UserID: "u-kill"})
	if err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 30*time.Second, func() bool { return set.Artifi.Faults().Stats().InFlight > 0 },
		"the merge never reached Artifi:\n%s", testutil.Later(func() any { return harness.Logs(first) }))
	harness.Kill(t, first)
	set.Artifi.Faults().Set(faults.Config{})
	killedAt := time.Now()

	harness.StartHostWorker(t, env, dir)
	in := asynq.NewInspector(redis.Opt())
	defer in.Close()
	info := testutil.WaitTask(t, in, res.Queue, res.TaskID, asynq.TaskStateCompleted, 3*time.Minute)
	t.Logf("completed by the second worker %v after the kill (asynq lease expiry and recoverer), last error %q",
		time.Since(killedAt).Round(time.Second), info.LastErr)

	if diff := cmp.Diff(want, objectsOf(t, store, "u-kill")); diff != "" {
		t.Errorf("assets under the registered user (-want +got):\n%s", diff)
	}
	if left := objectsOf(t, store, "g-kill"); len(left) != 0 {
		t.Errorf("%d assets left under the guest", len(left))
	}
	if n := set.Artifi.Merges(); n != 1 {
		t.Errorf("Artifi merged %d times, want 1", n)
	}
	rdb := testutil.Client(t, redis.Addr)
	if into, _ := rdb.Get(ctx, rkeys.MergedInto("g-kill")).Result(); into != "u-kill" {
		t.Errorf("alias not recorded: merged-into = %q", into)
	}
}
