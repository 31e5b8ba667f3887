package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hibiken/asynq"
	goredis "github.com/redis/go-redis/v9"

	"github.com/lifecycle-worker/lifecycle/integration/harness"
	"github.com/lifecycle-worker/lifecycle/internal/rkeys"
	"github.com/lifecycle-worker/lifecycle/internal/sim/faults"
	"github.com/lifecycle-worker/lifecycle/tasks"
)

// seedGuestFiles writes n objects under users/{guest}/ in a file store and
// returns their paths relative to the user's prefix.
func seedGuestFiles(t *testing.T, dir, guest string, n int) []string {
	t.Helper()
	var rel []string
	for i := range n {
		r := fmt.Sprintf("designs/%04d.png", i)
		p := filepath.Join(dir, "users", guest, r)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(r), 0o644); err != nil {
			t.Fatal(err)
		}
		rel = append(rel, r)
	}
	return rel
}

func filesUnder(t *testing.T, dir, user string) []string {
	t.Helper()
	root := filepath.Join(dir, "users", user)
	var out []string
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			r, _ := filepath.Rel(root, p)
			out = append(out, filepath.ToSlash(r))
		}
		return nil
	})
	sort.Strings(out)
	return out
}

func waitTask(t *testing.T, in *asynq.Inspector, queue, id string, want asynq.TaskState, d time.Duration) *asynq.TaskInfo {
	t.Helper()
	var info *asynq.TaskInfo
	var err error
	if !harness.WaitFor(context.Background(), d, func() bool {
		info, err = in.GetTaskInfo(queue, id)
		return err == nil && info.State == want
	}) {
		t.Fatalf("task %s not %s after %v: %+v %v", id, want, d, info, err)
	}
	return info
}

// TestMergeLostResponseCompletesOnce: Artifi applies the merge and the reply
// is lost on the way back. The worker retries, meets 232, verifies it and
// completes; Artifi merged once, every asset moved.
func TestMergeLostResponseCompletesOnce(t *testing.T) {
	ctx := context.Background()
	redis := harness.StartRedis(t, nil)
	set := harness.StartSimulators(t)
	dir := t.TempDir()
	set.Artifi.AddUser("g-lost")
	set.Artifi.AddPhotos("g-lost", 4)
	want := seedGuestFiles(t, dir, "g-lost", 20)
	set.Artifi.Faults().Set(faults.Config{DropReplyRate: 1})

	p := harness.StartProcess(t, harness.WorkerEnv(t, redis.URL(), dir, set), "worker")
	client := tasks.NewClient(redis.Opt())
	defer client.Close()
	res, err := client.EnqueueMerge(ctx, tasks.UserMergePayload{GuestID: "g-lost", UserID: "u-lost"})
	if err != nil {
		t.Fatal(err)
	}
	if !harness.WaitFor(ctx, 20*time.Second, func() bool { return set.Artifi.Merges() > 0 }) {
		t.Fatalf("merge never reached Artifi:\n%s", p.Output())
	}
	set.Artifi.Faults().Set(faults.Config{})

	in := asynq.NewInspector(redis.Opt())
	defer in.Close()
	info := waitTask(t, in, res.Queue, res.TaskID, asynq.TaskStateCompleted, 30*time.Second)
	if info.Retried < 1 {
		t.Errorf("retried %d: the lost reply did not make the worker retry", info.Retried)
	}
	if n := set.Artifi.Merges(); n != 1 {
		t.Errorf("Artifi merged %d times, want 1", n)
	}
	if diff := cmp.Diff(want, filesUnder(t, dir, "u-lost")); diff != "" {
		t.Errorf("assets under the registered user (-want +got):\n%s", diff)
	}
	if len(set.Artifi.Photos("u-lost")) != 4 || set.Artifi.UserExists("g-lost") {
		t.Errorf("artifi: user has %d photos, guest exists %v", len(set.Artifi.Photos("u-lost")), set.Artifi.UserExists("g-lost"))
	}
}

// TestWorkerKilledMidMerge: a worker container is killed (SIGKILL) while its
// merge waits on Artifi. Another worker completes the merge once asynq's
// lease on the task expires: every asset ends under the registered id, and
// Artifi merged once.
func TestWorkerKilledMidMerge(t *testing.T) {
	ctx := context.Background()
	redis := harness.StartRedis(t, nil)
	set := harness.StartSimulators(t)
	dir := t.TempDir()
	set.Artifi.AddUser("g-kill")
	set.Artifi.AddPhotos("g-kill", 5)
	set.Artifi.AddDesigns("g-kill", 2)
	want := seedGuestFiles(t, dir, "g-kill", 200)
	set.Artifi.Faults().Set(faults.Config{Latency: 3 * time.Second})

	env := harness.WorkerEnv(t, redis.URL(), dir, set)
	first := harness.StartHostWorker(t, env, dir)
	client := tasks.NewClient(redis.Opt())
	defer client.Close()
	res, err := client.EnqueueMerge(ctx, tasks.UserMergePayload{GuestID: "g-kill", UserID: "u-kill"})
	if err != nil {
		t.Fatal(err)
	}
	if !harness.WaitFor(ctx, 30*time.Second, func() bool { return set.Artifi.Faults().Stats().InFlight > 0 }) {
		t.Fatalf("the merge never reached Artifi:\n%s", harness.Logs(first))
	}
	harness.Kill(t, first)
	set.Artifi.Faults().Set(faults.Config{})
	killedAt := time.Now()

	harness.StartHostWorker(t, env, dir)
	in := asynq.NewInspector(redis.Opt())
	defer in.Close()
	info := waitTask(t, in, res.Queue, res.TaskID, asynq.TaskStateCompleted, 3*time.Minute)
	t.Logf("completed by the second worker %v after the kill (asynq lease expiry and recoverer), last error %q",
		time.Since(killedAt).Round(time.Second), info.LastErr)

	if diff := cmp.Diff(want, filesUnder(t, dir, "u-kill")); diff != "" {
		t.Errorf("assets under the registered user (-want +got):\n%s", diff)
	}
	if left := filesUnder(t, dir, "g-kill"); len(left) != 0 {
		t.Errorf("%d assets left under the guest", len(left))
	}
	if n := set.Artifi.Merges(); n != 1 {
		t.Errorf("Artifi merged %d times, want 1", n)
	}
	rdb := goredis.NewClient(&goredis.Options{Addr: redis.Addr})
	defer rdb.Close()
	if into, _ := rdb.Get(ctx, rkeys.MergedInto("g-kill")).Result(); into != "u-kill" {
		t.Errorf("alias not recorded: merged-into = %q", into)
	}
}
