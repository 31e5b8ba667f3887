package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/lifecycle-worker/lifecycle/internal/audit"
	"github.com/lifecycle-worker/lifecycle/internal/testutil"
)

// TestApprovalFromTheCLI: the CLI's identity is the OS user, so a request
// filed from a shell cannot be approved from the same account; the refusal
// changes nothing, and the filing and the denial are in the audit trail.
func TestApprovalFromTheCLI(t *testing.T) {
	mr, _ := testutil.Redis(t)
	env := map[string]string{"LIFECYCLE_REDIS_URL": "redis://" + mr.Addr(), "LIFECYCLE_ERASURE_APPROVAL": "required"}
	code, out, errOut := run(t, env, "erasure", "file", "--request-id", "gdpr-5", "--user-id", "u-5", "--filed-by", "dpo-1", "--filed-at", "2026-11-20T09:00:00Z")
	if code != exitOK || !strings.Contains(out, "awaiting approval") {
		t.Fatalf("erasure file: exit %d %q %q", code, out, errOut)
	}
	code, _, errOut = run(t, env, "erasure", "approve", "gdpr-5", "--reason", "mine")
	if code != exitUsage || !strings.Contains(errOut, "cannot approve it (four eyes)") {
		t.Errorf("approve by the filer: exit %d %q, want %d refusing", code, errOut, exitUsage)
	}
	if _, out, _ = run(t, env, "erasure", "status", "gdpr-5"); !strings.Contains(out, "status    awaiting_approval\n") || !strings.Contains(out, "approval  awaiting an identity other than "+audit.CLIUser()) {
		t.Errorf("erasure status of an awaiting request:\n%s", out)
	}
	if code, _, errOut = run(t, env, "erasure", "deny", "gdpr-5"); code != exitUsage || !strings.Contains(errOut, "--reason is required") {
		t.Errorf("deny without a reason: exit %d %q", code, errOut)
	}
	if code, _, errOut = run(t, env, "erasure", "deny", "gdpr-5", "--reason", "filed in error"); code != exitOK {
		t.Fatalf("deny: exit %d %q", code, errOut)
	}
	code, out, _ = run(t, env, "erasure", "list", "--state", "denied", "--format", "csv")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != exitOK || len(lines) != 2 || !strings.HasPrefix(lines[1], "gdpr-5,u-5,denied,") {
		t.Errorf("erasure list --state denied --format csv: exit %d\n%s", code, out)
	}
	code, out, errOut = run(t, env, "audit", "list", "--json")
	var entries []audit.Entry
	if err := json.Unmarshal([]byte(out), &entries); code != exitOK || err != nil {
		t.Fatalf("audit list --json: exit %d %v %q", code, err, errOut)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Who+" "+e.Action+" "+e.Subject+" "+e.Why)
	}
	who := audit.CLIUser()
	want := []string{who + " erasure.file gdpr-5 ", who + " erasure.deny gdpr-5 filed in error"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("audit list (-want +got):\n%s", diff)
	}
}
