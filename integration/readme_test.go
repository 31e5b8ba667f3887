package integration

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/lifecycle-worker/lifecycle/integration/harness"
)

// readmeBlock is one ```sh block of the README.
type readmeBlock struct {
	line   int    // of the opening fence
	marker string // the <!-- readme-test: ... --> before it: "run" or "skip, why"
	cmds   []readmeCmd
}

type readmeCmd struct {
	line         int
	cmd, comment string
	hasComment   bool
}

var readmeMarker = regexp.MustCompile(`^<!-- readme-test: (.*) -->$`)

// readmeBlocks reads every ```sh block of the README and the marker that
// says whether it runs against lifecycle dev.
func readmeBlocks(t *testing.T) []readmeBlock {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var blocks []readmeBlock
	var cur *readmeBlock
	marker, n := "", 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		n++
		l := sc.Text()
		switch {
		case cur == nil && l == "```sh":
			cur = &readmeBlock{line: n, marker: marker}
		case cur == nil:
			if m := readmeMarker.FindStringSubmatch(l); m != nil {
				marker = m[1]
			} else if strings.TrimSpace(l) != "" {
				marker = ""
			}
		case l == "```":
			blocks = append(blocks, *cur)
			cur, marker = nil, ""
		case strings.TrimSpace(l) == "" || strings.HasPrefix(strings.TrimSpace(l), "#"):
		default:
			if k := len(cur.cmds); k > 0 && strings.HasSuffix(cur.cmds[k-1].cmd, `\`) {
				c := &cur.cmds[k-1]
				c.cmd = strings.TrimSuffix(c.cmd, `\`) + " " + strings.TrimSpace(l)
				continue
			}
			cmd, comment, ok := strings.Cut(l, " # ")
			cur.cmds = append(cur.cmds, readmeCmd{line: n, cmd: strings.TrimSpace(cmd), comment: strings.TrimSpace(comment), hasComment: ok})
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return blocks
}

// readmeCheck says whether a README command did what its comment says,
// given its stdout and stderr and dev's output so far. eventually: the
// command is run again until the check passes (30 s), for work the worker
// does after the command returns.
type readmeCheck struct {
	check      func(out, errOut, dev string) error
	eventually bool
}

func contains(want ...string) func(out, _, _ string) error {
	return func(out, _, _ string) error {
		for _, w := range want {
			if !strings.Contains(out, w) {
				return fmt.Errorf("stdout lacks %q", w)
			}
		}
		return nil
	}
}

// taskSucceeded: the command printed a task id (first field, or JSON's
// task_id) and dev's worker logged that task's outcome line: succeeded.
func taskSucceeded(out, _, dev string) error {
	id := strings.Fields(out + " ")[0]
	var js struct {
		TaskID string `json:"task_id"`
	}
	if json.Unmarshal([]byte(out), &js) == nil {
		id = js.TaskID
	}
	if id == "" {
		return fmt.Errorf("no task id printed")
	}
	for l := range strings.SplitSeq(dev, "\n") {
		if strings.Contains(l, `"task_id":"`+id+`"`) && strings.Contains(l, `"outcome":"succeeded"`) {
			return nil
		}
	}
	return fmt.Errorf("dev has not logged task %s succeeded", id)
}

func all(checks ...func(out, errOut, dev string) error) func(out, errOut, dev string) error {
	return func(out, errOut, dev string) error {
		for _, c := range checks {
			if err := c(out, errOut, dev); err != nil {
				return err
			}
		}
		return nil
	}
}

func sweepAskedArtifi(_, errOut, _ string) error {
	if strings.Contains(errOut, "not configured") {
		return fmt.Errorf("an upstream was skipped as not configured: %s", errOut)
	}
	return nil
}

// readmeChecks is what each README command must do: the README's comment,
// checked. A command the README gains needs its check here, or the test
// fails: the README cannot drift from what the program does. A command's
// second occurrence is keyed with " (again)".
var readmeChecks = map[string]readmeCheck{
	". .lifecycle/dev.env": {check: func(string, string, string) error { return nil }},
	"lifecycle enqueue photo-delete --system artifi-v4 --user-id 2001 --photo-id 100001 --request-id r-1": {
		check: all(contains("photo:delete:", "queue=photo"), taskSucceeded), eventually: true},
	"lifecycle enqueue photo-delete --system artifi-v4 --user-id 2001 --photo-id 100001 --request-id r-1 (again)": {
		check: contains("(duplicate: this request is already queued, running or done; nothing new enqueued)")},
	"lifecycle enqueue photo-delete --system bigin --user-id 2001 --module Contacts --record-id 2034020000000489034": {
		check: taskSucceeded, eventually: true},
	"lifecycle enqueue photo-delete --system ibmbpm --user-id 2001 --user alice": {check: taskSucceeded, eventually: true},
	"lifecycle enqueue merge --guest-id guest-5001 --user-id 2002 --json": {
		check: all(contains(`"task_id": "user:merge:`, `"queue": "merge"`), taskSucceeded), eventually: true},
	"lifecycle dlq list": {check: contains("no dead letters")},
	"lifecycle erasure file --request-id GDPR-2026-0142 --user-id 2003 --filed-by privacy-7 --bigin Contacts:2034020000000489033 --bpm-user tw_admin": {
		check: contains("request GDPR-2026-0142 filed: task user:erase:", "due ")},
	"lifecycle erasure status GDPR-2026-0142":             {check: contains("status    done", "receipt   receipts/GDPR-2026-0142.json"), eventually: true},
	"lifecycle erasure list":                              {check: contains("REQUEST  USER  STATUS")},
	"lifecycle receipt verify GDPR-2026-0142":             {check: contains("valid receipt of request GDPR-2026-0142")},
	"lifecycle receipt get GDPR-2026-0142 > receipt.json": {check: func(string, string, string) error { return nil }},
	"lifecycle receipt verify receipt.json":               {check: contains("receipt.json: valid receipt of request GDPR-2026-0142")},
	"lifecycle sweep run --dry-run --id demo-1":           {check: all(contains(`"sweep_id": "demo-1"`, `"status": "dry_run"`), sweepAskedArtifi)},
	"lifecycle sweep list":                                {check: contains("SWEEP ID", "demo-1")},
	"lifecycle sweep show demo-1":                         {check: contains(`"sweep_id": "demo-1"`)},
	"lifecycle sweep purge --dry-run":                     {check: contains(`"objects": 0`)},

	"lifecycle erasure file --request-id GDPR-2026-0150 --user-id 2001 --filed-by privacy-7 --bigin Contacts:2034020000000489034,Accounts:2034020000000500001 --bpm-user alice --filed-at 2026-11-20T09:00:00Z": {
		check: contains("request GDPR-2026-0150 filed: task user:erase:", "due 2026-12-20T09:00:00Z")},
	"lifecycle erasure status GDPR-2026-0150 --json": {check: contains(`"status": "done"`), eventually: true},
	"lifecycle erasure list --json":                  {check: contains("[")},
	"lifecycle receipt verify GDPR-2026-0150":        {check: contains("valid receipt of request GDPR-2026-0150")},

	"lifecycle sweep run --id demo-2":                     {check: all(contains(`"sweep_id": "demo-2"`, `"status": "quarantined"`), sweepAskedArtifi)},
	"lifecycle sweep list --json":                         {check: contains(`"sweep_id": "demo-2"`)},
	"lifecycle sweep restore demo-2 --prefix users/2001/": {check: contains(`"restored": 0`)},

	"lifecycle receipt public-key > receipt-public.pem": {check: func(string, string, string) error { return nil }},
	`env -i PATH="$PATH" lifecycle receipt verify receipt.json --public-key receipt-public.pem`: {
		check: contains("receipt.json: valid receipt of request GDPR-2026-0142", "Ed25519, key id ")},
}

// TestREADMEExamples runs the README's command examples, taken from
// README.md itself, against a real `lifecycle dev`, in order, each in a
// shell in dev's directory as a newcomer would: each must exit 0 and do what
// its comment says. A block of commands that is not run says why.
func TestREADMEExamples(t *testing.T) {
	blocks := readmeBlocks(t)
	var run []readmeCmd
	for _, b := range blocks {
		switch {
		case b.marker == "run":
			run = append(run, b.cmds...)
		case strings.HasPrefix(b.marker, "skip, "):
		default:
			t.Errorf("README.md:%d: a sh block needs <!-- readme-test: run --> or <!-- readme-test: skip, why --> before it", b.line)
		}
	}
	if len(run) < 20 {
		t.Fatalf("%d runnable README commands found; the markers are lost?", len(run))
	}

	bin := harness.Binary(t)
	dev, _ := harness.StartDev(t)
	dir := dev.Dir()

	// What the README says dev prints: the demo data its examples use, and
	// the line that gives another shell dev's settings.
	for _, want := range []string{"artifi    user 2001: photos 100001 100002 100003", "artifi    guest guest-5001",
		"bigin     Contacts:2034020000000489034 (photo)", "bpm       alice (id 10, custom avatar)",
		"  . " + filepath.Join(dir, ".lifecycle", "dev.env") + "\n"} {
		if !strings.Contains(dev.Output(), want) {
			t.Errorf("lifecycle dev does not print %q:\n%s", want, dev.Output())
		}
	}

	// Lines that set the shell up (". file", "export") hold for the lines
	// after them, as in one shell.
	var prelude []string
	seen := map[string]bool{}
	path := filepath.Dir(bin) + string(os.PathListSeparator) + os.Getenv("PATH")
	for _, c := range run {
		where := fmt.Sprintf("README.md:%d: %s", c.line, c.cmd)
		key := c.cmd
		setup := strings.HasPrefix(c.cmd, ". ") || strings.HasPrefix(c.cmd, "export ")
		if seen[key] && !setup {
			key += " (again)"
		}
		seen[c.cmd] = true
		chk, ok := readmeChecks[key]
		if !ok {
			t.Errorf("%s: no check in readmeChecks for what its comment says (%q)", where, c.comment)
			continue
		}
		if !c.hasComment {
			t.Errorf("%s: no comment saying what it does", where)
		}
		if setup {
			prelude = append(prelude, c.cmd)
		}
		script := strings.Join(append(append([]string{"set -e"}, prelude...), c.cmd), "\n")
		deadline := time.Now().Add(30 * time.Second)
		for {
			out, errOut, code := shell(t, dir, path, script)
			err := chk.check(out, errOut, dev.Output())
			if code != 0 {
				err = fmt.Errorf("exit status %d: %s", code, errOut)
			}
			if err == nil {
				break
			}
			if !chk.eventually || code != 0 || time.Now().After(deadline) {
				t.Errorf("%s\n  # %s\n  %v\n  stdout:\n%s", where, c.comment, err, out)
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
}

func shell(t *testing.T, dir, path, script string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", script)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + path, "HOME=" + dir}
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatalf("bash: %v", err)
	}
	return out.String(), errOut.String(), cmd.ProcessState.ExitCode()
}
