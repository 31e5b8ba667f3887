package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lifecycle-worker/lifecycle/integration/harness"
	"github.com/lifecycle-worker/lifecycle/internal/erasure"
	"github.com/lifecycle-worker/lifecycle/internal/testutil"
	"github.com/lifecycle-worker/lifecycle/tasks"
)

// TestEraseAuditFindsDataThatCameBack: issue 12's audit acceptance, with a
// real worker and the real CLI. First, without a person: a late upload lands
// under the erased user's prefix after the erasure finished, and the
// worker's scheduled re-audit (LIFECYCLE_ERASURE_REAUDIT_AFTER, made tiny)
// finds it, counts it, warns and reopens the request. Then a person resolves
// that finding (the request finishes again), a photo comes back in Artifi,
// and `erasure audit` finds it at once and reopens the request again.
func TestEraseAuditFindsDataThatCameBack(t *testing.T) {
	t.Parallel()
	s := eraseSubject{user: "u-audit", guest: "g-audit", photos: 3, guestPhotos: 1, objects: 2, guestObjects: 1,
		bigin: []tasks.BiginRecord{{Module: "Contacts", RecordID: "7001"}}, bpmUser: "audit.user", requestID: "gdpr-audit-1"}
	b := setupErase(t, s)
	addr := testutil.FreeAddr(t)
	w := harness.StartProcess(t, append(b.env(t), "LIFECYCLE_HTTP_ADDR="+addr, "LIFECYCLE_ERASURE_REAUDIT_AFTER=4s"), "worker")
	b.file(t)
	b.waitFor(t, 60*time.Second, "done", func(r erasure.Record) bool { return r.State.Status == erasure.StatusDone })
	finished := time.Now()

	testutil.PutObjects(t, b.store, "users/"+s.user+"/photos/late.jpg")
	rec := b.waitFor(t, 60*time.Second, "reopened by the scheduled re-audit", func(r erasure.Record) bool {
		return r.State.Status == erasure.StatusNeedsReview
	})
	t.Logf("scheduled re-audit reopened the request %v after it finished", time.Since(finished).Round(100*time.Millisecond))
	// Two entries: the late file and the photos/ directory it recreated
	// (storage verification counts entries of every kind).
	want := []erasure.Finding{{Step: "audit:storage:users/" + s.user + "/", System: erasure.SystemStorage, Answer: "2 entries"}}
	if diff := cmp.Diff(want, rec.State.Unconfirmed); diff != "" {
		t.Errorf("findings of the scheduled re-audit (-want +got):\n%s", diff)
	}
	if !rec.AtRisk {
		t.Errorf("reopened request not counted at risk")
	}
	if v := scrape(t, addr, "lifecycle_erasure_audit_findings_total", "system", "storage"); v != 1 {
		t.Errorf("lifecycle_erasure_audit_findings_total{system=storage} = %v, want 1", v)
	}
	if !strings.Contains(w.Output(), `"level":"warn"`) || !strings.Contains(w.Output(), "erasure audit finding") {
		t.Errorf("no warning line for the finding in the worker's log:\n%s", w.Output())
	}
	audits := func() []os.DirEntry {
		es, _ := os.ReadDir(filepath.Join(b.dir, "receipts", s.requestID+".audits"))
		return es
	}
	if n := len(audits()); n != 1 {
		t.Errorf("%d audit records beside the receipt, want 1", n)
	}

	// A person keeps the late upload (resolved as retained): the request
	// finishes again, and a later scheduled re-audit would be a new one.
	out, code := b.cli(t, "erasure", "resolve", s.requestID, "--step", want[0].Step, "--as", "retained", "--reason", "legal hold on the late upload")
	if code != 0 || !strings.Contains(out, "status done") {
		t.Fatalf("erasure resolve: status %d:\n%s", code, out)
	}
	b.set.Artifi.AddPhotos(s.user, 1)
	out, code = b.cli(t, "erasure", "audit", s.requestID)
	if code != 0 {
		t.Fatalf("erasure audit: status %d:\n%s", code, out)
	}
	for _, w := range []string{"audit findings", "artifi\taudit:artifi:photos:" + s.user, "reopened as needs_review", "audit record receipts/" + s.requestID + ".audits/"} {
		if !strings.Contains(out, w) {
			t.Errorf("erasure audit output lacks %q:\n%s", w, out)
		}
	}
	rec = b.record(t)
	if rec.State.Status != erasure.StatusNeedsReview {
		t.Errorf("after erasure audit: status %s, want needs_review", rec.State.Status)
	}
	if !containsStep(rec.State.Unconfirmed, "audit:artifi:photos:"+s.user) {
		t.Errorf("reopened request does not name the Artifi finding: %+v", rec.State.Unconfirmed)
	}
	if n := len(audits()); n < 2 {
		t.Errorf("%d audit records beside the receipt after the CLI's audit, want at least 2", n)
	}
}

func containsStep(fs []erasure.Finding, step string) bool {
	for _, f := range fs {
		if f.Step == step {
			return true
		}
	}
	return false
}
