package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lifecycle-worker/lifecycle/integration/harness"
	"github.com/lifecycle-worker/lifecycle/tasks"
)

// TestPythonProducer: a producer in another language, knowing only the
// documented wire format (tasks/CONTRACT.md), computes the task ids of
// every test vector, then enqueues a merge and a photo deletion over HTTP
// on a real lifecycle (dev: embedded Redis, the simulators, the worker),
// finds the ids it computed, and sees both tasks completed. Its ids are
// also those of the Go tasks package.
func TestPythonProducer(t *testing.T) {
	python := needPython3(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	py := func(args ...string) []byte {
		t.Helper()
		cmd := exec.CommandContext(ctx, python, append([]string{"testdata/producer.py"}, args...)...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("producer.py %v: %v\n%s%s", args, err, out, stderr.String())
		}
		return out
	}

	var vectors struct{ Vectors, Mismatches int }
	if err := json.Unmarshal(py("vectors", "../tasks/testdata/taskid-vectors.json"), &vectors); err != nil {
		t.Fatal(err)
	}
	if vectors.Vectors < 10 || vectors.Mismatches != 0 {
		t.Fatalf("Python's ids of the test vectors: %+v, want at least 10 and no mismatch", vectors)
	}

	const token = "python-producer-token-0123456789abcdef"
	p := harness.StartProcess(t, []string{"LIFECYCLE_LOG_LEVEL=warn", "LIFECYCLE_API_TOKEN=" + token},
		"dev", "--http-addr", "127.0.0.1:0", "--dev-redis-addr", "127.0.0.1:0")
	_, api := devAddresses(t, p)

	start := time.Now()
	var got []struct {
		Type    string `json:"type"`
		TaskID  string `json:"task_id"`
		Outcome string `json:"outcome"`
	}
	if err := json.Unmarshal(py("run", api, token), &got); err != nil {
		t.Fatal(err)
	}
	// The payloads producer.py sends, as a Go producer would build them.
	merge := tasks.UserMergePayload{GuestID: "guest-5001", UserID: "2002", RequestID: "order-py-1"}
	photo := tasks.PhotoDeletePayload{System: tasks.SystemArtifiV4, UserID: "2001", PhotoID: "100002", RequestID: "py-1"}
	type result struct{ Type, TaskID, Outcome string }
	want := []result{
		{tasks.TypeUserMerge, merge.TaskID(), "succeeded"},
		{tasks.TypePhotoDelete, photo.TaskID(), "succeeded"},
	}
	var have []result
	for _, g := range got {
		have = append(have, result{g.Type, g.TaskID, g.Outcome})
	}
	if diff := cmp.Diff(want, have); diff != "" {
		t.Errorf("what the Python producer enqueued and saw (-want +got):\n%s", diff)
	}
	t.Logf("%d vectors agreed; merge and photo deletion enqueued over HTTP and completed in %v", vectors.Vectors, time.Since(start).Round(time.Millisecond))
}

// needPython3 finds python3, installing Debian's when it is missing (as
// need-redis-server.sh does for redis-server), and says so.
func needPython3(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("python3"); err == nil {
		return p
	}
	t.Log("python3 is missing: installing Debian's python3-minimal (apt-get)")
	sudo := ""
	if os.Geteuid() != 0 {
		sudo = "sudo "
	}
	cmd := exec.Command("sh", "-c", sudo+"apt-get update -qq && DEBIAN_FRONTEND=noninteractive "+sudo+"apt-get install -y -qq python3-minimal")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("install python3: %v\n%s", err, out)
	}
	p, err := exec.LookPath("python3")
	if err != nil {
		t.Fatal("python3 still missing after apt-get install python3-minimal")
	}
	return p
}
