package taskscheck_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestConsumerModuleGraph is the check that tasks is a light module: a fresh
// producer module that imports tasks (from this tree, by replace) builds, and
// its whole module graph holds nothing of the worker's: no test containers,
// no S3 client, no logger, no metrics, not the worker's module itself. Its go
// line stays at asynq's: depending on tasks raises no one's Go version.
func TestConsumerModuleGraph(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a module: not in -short")
	}
	tasksDir, err := filepath.Abs(filepath.Join("..", "..", "tasks"))
	if err != nil {
		t.Fatal(err)
	}
	goLine := goDirective(t, filepath.Join(tasksDir, "go.mod"))

	dir := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", "module example.com/checkout\n\ngo "+goLine+"\n\n"+
		"require github.com/lifecycle-worker/lifecycle/tasks v0.0.0\n\n"+
		"replace github.com/lifecycle-worker/lifecycle/tasks => "+tasksDir+"\n")
	write("main.go", `package main

import (
	"context"
	"fmt"

	"github.com/hibiken/asynq"

	"github.com/lifecycle-worker/lifecycle/tasks"
)

func main() {
	c := tasks.NewClient(asynq.RedisClientOpt{Addr: "127.0.0.1:6379"})
	defer c.Close()
	fmt.Println(c.EnqueueMerge(context.Background(), tasks.UserMergePayload{GuestID: "g-1", UserID: "u-1"}))
}
`)
	// tasks' checksums are the consumer's too: with them the module cache
	// answers, and the proxy is asked only for what the cache lacks.
	sums, err := os.ReadFile(filepath.Join(tasksDir, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	write("go.sum", string(sums))

	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("go", args...)
		cmd.Dir = dir
		// GOWORK=off: a go.work above the temp dir must not join the root
		// module in. GOTOOLCHAIN=local: a raised go line must fail here, not
		// fetch a newer toolchain.
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off", "GOTOOLCHAIN=local")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
		}
		return string(out)
	}
	run("mod", "tidy")
	run("build", "-o", os.DevNull, ".")
	graph := run("mod", "graph")

	forbidden := []string{
		"github.com/testcontainers/", "github.com/minio/", "github.com/rs/zerolog",
		"github.com/prometheus/", "github.com/moby/", "github.com/docker/",
		"github.com/alicebob/miniredis", "go.opentelemetry.io/", "github.com/spf13/cobra",
	}
	modules := map[string]bool{}
	for line := range strings.Lines(graph) {
		for _, m := range strings.Fields(line) {
			path, _, _ := strings.Cut(m, "@")
			modules[path] = true
		}
	}
	if len(modules) < 3 {
		t.Fatalf("go mod graph names %d modules, want at least the consumer, tasks and asynq:\n%s", len(modules), graph)
	}
	for m := range modules {
		if m == "github.com/lifecycle-worker/lifecycle" {
			t.Errorf("the worker's module is in the consumer's graph")
		}
		for _, f := range forbidden {
			if strings.HasPrefix(m, f) {
				t.Errorf("module %s is in the consumer's graph", m)
			}
		}
	}
	if asynqGo := strings.TrimSpace(run("list", "-m", "-f", "{{.GoVersion}}", "github.com/hibiken/asynq")); goLine != asynqGo {
		t.Errorf("tasks/go.mod says go %s, asynq needs go %s: keep them equal", goLine, asynqGo)
	}
	if got := goDirective(t, filepath.Join(dir, "go.mod")); got != goLine {
		t.Errorf("the consumer's go line went from %s to %s", goLine, got)
	}
	t.Logf("%d modules in the consumer's graph (go %s)", len(modules), goLine)
}

var goDirectiveRE = regexp.MustCompile(`(?m)^go (\S+)$`)

func goDirective(t *testing.T, goMod string) string {
	t.Helper()
	b, err := os.ReadFile(goMod)
	if err != nil {
		t.Fatal(err)
	}
	m := goDirectiveRE.FindSubmatch(b)
	if m == nil {
		t.Fatalf("%s has no go line", goMod)
	}
	return string(m[1])
}
