package faults

import (
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/lifecycle-worker/lifecycle/integration/harness"
	simfaults "github.com/lifecycle-worker/lifecycle/internal/sim/faults"
	"github.com/lifecycle-worker/lifecycle/tasks"
)

// TestRedisKilledAndRestartedFromAOF (scenario 2): Redis is SIGKILLed under
// photo-deletion load and started again from its append-only file 5 s later.
// Every deletion must end done, none lost, and none called twice upstream:
// a deletion that succeeded while Redis was away keeps trying to record its
// completion, and asynq's re-run of one it failed to record is answered from
// that record (handlers.Completions).
func TestRedisKilledAndRestartedFromAOF(t *testing.T) {
	t.Parallel() // processes of this machine only (main_test.go)
	const n, outage = 600, 5 * time.Second
	r := startAOFRedis(t)
	set := harness.StartSimulators(t)
	set.Artifi.Faults().Set(simfaults.Config{Latency: 20 * time.Millisecond}) // calls in flight at the kill
	dir := t.TempDir()
	ps := startWorkers(t, 2, r.URL(), dir, set, "LIFECYCLE_CONCURRENCY=10")

	jobs := artifiPhotos(set, "aof", n)
	client := tasks.NewClient(asynq.RedisClientOpt{Addr: r.Addr()})
	defer client.Close()
	enqueuePhotos(t, client, jobs)
	in := asynq.NewInspector(asynq.RedisClientOpt{Addr: r.Addr()})
	defer in.Close()

	var before queueState
	for before.done < n/4 {
		time.Sleep(50 * time.Millisecond)
		before, _ = stateOf(in, tasks.QueuePhoto)
	}
	r.Kill()
	time.Sleep(outage)
	r.Start()
	restarted := time.Now()
	// A worker that joins now, as an autoscaler would add one: asynq's
	// recoverer runs in each worker at its start and then every minute, and
	// the tasks whose completion the outage kept from Redis can be taken
	// back only a minute after the kill (their 30 s lease, then 30 s for
	// clock skew). The first workers' next tick may come up to a minute
	// after that; this one's comes a minute after the restart.
	ps = append(ps, startWorker(t, r.URL(), dir, set, "LIFECYCLE_CONCURRENCY=10"))
	var recovery time.Duration
	for recovery == 0 && time.Since(restarted) < 2*time.Minute {
		if s, err := stateOf(in, tasks.QueuePhoto); err == nil && s.done > before.done {
			recovery = time.Since(restarted)
		}
		time.Sleep(50 * time.Millisecond)
	}
	out := drain(t, in, tasks.QueuePhoto, n, 3*time.Minute)

	rep := report{name: "2 redis killed, restarted from AOF", in: n, out: out, attempts: outcomes(ps...),
		lost: n - out.done + photosLeft(set, jobs), repeats: photoRepeats(set, jobs), recovery: recovery,
		extra: "outage=" + outage.String() + " drained=" + time.Since(restarted).Round(time.Second).String() + " after restart"}
	rep.print()
	if rep.lost != 0 {
		t.Errorf("%d lost", rep.lost)
	}
	if rep.repeats != 0 {
		t.Errorf("%d photo deletions repeated upstream, want 0", rep.repeats)
	}
	if out.archived != 0 {
		t.Errorf("%d dead-lettered, want 0", out.archived)
	}
}
