package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/lifecycle-worker/lifecycle/integration/harness"
	"github.com/lifecycle-worker/lifecycle/internal/sim/faults"
	"github.com/lifecycle-worker/lifecycle/internal/testutil"
	"github.com/lifecycle-worker/lifecycle/tasks"
)

// TestPhotoDeletionsUnderFaults: 1,000 photo deletions across all five
// targets, run by two worker processes on a real Redis, while every upstream
// answers 30% of requests with 5xx or 429. Every deletion must end deleted or
// already gone, none twice, and the three that upstream refuses for good
// must be in `lifecycle dlq list` with their reason.
func TestPhotoDeletionsUnderFaults(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	redis := harness.StartRedis(t, nil)
	set := harness.StartSimulators(t)
	store, dir := testutil.FileStore(t)

	var jobs []tasks.PhotoDeletePayload
	var artifiPhotos []string
	for u := range 10 {
		user := fmt.Sprintf("a-%d", u)
		set.Artifi.AddUser(user)
		for i, id := range set.Artifi.AddPhotos(user, 40) {
			system := tasks.SystemArtifiV3
			if i%2 == 1 {
				system = tasks.SystemArtifiV4
			}
			jobs = append(jobs, tasks.PhotoDeletePayload{System: system, UserID: user, PhotoID: id})
			artifiPhotos = append(artifiPhotos, id)
		}
	}
	modules := []string{tasks.BiginContacts, tasks.BiginAccounts, tasks.BiginProducts}
	for i := range 200 {
		id := fmt.Sprintf("20340200000%05d", i)
		set.Bigin.AddRecord(modules[i%3], id, true)
		jobs = append(jobs, tasks.PhotoDeletePayload{System: tasks.SystemBigin, UserID: fmt.Sprintf("b-%d", i), Module: modules[i%3], RecordID: id})
	}
	for i := range 100 {
		name := fmt.Sprintf("bpm-user-%d", i)
		set.BPM.AddUser(name, 1000+i, true)
		jobs = append(jobs, tasks.PhotoDeletePayload{System: tasks.SystemIBMBPM, UserID: fmt.Sprintf("p-%d", i), User: name})
	}
	for i := range 300 {
		user := fmt.Sprintf("s-%d", i%10)
		key := fmt.Sprintf("users/%s/photos/%04d.jpg", user, i)
		testutil.PutObjects(t, store, key)
		jobs = append(jobs, tasks.PhotoDeletePayload{System: tasks.SystemStorage, UserID: user, Key: key})
	}
	if len(jobs) != 1000 {
		t.Fatalf("%d jobs, want 1000", len(jobs))
	}

	// 30% faults everywhere; BPM refuses three deletes for good (406).
	f := faults.Config{ErrorRate: 0.15, ThrottleRate: 0.15, RetryAfter: time.Second, Seed: 7}
	set.Artifi.Faults().Set(f)
	set.Bigin.Faults().Set(f)
	set.BPM.Faults().Set(f)
	set.BPM.FailNext("DELETE", 406, 3)

	for range 2 {
		harness.StartProcess(t, harness.WorkerEnv(t, redis.URL(), dir, set, "LIFECYCLE_CONCURRENCY=20"), "worker")
	}
	client := tasks.NewClient(redis.Opt())
	defer client.Close()
	start := time.Now()
	for _, j := range jobs {
		if _, err := client.EnqueuePhotoDelete(ctx, j); err != nil {
			t.Fatal(err)
		}
	}

	inspector := asynq.NewInspector(redis.Opt())
	defer inspector.Close()
	var q *asynq.QueueInfo
	testutil.Eventually(t, 4*time.Minute, func() bool {
		var err error
		q, err = inspector.GetQueueInfo(tasks.QueuePhoto)
		return err == nil && q.Pending+q.Active+q.Scheduled+q.Retry == 0 && q.Completed+q.Archived == 1000
	}, "not finished after 4 min: %+v", testutil.Later(func() any { return q }))
	t.Logf("1,000 deletions under 30%% faults: %v; %d completed, %d dead-lettered, %d attempts failed",
		time.Since(start).Round(time.Second), q.Completed, q.Archived, q.Failed)

	if q.Archived != 3 {
		t.Errorf("%d dead letters, want the 3 BPM refusals", q.Archived)
	}
	for _, id := range artifiPhotos {
		if n := set.Artifi.DeleteCount(id); n != 1 {
			t.Errorf("artifi photo %s deleted %d times, want 1", id, n)
		}
	}
	for i := range 200 {
		id := fmt.Sprintf("20340200000%05d", i)
		if n := set.Bigin.PhotoDeletes(modules[i%3], id); n != 1 {
			t.Errorf("bigin record %s photo deleted %d times, want 1", id, n)
		}
	}
	bpmDeleted := 0
	for i := range 100 {
		n := set.BPM.Deletes(fmt.Sprintf("bpm-user-%d", i))
		if n > 1 {
			t.Errorf("bpm-user-%d avatar deleted %d times", i, n)
		}
		bpmDeleted += n
	}
	if bpmDeleted != 97 {
		t.Errorf("%d BPM avatars reset, want 97 (100 less the 3 refused)", bpmDeleted)
	}
	if left := testutil.Keys(t, store, "users/"); len(left) != 0 {
		t.Errorf("%d stored photos left, e.g. %s", len(left), left[0])
	}

	// The operator's view of the dead letters.
	p := harness.StartProcess(t, []string{"LIFECYCLE_REDIS_URL=" + redis.URL()}, "dlq", "list", "--json")
	if code, _ := p.Wait(30 * time.Second); code != 0 {
		t.Fatalf("dlq list: exit %d\n%s", code, p.Output())
	}
	var listed int
	for _, line := range strings.Split(strings.TrimSpace(p.Output()), "\n") {
		var d struct {
			Type      string `json:"type"`
			LastError string `json:"last_error"`
		}
		if err := json.Unmarshal([]byte(line), &d); err != nil {
			t.Errorf("dlq list --json printed a line that is not JSON: %q", line)
			continue
		}
		if d.Type != tasks.TypePhotoDelete || !strings.Contains(d.LastError, "406") {
			t.Errorf("dead letter without its reason: %s", line)
		}
		listed++
	}
	if listed != 3 {
		t.Errorf("dlq list shows %d dead letters, want 3:\n%s", listed, p.Output())
	}
}
