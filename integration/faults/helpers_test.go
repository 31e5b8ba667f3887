// Package faults is the fault suite (`make test-faults`): each scenario runs
// real lifecycle worker processes on a real Redis against the simulators,
// does to them what a fault does, and prints one line — tasks in, tasks out
// by outcome, lost, repeated upstream calls, recovery time — then asserts
// that nothing was lost and nothing recorded as done was repeated.
//
// The helpers here are shared by every scenario of the package.
package faults

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/lifecycle-worker/lifecycle/integration/harness"
	"github.com/lifecycle-worker/lifecycle/internal/sim"
	"github.com/lifecycle-worker/lifecycle/internal/testutil"
	"github.com/lifecycle-worker/lifecycle/tasks"
)

// aofRedis is Debian's redis-server as a process of this machine, with the
// append-only file production uses (appendfsync everysec), that a scenario
// can kill and start again on the same port and data.
type aofRedis struct {
	t    testing.TB
	dir  string
	port string
	cmd  *exec.Cmd
	done chan struct{}
	out  bytes.Buffer
}

func startAOFRedis(t testing.TB) *aofRedis {
	t.Helper()
	_, port, _ := net.SplitHostPort(testutil.FreeAddr(t))
	r := &aofRedis{t: t, dir: t.TempDir(), port: port}
	r.Start()
	t.Cleanup(func() { r.Kill() })
	return r
}

func (r *aofRedis) Addr() string { return "127.0.0.1:" + r.port }
func (r *aofRedis) URL() string  { return "redis://" + r.Addr() }

// Start starts the server on its port and data, and waits until it answers.
func (r *aofRedis) Start() {
	r.t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		r.t.Fatal("redis-server missing: run make test, which installs it")
	}
	r.cmd = exec.Command(bin, "--port", r.port, "--bind", "127.0.0.1", "--dir", r.dir,
		"--appendonly", "yes", "--appendfsync", "everysec", "--save", "")
	r.out.Reset()
	r.cmd.Stdout, r.cmd.Stderr = &r.out, &r.out
	if err := r.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	r.done = make(chan struct{})
	go func() { _ = r.cmd.Wait(); close(r.done) }()
	c := redis.NewClient(&redis.Options{Addr: r.Addr(), MaxRetries: -1})
	defer c.Close()
	// The server that answers must be this one: with scenarios side by
	// side, a port another one took in the meantime would otherwise give
	// two scenarios one Redis.
	pid := fmt.Sprintf("process_id:%d\r\n", r.cmd.Process.Pid)
	testutil.Eventually(r.t, 20*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		info, err := c.Info(ctx, "server").Result()
		return err == nil && strings.Contains(info, pid)
	}, "redis-server on %s not answering: %s", r.Addr(), testutil.Later(func() any { return r.out.String() }))
}

// Kill ends the server with SIGKILL, as a crash.
func (r *aofRedis) Kill() {
	if r.cmd == nil || r.cmd.Process == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	<-r.done
	r.cmd = nil
}

// artifiPhotos seeds n photos across users of the Artifi simulator and
// returns their deletions, alternating API versions.
func artifiPhotos(set *sim.Set, prefix string, n int) []tasks.PhotoDeletePayload {
	var jobs []tasks.PhotoDeletePayload
	for u := 0; len(jobs) < n; u++ {
		user := fmt.Sprintf("%s-%d", prefix, u)
		set.Artifi.AddUser(user)
		for i, id := range set.Artifi.AddPhotos(user, min(50, n-len(jobs))) {
			system := tasks.SystemArtifiV3
			if i%2 == 1 {
				system = tasks.SystemArtifiV4
			}
			jobs = append(jobs, tasks.PhotoDeletePayload{System: system, UserID: user, PhotoID: id})
		}
	}
	return jobs
}

// enqueuePhotos files jobs and fails the test on any refusal.
func enqueuePhotos(t testing.TB, client *tasks.Client, jobs []tasks.PhotoDeletePayload) {
	t.Helper()
	for _, j := range jobs {
		if _, err := client.EnqueuePhotoDelete(context.Background(), j); err != nil {
			t.Fatal(err)
		}
	}
}

// startWorkers runs n `lifecycle worker` processes on redisURL.
func startWorkers(t testing.TB, n int, redisURL, dir string, set *sim.Set, extra ...string) []*harness.Process {
	t.Helper()
	var ps []*harness.Process
	for range n {
		ps = append(ps, startWorker(t, redisURL, dir, set, extra...))
	}
	return ps
}

