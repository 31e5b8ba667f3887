package integration

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/minio/minio-go/v7"

	"github.com/lifecycle-worker/lifecycle/integration/harness"
	"github.com/lifecycle-worker/lifecycle/internal/metrics"
	"github.com/lifecycle-worker/lifecycle/internal/sim"
	"github.com/lifecycle-worker/lifecycle/internal/sim/faults"
	"github.com/lifecycle-worker/lifecycle/internal/testutil"
	"github.com/lifecycle-worker/lifecycle/tasks"
)

// s3Worker runs `lifecycle worker` on redis with s3's bucket as its store
// and the simulators of set (may be nil) as its upstreams; it returns the
// process and the address of its /metrics.
func s3Worker(t *testing.T, redis harness.Redis, s3 harness.S3, set *sim.Set, extra ...string) (*harness.Process, string) {
	t.Helper()
	addr := testutil.FreeAddr(t)
	env := harness.WorkerEnv(t, redis.URL(), t.TempDir(), set, append([]string{
		"LIFECYCLE_HTTP_ADDR=" + addr, // the later value of a variable wins
		"LIFECYCLE_STORAGE=" + s3.URL(),
		"LIFECYCLE_S3_ACCESS_KEY=" + s3.AccessKey,
		"LIFECYCLE_S3_SECRET_KEY=" + s3.SecretKey,
	}, extra...)...)
	p := harness.StartProcess(t, env, "worker")
	testutil.Eventually(t, 30*time.Second, func() bool { return strings.Contains(p.Output(), "lifecycle worker running") },
		"worker not running after 30s:\n%s", testutil.Later(func() any { return p.Output() }))
	return p, addr
}

// scrape reads the worker's /metrics: the sum of the samples of name whose
// labels include every one of labels ("k", "v", ...).
func scrape(t *testing.T, addr, name string, labels ...string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
next:
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		for i := 0; i+1 < len(labels); i += 2 {
			if !strings.Contains(line, labels[i]+`="`+labels[i+1]+`"`) {
				continue next
			}
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err != nil {
			t.Fatalf("scrape: %q: %v", line, err)
		}
		sum += v
	}
	return sum
}

// failuresMatch checks on /metrics that our outcomes of typ that asynq
// counts as failed attempts add up to asynq's failed count of its queue.
func failuresMatch(t *testing.T, addr, typ, queue string) {
	t.Helper()
	var ours, asynqs float64
	testutil.Eventually(t, 10*time.Second, func() bool {
		ours = 0
		for _, o := range metrics.Failures {
			ours += scrape(t, addr, "lifecycle_task_outcomes_total", "type", typ, "outcome", o)
		}
		asynqs = scrape(t, addr, "asynq_tasks_failed_today", "queue", queue)
		return ours == asynqs
	}, "failed attempts of %s: our outcomes count %v, asynq %v", typ, testutil.Later(func() any { return ours }), testutil.Later(func() any { return asynqs }))
	t.Logf("failed attempts of %s: our outcomes %v, asynq's failed count %v", typ, ours, asynqs)
}

// queueDone waits until queue has nothing left to run, and returns its state.
func queueDone(t *testing.T, in *asynq.Inspector, queue string, d time.Duration) *asynq.QueueInfo {
	t.Helper()
	var q *asynq.QueueInfo
	testutil.Eventually(t, d, func() bool {
		var err error
		q, err = in.GetQueueInfo(queue)
		return err == nil && q.Pending+q.Active+q.Scheduled+q.Retry == 0
	}, "queue %s not done after %v: %+v", queue, d, testutil.Later(func() any { return q }))
	return q
}

