package faults

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/lifecycle-worker/lifecycle/integration/harness"
	"github.com/lifecycle-worker/lifecycle/internal/testutil"
	"github.com/lifecycle-worker/lifecycle/tasks"
)

// netsplitCut is how long the worker is cut off from Redis: as long as a
// task's lease, so that a worker that only waited out its leases would show.
const netsplitCut = 30 * time.Second

// netsplitDone counts the tasks of queue that reached an end: completed or
// dead-lettered.
func netsplitDone(in *asynq.Inspector, queue string) int {
	qi, err := in.GetQueueInfo(queue)
	if err != nil {
		return -1
	}
	return qi.Completed + qi.Archived
}

func netsplitDocker(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("docker", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// TestNetsplitWorkerRecovers is fault scenario 4: the only worker of
// deploy/compose.yaml loses its network to Redis for 30 s while deletions
// keep arriving; once it is reconnected it takes them all, in the same
// process (no restart), none lost and none run twice.
func TestNetsplitWorkerRecovers(t *testing.T) {
	t.Parallel() // beside the host scenarios, not the other compose one (main_test.go)
	composeOneAtATime(t)
	for _, img := range []string{harness.ImageLifecycle, harness.ImageRedis} {
		harness.RequireImage(t, img)
	}
	redisAddr, apiAddr := testutil.FreeAddr(t), testutil.FreeAddr(t)
	_, redisPort, _ := net.SplitHostPort(redisAddr)
	_, apiPort, _ := net.SplitHostPort(apiAddr)
	c := sentinelNewCompose(t, "compose.yaml", "LIFECYCLE_REDIS_PORT="+redisPort, "LIFECYCLE_API_PORT="+apiPort)
	c.must("up", "-d", "--scale", "worker=1")
	worker := c.project + "_worker_1"
	network := c.project + "_default"

	opt := asynq.RedisClientOpt{Addr: redisAddr}
	client := tasks.NewClient(opt)
	defer client.Close()
	in := asynq.NewInspector(opt)
	defer in.Close()
	testutil.Eventually(t, 60*time.Second, func() bool {
		s, _ := in.Servers()
		return len(s) == 1
	}, "the worker never registered with Redis")
	started := netsplitDocker(t, "inspect", "--format", "{{.State.StartedAt}}", worker)

	ctx := context.Background()
	sent, queue := 0, ""
	enqueue := func(n int) {
		for range n {
			res, err := client.EnqueuePhotoDelete(ctx, tasks.PhotoDeletePayload{
				System: tasks.SystemStorage, UserID: fmt.Sprintf("u-%d", sent), Key: fmt.Sprintf("users/u-%d/photos/1.jpg", sent)})
			if err != nil {
				t.Fatal(err)
			}
			sent, queue = sent+1, res.Queue
		}
	}
	enqueue(100)
	testutil.Eventually(t, 30*time.Second, func() bool { return netsplitDone(in, queue) == sent }, "the first deletions did not finish")

	netsplitDocker(t, "network", "disconnect", network, worker)
	enqueue(50) // some may still be taken before the cut shows
	cutAt := time.Now()
	for time.Since(cutAt) < netsplitCut {
		enqueue(10)
		time.Sleep(time.Second)
	}
	before := netsplitDone(in, queue)
	netsplitDocker(t, "network", "connect", network, worker)
	reconnected := time.Now()
	var firstAfter time.Duration
	// A task whose completion the cut kept from Redis stays active until
	// asynq's recoverer takes it back: its 30 s lease, 30 s of allowed clock
	// skew and the recoverer's minute tick after the cut, up to 90 s after
	// the reconnect.
	testutil.Eventually(t, 2*time.Minute, func() bool {
		n := netsplitDone(in, queue)
		if firstAfter == 0 && n > before {
			firstAfter = time.Since(reconnected)
		}
		return n == sent
	}, "deletions after the reconnect: %d of %d done", testutil.Later(func() any { return netsplitDone(in, queue) }), sent)
	drained := time.Since(reconnected)

	if got := netsplitDocker(t, "inspect", "--format", "{{.State.StartedAt}} {{.RestartCount}}", worker); got != started+" 0" {
		t.Errorf("worker start time and restarts: %q, want %q: it was restarted", got, started+" 0")
	}
	qi, err := in.GetQueueInfo(queue)
	if err != nil {
		t.Fatal(err)
	}
	runs, outcomes := sentinelOutcomes(c, "worker")
	repeated := 0
	for _, n := range runs {
		repeated += n - 1
	}
	lost := sent - qi.Completed - qi.Archived
	fmt.Printf("fault 4 netsplit: in=%d out={completed:%d dead_lettered:%d} outcomes=%v lost=%d repeated=%d recovery=%v (first task %v after reconnect, cut %v)\n",
		sent, qi.Completed, qi.Archived, outcomes, lost, repeated, drained.Round(100*time.Millisecond), firstAfter.Round(100*time.Millisecond), netsplitCut)
	if lost != 0 || qi.Archived != 0 {
		t.Errorf("%d lost, %d dead-lettered; want 0", lost, qi.Archived)
	}
	if repeated != 0 {
		t.Errorf("%d deletions ran twice", repeated)
	}
}