func startWorker(t testing.TB, redisURL, dir string, set *sim.Set, extra ...string) *harness.Process {
	t.Helper()
	p := harness.StartProcess(t, harness.WorkerEnv(t, redisURL, dir, set, extra...), "worker")
	testutil.Eventually(t, 30*time.Second, func() bool { return strings.Contains(p.Output(), "lifecycle worker running") },
		"worker not running: %s", testutil.Later(func() any { return p.Output() }))
	return p
}

// queueState is what asynq says of a queue.
type queueState struct{ done, completed, archived, open int }

func stateOf(in *asynq.Inspector, queue string) (queueState, error) {
	q, err := in.GetQueueInfo(queue)
	if err != nil {
		return queueState{}, err
	}
	return queueState{
		done: q.Completed + q.Archived, completed: q.Completed, archived: q.Archived,
		open: q.Pending + q.Active + q.Scheduled + q.Retry,
	}, nil
}

// drain waits until want tasks of queue are completed or archived and none is
// open, and returns the state; the test fails after timeout.
func drain(t testing.TB, in *asynq.Inspector, queue string, want int, timeout time.Duration) queueState {
	t.Helper()
	var s queueState
	var err error
	testutil.Eventually(t, timeout, func() bool {
		s, err = stateOf(in, queue)
		return err == nil && s.open == 0 && s.done >= want
	}, "queue %s not drained after %v: %+v %v", queue, timeout, testutil.Later(func() any { return s }), testutil.Later(func() any { return err }))
	return s
}

// outcomes counts the outcome lines the processes wrote, by outcome: every
// attempt, across processes killed and started.
func outcomes(ps ...*harness.Process) map[string]int {
	n := map[string]int{}
	for _, p := range ps {
		sc := bufio.NewScanner(strings.NewReader(p.Output()))
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var l struct {
				Outcome string `json:"outcome"`
			}
			if json.Unmarshal(sc.Bytes(), &l) == nil && l.Outcome != "" {
				n[l.Outcome]++
			}
		}
	}
	return n
}

// rerunsAfterDone counts, per task id, the handler runs beyond the first
// that ended succeeded or already_gone: each such run started after the
// task's completion was recorded (Completions writes the record before the
// outcome line) and reached the upstream again, which a recorded completion
// must prevent (it answers already_completed instead).
func rerunsAfterDone(ps ...*harness.Process) map[string]int {
	runs := map[string]int{}
	for _, p := range ps {
		sc := bufio.NewScanner(strings.NewReader(p.Output()))
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var l struct {
				TaskID  string `json:"task_id"`
				Outcome string `json:"outcome"`
			}
			if json.Unmarshal(sc.Bytes(), &l) == nil && (l.Outcome == "succeeded" || l.Outcome == "already_gone") {
				runs[l.TaskID]++
			}
		}
	}
	extra := map[string]int{}
	for id, n := range runs {
		if n > 1 {
			extra[id] = n - 1
		}
	}
	return extra
}

// report is a scenario's one line.
type report struct {
	name     string
	in       int
	out      queueState
	attempts map[string]int // outcome lines, by outcome
	lost     int
	repeats  int // upstream calls repeated for work already done
	inFlight int // of those, calls that were in flight at a kill (allowed: at most one per step)
	recovery time.Duration
	extra    string
}

func (r report) print() {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(r.attempts)) {
		parts = append(parts, fmt.Sprintf("%s=%d", k, r.attempts[k]))
	}
	line := fmt.Sprintf("fault %s: in=%d out: completed=%d dead_lettered=%d (attempts: %s) lost=%d repeated_upstream=%d (allowed for calls in flight at kills: %d) recovery=%v",
		r.name, r.in, r.out.completed, r.out.archived, strings.Join(parts, " "), r.lost, r.repeats, r.inFlight, r.recovery.Round(100*time.Millisecond))
	if r.extra != "" {
		line += " " + r.extra
	}
	fmt.Println(line)
}

// photoRepeats is how many of jobs' photos were deleted upstream more than
// once (each extra call counts).
func photoRepeats(set *sim.Set, jobs []tasks.PhotoDeletePayload) int {
	n := 0
	for _, j := range jobs {
		n += max(0, set.Artifi.DeleteCount(j.PhotoID)-1)
	}
	return n
}

// photosLeft is how many of jobs' photos are still upstream.
func photosLeft(set *sim.Set, jobs []tasks.PhotoDeletePayload) int {
	left := map[string]bool{}
	users := map[string]bool{}
	for _, j := range jobs {
		users[j.UserID] = true
	}
	for u := range users {
		for _, id := range set.Artifi.Photos(u) {
			left[id] = true
		}
	}
	n := 0
	for _, j := range jobs {
		if left[j.PhotoID] {
			n++
		}
	}
	return n
}
