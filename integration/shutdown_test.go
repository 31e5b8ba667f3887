package integration

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/lifecycle-worker/lifecycle/integration/harness"
	"github.com/lifecycle-worker/lifecycle/internal/testutil"
	"github.com/lifecycle-worker/lifecycle/tasks"
)

// TestSIGTERMHandsRunningTaskBack: a worker process is stopped while a task
// waits on a hung upstream. It must exit within its shutdown timeout, with
// status 0, and the task must be pending again for another worker.
func TestSIGTERMHandsRunningTaskBack(t *testing.T) {
	redis := harness.StartRedis(t, nil)
	called := make(chan struct{}, 1)
	hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case called <- struct{}{}:
		default:
		}
		<-r.Context().Done() // an upstream that never answers
	}))
	defer hung.Close()

	const shutdownTimeout = 4 * time.Second
	p := harness.StartProcess(t, []string{
		"LIFECYCLE_REDIS_URL=" + redis.URL(),
		"LIFECYCLE_HTTP_ADDR=" + testutil.FreeAddr(t),
		"LIFECYCLE_STORAGE=file://" + t.TempDir(),
		"LIFECYCLE_SHUTDOWN_TIMEOUT=" + shutdownTimeout.String(),
		"LIFECYCLE_ARTIFI_URL=" + hung.URL,
		"LIFECYCLE_ARTIFI_WEBSITE_ID=422",
		"LIFECYCLE_ARTIFI_CLIENT_KEY=test-key",
	}, "worker")

	client := tasks.NewClient(redis.Opt())
	defer client.Close()
	res, err := client.EnqueuePhotoDelete(context.Background(), tasks.PhotoDeletePayload{System: tasks.SystemArtifiV4, UserID: "u-1", PhotoID: "77"})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-called:
	case <-time.After(30 * time.Second):
		t.Fatalf("the task never reached the upstream; output:\n%s", p.Output())
	}

	stopped := time.Now()
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	code, exited := p.Wait(shutdownTimeout)
	took := time.Since(stopped)
	if !exited {
		t.Fatalf("still running %v after SIGTERM, past the shutdown timeout; output:\n%s", took, p.Output())
	}
	if code != 0 {
		t.Errorf("exit status %d, want 0", code)
	}
	t.Logf("exited %v after SIGTERM (shutdown timeout %v)", took.Round(10*time.Millisecond), shutdownTimeout)

	inspector := asynq.NewInspector(redis.Opt())
	defer inspector.Close()
	info, err := inspector.GetTaskInfo(res.Queue, res.TaskID)
	if err != nil {
		t.Fatal(err)
	}
	if info.State != asynq.TaskStatePending {
		t.Errorf("task state after shutdown = %s, want pending", info.State)
	}
	if !strings.Contains(p.Output(), `"outcome":"interrupted"`) {
		t.Errorf("no interrupted outcome logged:\n%s", p.Output())
	}
}
