package harness

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/testcontainers/testcontainers-go"

	"github.com/lifecycle-worker/lifecycle/internal/sim"
	"github.com/lifecycle-worker/lifecycle/internal/testutil"
	"github.com/testcontainers/testcontainers-go/wait"
)

// StartWorkerContainer runs `lifecycle worker` from the lifecycle:dev image
// on nw with the given environment (LIFECYCLE_REDIS_URL at least), and waits
// until it serves /readyz.
func StartWorkerContainer(t testing.TB, nw *testcontainers.DockerNetwork, env map[string]string) testcontainers.Container {
	t.Helper()
	e := map[string]string{"LIFECYCLE_HTTP_ADDR": "0.0.0.0:8080"}
	for k, v := range env {
		e[k] = v
	}
	req := testcontainers.ContainerRequest{
		Image:        ImageLifecycle,
		Cmd:          []string{"worker"},
		Env:          e,
		ExposedPorts: []string{"8080/tcp"},
		WaitingFor:   wait.ForHTTP("/readyz").WithPort("8080/tcp").WithStartupTimeout(StartTimeout),
	}
	if nw != nil {
		req.Networks = []string{nw.Name}
	}
	return start(t, req)
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
	buildOut  []byte
)

// Binary builds the lifecycle binary once per test process and returns its
// path: integration tests run the real program, not a copy of its wiring.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..")
		dir, err := os.MkdirTemp("", "lifecycle-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "lifecycle")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/lifecycle")
		cmd.Dir = root
		buildOut, buildErr = cmd.CombinedOutput()
	})
	if buildErr != nil {
		t.Fatalf("build lifecycle: %v\n%s", buildErr, buildOut)
	}
	return binPath
}

// Process is a running lifecycle process.
type Process struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	out    bytes.Buffer
	done   chan struct{}
	waited error
}

type lockedWriter struct{ p *Process }

func (w lockedWriter) Write(b []byte) (int, error) {
	w.p.mu.Lock()
	defer w.p.mu.Unlock()
	return w.p.out.Write(b)
}

// StartProcess runs the lifecycle binary with args and env (added to a
// minimal environment), killing it when the test ends, and logging its
// output then if the test failed.
func StartProcess(t testing.TB, env []string, args ...string) *Process {
	t.Helper()
	p := &Process{done: make(chan struct{})}
	p.cmd = exec.Command(Binary(t), args...)
	p.cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, env...)
	p.cmd.Dir = t.TempDir()
	p.cmd.Stdout = lockedWriter{p}
	p.cmd.Stderr = lockedWriter{p}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start lifecycle %v: %v", args, err)
	}
	go func() {
		p.waited = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("lifecycle %v output:\n%s", args, p.Output())
		}
	})
	return p
}

// Output is everything the process wrote so far.
func (p *Process) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// Dir is the process's working directory, a temporary one of its own.
func (p *Process) Dir() string { return p.cmd.Dir }

// Signal sends sig to the process.
func (p *Process) Signal(sig syscall.Signal) error { return p.cmd.Process.Signal(sig) }

// Wait waits up to d for the process to exit and returns its exit code, or
// -1 and false if it is still running.
func (p *Process) Wait(d time.Duration) (int, bool) {
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode(), true
	case <-time.After(d):
		return -1, false
	}
}

// WorkerEnv is the environment of a worker process on redisURL, storing in
// dir, with every upstream pointed at set, plus extra variables.
func WorkerEnv(t testing.TB, redisURL, dir string, set *sim.Set, extra ...string) []string {
	env := []string{
		"LIFECYCLE_REDIS_URL=" + redisURL,
		"LIFECYCLE_HTTP_ADDR=" + testutil.FreeAddr(t),
		"LIFECYCLE_STORAGE=file://" + dir,
	}
	if set != nil {
		for _, kv := range set.Env() {
			env = append(env, kv[0]+"="+kv[1])
		}
	}
	return append(env, extra...)
}

// StartHostWorker runs `lifecycle worker` from the lifecycle:dev image on the
// host's network (so that it reaches simulators and Redis on loopback, as a
// process would) with dir mounted as its file store at /data. Kill stops it
// the hard way.
func StartHostWorker(t testing.TB, env []string, dir string) testcontainers.Container {
	t.Helper()
	e := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		e[k] = v
	}
	e["LIFECYCLE_STORAGE"] = "file:///data"
	return start(t, testcontainers.ContainerRequest{
		Image: ImageLifecycle,
		Cmd:   []string{"worker"},
		Env:   e,
		// The image runs as a non-root user; dir belongs to whoever runs
		// the tests, so the worker runs as them, as a process would.
		ConfigModifier: func(c *container.Config) { c.User = fmt.Sprintf("%d:%d", os.Getuid(), os.Getgid()) },
		HostConfigModifier: func(hc *container.HostConfig) {
			hc.NetworkMode = "host"
			hc.Binds = append(hc.Binds, dir+":/data")
		},
		WaitingFor: wait.ForLog("lifecycle worker running").WithStartupTimeout(StartTimeout),
	})
}

// Kill sends SIGKILL to a container: no shutdown, no cleanup, as a crash.
func Kill(t testing.TB, c testcontainers.Container) {
	t.Helper()
	if out, err := exec.Command("docker", "kill", "--signal", "KILL", c.GetContainerID()).CombinedOutput(); err != nil {
		t.Fatalf("docker kill: %v: %s", err, out)
	}
}

// StartSimulators starts the three upstream simulators empty (tests seed
// what they need) on loopback ports, stopped when the test ends.
func StartSimulators(t testing.TB) *sim.Set {
	t.Helper()
	set, err := sim.Start(context.Background(), sim.Options{NoDemoData: true})
	if err != nil {
		t.Fatalf("simulators: %v", err)
	}
	t.Cleanup(func() { set.Close() })
	return set
}
