package integration

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/lifecycle-worker/lifecycle/integration/harness"
	"github.com/lifecycle-worker/lifecycle/internal/testutil"
	"github.com/lifecycle-worker/lifecycle/tasks"
)

// TestComposeRunsTheService brings up deploy/compose.yaml as an operator
// would (two workers, a scheduler, the API, Redis), runs a task through it,
// checks that /v1 wants its token, and takes it down again.
func TestComposeRunsTheService(t *testing.T) {
	if _, err := exec.LookPath("docker-compose"); err != nil {
		t.Skip("docker-compose is not installed")
	}
	for _, img := range []string{harness.ImageLifecycle, harness.ImageRedis} {
		harness.RequireImage(t, img)
	}
	_, file, _, _ := runtime.Caller(0)
	composeFile := filepath.Join(filepath.Dir(file), "..", "deploy", "compose.yaml")
	redisAddr, apiAddr := testutil.FreeAddr(t), testutil.FreeAddr(t)
	_, redisPort, _ := net.SplitHostPort(redisAddr)
	_, apiPort, _ := net.SplitHostPort(apiAddr)
	project := fmt.Sprintf("lifecycle-it-%d", os.Getpid())
	compose := func(args ...string) (string, error) {
		cmd := exec.Command("docker-compose", append([]string{"-p", project, "-f", composeFile}, args...)...)
		cmd.Env = append(os.Environ(),
			"LIFECYCLE_REDIS_PORT="+redisPort, "LIFECYCLE_API_PORT="+apiPort,
			"LIFECYCLE_RECEIPT_SIGNING_KEY=MC4CAQAwBQYDK2VwBCIEIL4jbNy+MLgI+6rtamHjZUWDkRLV43Z2F5aJLEf7HxJR", "LIFECYCLE_API_TOKEN=compose-test-token-0123456789abcdef")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := compose("logs", "--no-color", "--tail", "50")
			t.Logf("compose logs:\n%s", out)
		}
		if out, err := compose("down", "-v", "--remove-orphans", "--timeout", "5"); err != nil {
			t.Logf("compose down: %v\n%s", err, out)
		}
	})
	if out, err := compose("up", "-d", "--scale", "worker=2"); err != nil {
		t.Fatalf("compose up: %v\n%s", err, out)
	}

	ctx := context.Background()
	api := "http://" + apiAddr
	testutil.Eventually(t, 60*time.Second, func() bool {
		resp, err := http.Get(api + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, "the API never became ready")

	opt := asynq.RedisClientOpt{Addr: "127.0.0.1:" + redisPort}
	client := tasks.NewClient(opt)
	defer client.Close()
	res, err := client.EnqueuePhotoDelete(ctx, tasks.PhotoDeletePayload{System: tasks.SystemStorage, UserID: "u-c", Key: "users/u-c/photos/1.jpg"})
	if err != nil {
		t.Fatal(err)
	}
	in := asynq.NewInspector(opt)
	defer in.Close()
	testutil.WaitTask(t, in, res.Queue, res.TaskID, asynq.TaskStateCompleted, 60*time.Second)
	var servers []*asynq.ServerInfo
	testutil.Eventually(t, 30*time.Second, func() bool {
		servers, _ = in.Servers()
		return len(servers) == 2
	}, "%d worker servers registered in Redis, want 2", testutil.Later(func() any { return len(servers) }))

	for _, tt := range []struct {
		auth   string
		status int
	}{{"", 401}, {"Bearer compose-test-token-0123456789abcdef", 200}} {
		req, _ := http.NewRequest("GET", api+"/v1/erasures", nil)
		if tt.auth != "" {
			req.Header.Set("Authorization", tt.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.status {
			t.Errorf("GET /v1/erasures with %q: %d, want %d", tt.auth, resp.StatusCode, tt.status)
		}
	}
	if out, _ := compose("ps"); strings.Count(out, "Up") < 5 {
		t.Errorf("want redis, 2 workers, scheduler and api up:\n%s", out)
	}
}
