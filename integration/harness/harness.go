// Package harness starts what integration tests run against: containers of
// locally built images (this machine has no registry; `make images` builds
// them, see deploy/images/build.sh) and real lifecycle processes. Every test
// cleans up after itself.
package harness

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/network"
)

// Image names built by deploy/images/build.sh.
const (
	ImageLifecycle = "lifecycle:dev"
	ImageRedis     = "lifecycle-redis:dev"
)

// StartTimeout bounds every container start: images are local, so a slow
// start means something is wrong, not that a pull is in progress.
const StartTimeout = 60 * time.Second

// RequireImage fails the test with what to run when an image is missing.
func RequireImage(t testing.TB, image string) {
	t.Helper()
	out, err := exec.Command("docker", "image", "inspect", "--format", "{{.Id}}", image).CombinedOutput()
	if err != nil {
		t.Fatalf("image %s not found: run `make images` (%s)", image, strings.TrimSpace(string(out)))
	}
}

// Network creates a private Docker network for one test, so containers
// reach each other by alias and tests never share state.
func Network(t testing.TB) *testcontainers.DockerNetwork {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), StartTimeout)
	defer cancel()
	nw, err := network.New(ctx)
	if err != nil {
		t.Fatalf("docker network: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), StartTimeout)
		defer cancel()
		_ = nw.Remove(ctx)
	})
	return nw
}

// start runs a container and registers its removal.
func start(t testing.TB, req testcontainers.ContainerRequest) testcontainers.Container {
	t.Helper()
	RequireImage(t, req.Image)
	ctx, cancel := context.WithTimeout(context.Background(), StartTimeout)
	defer cancel()
	c, err := testcontainers.GenericContainer(ctx, testcontainers.GenericContainerRequest{ContainerRequest: req, Started: true})
	testcontainers.CleanupContainer(t, c)
	if err != nil {
		t.Fatalf("start %s: %v", req.Image, err)
	}
	return c
}

// endpoint returns host:port of a container port mapped on localhost.
func endpoint(t testing.TB, c testcontainers.Container, port string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), StartTimeout)
	defer cancel()
	ep, err := c.PortEndpoint(ctx, port, "")
	if err != nil {
		t.Fatalf("port %s: %v", port, err)
	}
	return ep
}

// Logs returns a container's output, for failure messages.
func Logs(c testcontainers.Container) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := c.Logs(ctx)
	if err != nil {
		return fmt.Sprintf("(no logs: %v)", err)
	}
	defer r.Close()
	var b strings.Builder
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			return b.String()
		}
	}
}
