package faults

import (
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/lifecycle-worker/lifecycle/integration/harness"
	simfaults "github.com/lifecycle-worker/lifecycle/internal/sim/faults"
	"github.com/lifecycle-worker/lifecycle/tasks"
)

// TestWorkerSIGKILLedRepeatedly (scenario 1, photo load only): three
// workers, one SIGKILLed and replaced every 2 s, four times, while Artifi
// loses 2% of its replies after applying the delete. Every deletion must end
// done and none lost. A repeat is allowed only for a call whose answer never
// arrived: one in flight at a kill (at most the killed worker's concurrency)
// or one whose reply was dropped.
func TestWorkerSIGKILLedRepeatedly(t *testing.T) {
	const n, kills, concurrency = 800, 4, 10
	r := startAOFRedis(t)
	set := harness.StartSimulators(t)
	set.Artifi.Faults().Set(simfaults.Config{Latency: 150 * time.Millisecond, DropReplyRate: 0.02, Seed: 11})
	dir := t.TempDir()
	env := []string{"LIFECYCLE_CONCURRENCY=10"}
	ps := startWorkers(t, 3, r.URL(), dir, set, env...)

	jobs := artifiPhotos(set, "kill", n)
	client := tasks.NewClient(asynq.RedisClientOpt{Addr: r.Addr()})
	defer client.Close()
	enqueuePhotos(t, client, jobs)
	in := asynq.NewInspector(asynq.RedisClientOpt{Addr: r.Addr()})
	defer in.Close()

	for k := range kills {
		time.Sleep(2 * time.Second)
		victim := ps[k%len(ps)]
		if err := victim.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		victim.Wait(5 * time.Second)
		ps = append(ps, startWorker(t, r.URL(), dir, set, env...))
	}
	lastKill := time.Now()
	out := drain(t, in, tasks.QueuePhoto, n, 4*time.Minute)

	dropped := int(set.Artifi.Faults().Stats().Injected[simfaults.KindDropReply])
	rep := report{name: "1 worker SIGKILLed x4 (photos)", in: n, out: out, attempts: outcomes(ps...),
		lost: n - out.done + photosLeft(set, jobs), repeats: photoRepeats(set, jobs), inFlight: kills * concurrency,
		recovery: time.Since(lastKill), extra: "dropped_replies=" + itoa(dropped)}
	rep.print()
	if rep.lost != 0 {
		t.Errorf("%d lost", rep.lost)
	}
	if bound := kills*concurrency + dropped; rep.repeats > bound {
		t.Errorf("%d repeated upstream calls, more than the %d calls in flight at a kill or with a dropped reply", rep.repeats, bound)
	}
	for _, j := range jobs {
		if c := set.Artifi.DeleteCount(j.PhotoID); c > 3 {
			t.Errorf("photo %s deleted %d times", j.PhotoID, c)
		}
	}
}
