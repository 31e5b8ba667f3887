package integration

import (
	"context"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/lifecycle-worker/lifecycle/integration/harness"
	"github.com/lifecycle-worker/lifecycle/internal/testutil"
	"github.com/lifecycle-worker/lifecycle/tasks"
)

// TestWorkerContainerProcessesTasks: a Redis container, a `lifecycle worker`
// container, tasks enqueued from the test, and their outcomes read back
// through asynq's Inspector.
func TestWorkerContainerProcessesTasks(t *testing.T) {
	nw := harness.Network(t)
	redis := harness.StartRedis(t, nw)
	worker := harness.StartWorkerContainer(t, nw, map[string]string{"LIFECYCLE_REDIS_URL": redis.InNetwork})

	client := tasks.NewClient(redis.Opt())
	defer client.Close()
	ctx := context.Background()
	// The key was never stored: the worker deletes nothing and says so.
	gone, err := client.EnqueuePhotoDelete(ctx, tasks.PhotoDeletePayload{System: tasks.SystemStorage, UserID: "u-1", Key: "users/u-1/photos/p-1.jpg"})
	if err != nil {
		t.Fatal(err)
	}
	// Poison: a payload no producer built with tasks, straight to the
	// dead-letter queue without retries, and the worker keeps going.
	raw := asynq.NewClient(redis.Opt())
	defer raw.Close()
	poison, err := raw.Enqueue(asynq.NewTask(tasks.TypePhotoDelete, []byte(`{"system":"fax"`)), asynq.Queue(tasks.QueuePhoto), asynq.MaxRetry(5))
	if err != nil {
		t.Fatal(err)
	}

	inspector := asynq.NewInspector(redis.Opt())
	defer inspector.Close()
	state := func(queue, id string) string {
		info, err := inspector.GetTaskInfo(queue, id)
		if err != nil {
			return err.Error()
		}
		return info.State.String()
	}
	testutil.Eventually(t, 30*time.Second, func() bool {
		return state(gone.Queue, gone.TaskID) == "completed" && state(tasks.QueuePhoto, poison.ID) == "archived"
	}, "storage delete %s, poison %s; worker logs:\n%s",
		testutil.Later(func() any { return state(gone.Queue, gone.TaskID) }),
		testutil.Later(func() any { return state(tasks.QueuePhoto, poison.ID) }),
		testutil.Later(func() any { return harness.Logs(worker) }))
	info, _ := inspector.GetTaskInfo(tasks.QueuePhoto, poison.ID)
	if info.Retried != 0 || !strings.Contains(info.LastErr, "decode") && !strings.Contains(info.LastErr, "payload") {
		t.Errorf("poison task: retried %d, last error %q; want no retries and a decode reason", info.Retried, info.LastErr)
	}
	logs := harness.Logs(worker)
	for _, want := range []string{`"outcome":"already_gone"`, `"outcome":"dead_lettered"`, `"task_id":"` + gone.TaskID + `"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("worker log lacks %s", want)
		}
	}
}

// TestBadRedisURLExits2 is what an operator sees on a typo.
func TestBadRedisURLExits2(t *testing.T) {
	p := harness.StartProcess(t, []string{"LIFECYCLE_REDIS_URL=bogus://x"}, "worker")
	code, exited := p.Wait(10 * time.Second)
	if !exited || code != 2 {
		t.Fatalf("exit %d (exited %v), want 2; output:\n%s", code, exited, p.Output())
	}
	out := strings.TrimSpace(p.Output())
	if strings.Count(out, "\n") != 0 || !strings.Contains(out, "LIFECYCLE_REDIS_URL") {
		t.Errorf("want one line naming LIFECYCLE_REDIS_URL, got:\n%s", out)
	}
}

// TestDevServesHealthQuickly is `make run` on a fresh machine: no Redis, no
// settings, /healthz within 10 s; Ctrl-C stops it cleanly.
func TestDevServesHealthQuickly(t *testing.T) {
	addr := testutil.FreeAddr(t)
	start := time.Now()
	// A free port for the embedded Redis too: 6390, dev's own, may be a
	// developer's dev running beside the tests.
	p := harness.StartProcess(t, []string{"LIFECYCLE_HTTP_ADDR=" + addr, "LIFECYCLE_DEV_REDIS_ADDR=127.0.0.1:0"}, "dev")
	testutil.Eventually(t, 10*time.Second, func() bool {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, "no /healthz within 10 s")
	t.Logf("/healthz answered %v after start", time.Since(start).Round(time.Millisecond))
	resp, err := http.Get("http://" + addr + "/readyz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("/readyz with embedded Redis: %v %v", resp, err)
	}
	if err := p.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if code, exited := p.Wait(15 * time.Second); !exited || code != 0 {
		t.Errorf("after Ctrl-C: exit %d (exited %v), want 0", code, exited)
	}
	for _, want := range []string{"/healthz", "redis", "storage", "lifecycle dev stopped"} {
		if !strings.Contains(p.Output(), want) {
			t.Errorf("dev output lacks %q:\n%s", want, p.Output())
		}
	}
}

// TestBadStorageExits2: a wrong S3 endpoint, bucket or key stops the worker
// at start with one line naming LIFECYCLE_STORAGE, not on its first task.
func TestBadStorageExits2(t *testing.T) {
	redis := harness.StartRedis(t, nil)
	s3 := harness.StartS3(t)
	tests := []struct {
		name    string
		url     string
		access  string
		secret  string
		mention string
	}{
		{"wrong endpoint", "s3://" + s3.Bucket + "?endpoint=127.0.0.1:1&secure=false", s3.AccessKey, s3.SecretKey, "127.0.0.1:1"},
		{"wrong bucket", s3.BucketURL("no-such-bucket"), s3.AccessKey, s3.SecretKey, "no-such-bucket"},
		{"wrong secret", s3.URL(), s3.AccessKey, "not-the-secret", "LIFECYCLE_S3_SECRET_KEY"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := harness.StartProcess(t, []string{
				"LIFECYCLE_REDIS_URL=" + redis.URL(), "LIFECYCLE_HTTP_ADDR=" + testutil.FreeAddr(t),
				"LIFECYCLE_STORAGE=" + tt.url, "LIFECYCLE_S3_ACCESS_KEY=" + tt.access, "LIFECYCLE_S3_SECRET_KEY=" + tt.secret,
				"LIFECYCLE_LOG_LEVEL=error",
			}, "worker")
			code, exited := p.Wait(20 * time.Second)
			out := strings.TrimSpace(p.Output())
			if !exited || code != 2 {
				t.Fatalf("exit %d (exited %v), want 2:\n%s", code, exited, out)
			}
			if strings.Contains(out, "\n") || !strings.Contains(out, "LIFECYCLE_STORAGE") || !strings.Contains(out, tt.mention) {
				t.Errorf("want one line naming LIFECYCLE_STORAGE and %q, got:\n%s", tt.mention, out)
			}
			if strings.Contains(out, s3.SecretKey) || strings.Contains(out, "not-the-secret") {
				t.Errorf("a secret leaked into the error: %s", out)
			}
		})
	}
}