// TestBucketRemovedUnderWorker: the bucket is deleted while a worker runs.
// A HEAD of a key then answers 404 without a body, as for a missing key; no
// storage photo deletion may be recorded as already gone. Each is
// dead-lettered, naming the bucket, and the worker alerts.
func TestBucketRemovedUnderWorker(t *testing.T) {
	ctx := context.Background()
	redis := harness.StartRedis(t, nil)
	s3 := harness.StartS3(t)
	p, addr := s3Worker(t, redis, s3, nil)
	store := s3.Open(t, s3.Bucket)
	client := tasks.NewClient(redis.Opt())
	defer client.Close()
	inspector := asynq.NewInspector(redis.Opt())
	defer inspector.Close()
	enqueue := func(user string, n int) {
		for i := range n {
			key := fmt.Sprintf("users/%s/photos/%04d.jpg", user, i)
			if _, err := client.EnqueuePhotoDelete(ctx, tasks.PhotoDeletePayload{System: tasks.SystemStorage, UserID: user, Key: key}); err != nil {
				t.Fatal(err)
			}
		}
	}
	outcomes := func(outcome string) float64 {
		return scrape(t, addr, "lifecycle_task_outcomes_total", "type", tasks.TypePhotoDelete, "system", "storage", "outcome", outcome)
	}

	// The bucket there: 20 objects deleted, 5 keys that were never there
	// already gone.
	for i := range 20 {
		testutil.PutObjects(t, store, fmt.Sprintf("users/s-1/photos/%04d.jpg", i))
	}
	enqueue("s-1", 25)
	queueDone(t, inspector, tasks.QueuePhoto, time.Minute)
	if got := [2]float64{outcomes("succeeded"), outcomes("already_gone")}; got != [2]float64{20, 5} {
		t.Fatalf("with the bucket there: %v succeeded and already gone, want [20 5]", got)
	}

	if err := s3.Client().RemoveBucket(ctx, s3.Bucket); err != nil { // empty: its objects were deleted
		t.Fatalf("removing the bucket: %v", err)
	}
	const n = 200
	enqueue("s-2", n)
	q := queueDone(t, inspector, tasks.QueuePhoto, 2*time.Minute)

	gone, dead := outcomes("already_gone")-5, outcomes("dead_lettered")
	alerts := scrape(t, addr, "lifecycle_storage_bucket_missing_total", "bucket", s3.Bucket)
	t.Logf("bucket removed: %d deletions: %v recorded as already gone, %v dead-lettered (%d archived), %v bucket-missing alerts",
		n, gone, dead, q.Archived, alerts)
	if gone != 0 || dead != n || q.Archived != n {
		t.Errorf("%v recorded as gone, %v dead-lettered, %d archived; want 0, %d, %d", gone, dead, q.Archived, n, n)
	}
	if alerts < n {
		t.Errorf("lifecycle_storage_bucket_missing_total = %v, want at least %d", alerts, n)
	}
	archived, err := inspector.ListArchivedTasks(tasks.QueuePhoto, asynq.PageSize(n))
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range archived {
		if !strings.Contains(a.LastErr, `bucket does not exist: "`+s3.Bucket+`"`) {
			t.Errorf("dead letter %s does not name the missing bucket: %q", a.ID, a.LastErr)
			break
		}
	}
	if len(archived) > 0 {
		t.Logf("dead letter reason: %s", archived[0].LastErr)
	}
	if !hasLineWith(p.Output(), `"level":"error"`, "storage bucket missing", `"bucket":"`+s3.Bucket+`"`) {
		t.Error("no error line says the bucket is missing")
	}
	failuresMatch(t, addr, tasks.TypePhotoDelete, tasks.QueuePhoto)

	// Restored, the dead letters retried from the queue succeed as gone.
	if err := s3.Client().MakeBucket(ctx, s3.Bucket, minio.MakeBucketOptions{Region: "us-east-1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := inspector.RunAllArchivedTasks(tasks.QueuePhoto); err != nil {
		t.Fatal(err)
	}
	queueDone(t, inspector, tasks.QueuePhoto, time.Minute)
	if gone := outcomes("already_gone") - 5; gone != n {
		t.Errorf("after the bucket is restored, %v of the %d retried deletions already gone, want all", gone, n)
	}
}

// TestPausedS3LeavesSlotsToOtherWork: S3 is paused (docker pause: its port
// takes connections, nothing answers) for longer than the storage timeout,
// while merges and storage photo deletions keep arriving. Work that does not
// touch S3, Artifi photo deletions, must keep at least half its rate: the
// storage timeout fails the stalled calls, after which the store is asked
// one request at a time and other storage calls fail at once, so S3 work
// does not hold the worker's slots. (Merges list and move the guest's
// objects in S3, so they are S3 work here, not the work measured.) Nothing
// is lost: once S3 answers again, every task completes.
func TestPausedS3LeavesSlotsToOtherWork(t *testing.T) {
	ctx := context.Background()
	redis := harness.StartRedis(t, nil)
	s3 := harness.StartS3(t)
	set := harness.StartSimulators(t)
	// Each Artifi call takes 200 ms: a deletion's rate is then set by the
	// slots free to run it, not by the CPU the test shares.
	set.Artifi.Faults().Set(faults.Config{Latency: 200 * time.Millisecond})
	store := s3.Open(t, s3.Bucket)

	var photos []tasks.PhotoDeletePayload
	client := tasks.NewClient(redis.Opt())
	defer client.Close()
	inspector := asynq.NewInspector(redis.Opt())
	defer inspector.Close()
	for u := range 20 {
		user := fmt.Sprintf("a-%d", u)
		set.Artifi.AddUser(user)
		for _, id := range set.Artifi.AddPhotos(user, 100) {
			photos = append(photos, tasks.PhotoDeletePayload{System: tasks.SystemArtifiV4, UserID: user, PhotoID: id})
		}
	}
	// The Artifi deletions arrive as they are taken, a few dozen pending at
	// a time, so that storage deletions enqueued later share the photo queue
	// with them instead of waiting behind all of them.
	feed := make(chan struct{})
	fed := make(chan error, 1)
	go func() {
		next := 0
		for next < len(photos) {
			select {
			case <-feed:
				fed <- nil
				return
			case <-time.After(50 * time.Millisecond):
			}
			q, err := inspector.GetQueueInfo(tasks.QueuePhoto)
			if err != nil {
				continue
			}
			for pending := q.Pending; next < len(photos) && pending < 40; next, pending = next+1, pending+1 {
				if _, err := client.EnqueuePhotoDelete(ctx, photos[next]); err != nil {
					fed <- err
					return
				}
			}
		}
		<-feed
		fed <- fmt.Errorf("all %d Artifi deletions enqueued before the measurements ended", len(photos))
	}()
	stopFeed := sync.OnceValue(func() error { close(feed); return <-fed })
	defer stopFeed()
	deleted := func() int {
		n := 0
		for _, p := range photos {
			n += min(set.Artifi.DeleteCount(p.PhotoID), 1)
		}
		return n
	}
	// s3Work enqueues S3 work: 30 storage photo deletions and 20 merges of
	// guests with 3 stored objects each.
	s3Work := func(batch string) {
		for i := range 30 {
			user := fmt.Sprintf("s-%s-%d", batch, i)
			key := "users/" + user + "/photos/1.jpg"
			testutil.PutObjects(t, store, key)
			if _, err := client.EnqueuePhotoDelete(ctx, tasks.PhotoDeletePayload{System: tasks.SystemStorage, UserID: user, Key: key}); err != nil {
				t.Fatal(err)
			}
		}
		for i := range 20 {
			guest := fmt.Sprintf("g-%s-%d", batch, i)
			set.Artifi.AddUser(guest)
			set.Artifi.AddPhotos(guest, 1)
			seedGuestObjects(t, store, guest, 3)
			if _, err := client.EnqueueMerge(ctx, tasks.UserMergePayload{GuestID: guest, UserID: "u-" + guest}); err != nil {
				t.Fatal(err)
			}
		}
	}
	s3Work("before") // seeded while S3 answers

	_, addr := s3Worker(t, redis, s3, set, "LIFECYCLE_STORAGE_TIMEOUT=1s", "LIFECYCLE_CONCURRENCY=10", "LIFECYCLE_ARTIFI_CONCURRENCY=50")
	testutil.Eventually(t, time.Minute, func() bool { return deleted() >= 50 }, "Artifi deletions not under way")

	const window = 12 * time.Second
	rate := func() float64 {
		start, n := time.Now(), deleted()
		time.Sleep(window)
		return float64(deleted()-n) / time.Since(start).Seconds()
	}
	normal := rate()

	// The S3 work of the paused window is enqueued first, with its objects:
	// seeding needs S3.
	var paused float64
	func() {
		s3Work("paused")
		s3.Pause(t)
		defer s3.Unpause(t)
		paused = rate()
	}()
	if err := stopFeed(); err != nil {
		t.Fatal(err)
	}
	ratio := paused / normal
	t.Logf("Artifi deletions: %.1f/s with S3 answering, %.1f/s with S3 paused for %v (storage timeout 1s): %.2fx",
		normal, paused, window, ratio)
	if ratio < 0.5 {
		t.Errorf("with S3 paused, work that does not use it ran at %.2fx its rate, want at least 0.5x", ratio)
	}

	for _, queue := range []string{tasks.QueuePhoto, tasks.QueueMerge} {
		if q := queueDone(t, inspector, queue, 3*time.Minute); q.Archived != 0 {
			t.Errorf("queue %s: %d dead letters after the pause, want none", queue, q.Archived)
		}
	}
	if left := testutil.Keys(t, store, "users/s-"); len(left) != 0 {
		t.Errorf("%d stored photos left after the pause, e.g. %s", len(left), left[0])
	}
	if left := testutil.Keys(t, store, "users/g-"); len(left) != 0 {
		t.Errorf("%d guest objects not merged after the pause, e.g. %s", len(left), left[0])
	}
	for _, typ := range []string{tasks.TypePhotoDelete, tasks.TypeUserMerge} {
		t.Logf("%s attempts failed against the paused S3: %v, holding worker slots for %.1f s in all", typ,
			scrape(t, addr, "lifecycle_task_outcomes_total", "type", typ, "outcome", "retried"),
			scrape(t, addr, "lifecycle_task_duration_seconds_sum", "type", typ, "outcome", "retried"))
	}
	failuresMatch(t, addr, tasks.TypePhotoDelete, tasks.QueuePhoto)
	failuresMatch(t, addr, tasks.TypeUserMerge, tasks.QueueMerge)
}

// TestTaskTimeoutIsTimedOut: a storage photo deletion whose own timeout
// (2 s) ends before the storage timeout (10 s), against a paused S3, fails
// as timed_out, a failure that spends a retry, not as interrupted (the
// outcome of a shutdown); asynq's failed count matches.
func TestTaskTimeoutIsTimedOut(t *testing.T) {
	ctx := context.Background()
	redis := harness.StartRedis(t, nil)
	s3 := harness.StartS3(t)
	p, addr := s3Worker(t, redis, s3, nil, "LIFECYCLE_STORAGE_TIMEOUT=10s")

	task, err := tasks.NewPhotoDeleteTask(tasks.PhotoDeletePayload{System: tasks.SystemStorage, UserID: "s-1", Key: "users/s-1/photos/1.jpg"},
		asynq.Timeout(2*time.Second), asynq.MaxRetry(1))
	if err != nil {
		t.Fatal(err)
	}
	s3.Pause(t)
	defer s3.Unpause(t)
	ac := asynq.NewClient(redis.Opt())
	defer ac.Close()
	info, err := ac.EnqueueContext(ctx, task)
	if err != nil {
		t.Fatal(err)
	}
	inspector := asynq.NewInspector(redis.Opt())
	defer inspector.Close()
	testutil.WaitTask(t, inspector, info.Queue, info.ID, asynq.TaskStateArchived, time.Minute)

	var got []string
	for line := range strings.SplitSeq(p.Output(), "\n") {
		if strings.Contains(line, `"task_id":"`+info.ID+`"`) {
			_, rest, _ := strings.Cut(line, `"outcome":"`)
			outcome, _, _ := strings.Cut(rest, `"`)
			got = append(got, outcome)
		}
	}
	t.Logf("outcomes of the two attempts: %v", got)
	if want := []string{"timed_out", "dead_lettered"}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("outcomes %v, want %v", got, want)
	}
	if n := scrape(t, addr, "lifecycle_task_outcomes_total", "type", tasks.TypePhotoDelete, "outcome", "timed_out"); n != 1 {
		t.Errorf("timed_out counted %v times, want 1", n)
	}
	failuresMatch(t, addr, tasks.TypePhotoDelete, tasks.QueuePhoto)
}
