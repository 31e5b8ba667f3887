package faults

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/lifecycle-worker/lifecycle/integration/harness"
	"github.com/lifecycle-worker/lifecycle/tasks"
)

// TestPoisonPayloads (scenario 6): tasks no handler can do anything with,
// put on the queues by a producer that skipped tasks' validation. Each must
// be dead-lettered on its first attempt with a reason naming what is wrong,
// and the worker must go on doing good work. (A panicking handler is
// dead-lettered the same way, with file and line: handlers.TestOutcomes;
// the real handlers offer no payload that panics.)
func TestPoisonPayloads(t *testing.T) {
	t.Parallel() // processes of this machine only (main_test.go)
	r := startAOFRedis(t)
	set := harness.StartSimulators(t)
	dir := t.TempDir()
	worker := startWorker(t, r.URL(), dir, set)

	poison := []struct {
		queue, typ, payload, reason string
	}{
		{tasks.QueuePhoto, tasks.TypePhotoDelete, `{not json`, "invalid"},
		{tasks.QueuePhoto, tasks.TypePhotoDelete, `{}`, "system"},
		{tasks.QueuePhoto, tasks.TypePhotoDelete, `{"system":"artifi-v4","user_id":"u1"}`, "photo_id"},
		{tasks.QueuePhoto, tasks.TypePhotoDelete, `{"system":"nowhere","user_id":"u1","photo_id":"1"}`, "system"},
		{tasks.QueuePhoto, tasks.TypePhotoDelete, `{"system":"artifi-v4","user_id":"` + strings.Repeat("u", 100000) + `","photo_id":"1"}`, "user_id"},
		{tasks.QueueMerge, tasks.TypeUserMerge, `[1,2,3]`, "payload"},
		{tasks.QueueMerge, tasks.TypeUserMerge, `{"guest_id":"g:1","user_id":""}`, "id"},
		{tasks.QueueErase, tasks.TypeUserErase, `{"request_id":"","user_id":"u1"}`, "request_id"},
		{tasks.QueuePhoto, "photo:vanish", `{}`, "photo:vanish"},
	}
	client := asynq.NewClient(asynq.RedisClientOpt{Addr: r.Addr()})
	defer client.Close()
	in := asynq.NewInspector(asynq.RedisClientOpt{Addr: r.Addr()})
	defer in.Close()
	start := time.Now()
	ids := map[string]int{}
	for i, p := range poison {
		info, err := client.Enqueue(asynq.NewTask(p.typ, []byte(p.payload)), asynq.Queue(p.queue),
			asynq.TaskID(fmt.Sprintf("poison-%d", i)), asynq.MaxRetry(20), asynq.Retention(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		ids[info.Queue+"/"+info.ID] = i
	}
	// Good work after the poison.
	good := artifiPhotos(set, "good", 20)
	tc := tasks.NewClient(asynq.RedisClientOpt{Addr: r.Addr()})
	defer tc.Close()
	enqueuePhotos(t, tc, good)

	var archived, completed int
	var last []string
	for _, q := range []string{tasks.QueuePhoto, tasks.QueueMerge, tasks.QueueErase} {
		want := 0
		for _, p := range poison {
			if p.queue == q {
				want++
			}
		}
		if q == tasks.QueuePhoto {
			want += len(good)
		}
		s := drain(t, in, q, want, 60*time.Second)
		archived += s.archived
		completed += s.completed
		list, err := in.ListArchivedTasks(q, asynq.PageSize(100))
		if err != nil {
			t.Fatal(err)
		}
		for _, ti := range list {
			i, ok := ids[ti.Queue+"/"+ti.ID]
			if !ok {
				t.Errorf("good task %s dead-lettered: %s", ti.ID, ti.LastErr)
				continue
			}
			if ti.Retried != 0 {
				t.Errorf("poison %d retried %d times before its dead letter", i, ti.Retried)
			}
			if !strings.Contains(ti.LastErr, poison[i].reason) {
				t.Errorf("poison %d (%s) dead-lettered with %q, which does not name %q", i, poison[i].payload[:min(40, len(poison[i].payload))], ti.LastErr, poison[i].reason)
			}
			last = append(last, ti.LastErr)
		}
	}
	if _, exited := worker.Wait(0); exited {
		t.Fatal("the worker exited")
	}
	rep := report{name: "6 poison payloads", in: len(poison) + len(good),
		out: queueState{completed: completed, archived: archived}, attempts: outcomes(worker),
		lost: len(poison) + len(good) - completed - archived + photosLeft(set, good), repeats: photoRepeats(set, good),
		recovery: time.Since(start), extra: "worker_alive=true"}
	rep.print()
	if archived != len(poison) || completed != len(good) {
		t.Errorf("%d dead-lettered, %d completed; want %d and %d", archived, completed, len(poison), len(good))
	}
	if rep.lost != 0 {
		t.Errorf("%d lost", rep.lost)
	}
	if len(last) != len(poison) {
		t.Logf("reasons: %q", last)
	}
}
