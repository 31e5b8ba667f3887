package erasure_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	promtest "github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lifecycle-worker/lifecycle/internal/erasure"
	"github.com/lifecycle-worker/lifecycle/internal/testutil"
)

var auditKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, ed25519.SeedSize))

// TestAuditFindsDataThatCameBack erases a user, puts some of their data
// back into one system (a replica, a late upload), and audits: the audit
// names that system, counts it, reopens the request as needs_review, and
// leaves its record beside the receipt. With nothing put back the audit is
// clean and the request stays done.
func TestAuditFindsDataThatCameBack(t *testing.T) {
	addr, _ := testutil.RealRedis(t)
	cases := []struct {
		name    string
		putBack func(t *testing.T, w *lyingWorld)
		want    []string // systems of the findings
	}{
		{"nothing", func(*testing.T, *lyingWorld) {}, nil},
		{"artifi photo", func(_ *testing.T, w *lyingWorld) { w.artifi.AddPhotos(w.userID, 1) }, []string{erasure.SystemArtifi}},
		{"bigin photo", func(_ *testing.T, w *lyingWorld) { w.bigin.AddRecord("Contacts", "11", true) }, []string{erasure.SystemBigin}},
		{"bpm avatar", func(_ *testing.T, w *lyingWorld) { w.bpm.AddUser(w.bpmUser, 900, true) }, []string{erasure.SystemIBMBPM}},
		{"storage object", func(t *testing.T, w *lyingWorld) {
			testutil.PutObjects(t, w.store, "users/"+w.userID+"/photos/late.jpg")
		}, []string{erasure.SystemStorage}},
		{"storage symlink", func(t *testing.T, w *lyingWorld) {
			if err := os.MkdirAll(filepath.Join(w.dir, "users", w.userID), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink("/etc/hostname", filepath.Join(w.dir, "users", w.userID, "link")); err != nil {
				t.Fatal(err)
			}
		}, []string{erasure.SystemStorage}},
	}
	for n, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			w := newLyingWorld(t, addr, 100+n)
			w.ex.ReceiptKey = auditKey
			var scheduled []time.Time
			w.ex.ScheduleAudit = func(_ context.Context, id string, at time.Time) error {
				if id != w.req.ID {
					t.Errorf("re-audit scheduled for %s, want %s", id, w.req.ID)
				}
				scheduled = append(scheduled, at)
				return nil
			}
			w.ex.AuditFindings = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "f"}, []string{"system"})
			if rec := w.erase(t); rec.State.Status != erasure.StatusDone {
				t.Fatalf("erasure ended %s, want done", rec.State.Status)
			}
			if len(scheduled) != 1 {
				t.Fatalf("re-audit scheduled %d times at finish, want once", len(scheduled))
			}
			c.putBack(t, w)

			ar, err := w.ex.Audit(ctx, w.req.ID, "tester")
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range ar.Findings {
				got = append(got, f.System)
			}
			if diff := cmp.Diff(c.want, got); diff != "" {
				t.Errorf("finding systems (-want +got):\n%s\nfindings %+v", diff, ar.Findings)
			}
			for _, s := range []string{erasure.SystemArtifi, erasure.SystemBigin, erasure.SystemIBMBPM, erasure.SystemStorage} {
				want := 0.0
				for _, ws := range c.want {
					if ws == s {
						want++
					}
				}
				if v := promtest.ToFloat64(w.ex.AuditFindings.WithLabelValues(s)); v != want {
					t.Errorf("findings metric{system=%s} = %v, want %v", s, v, want)
				}
			}

			rec, err := w.ex.Store.Get(ctx, w.req.ID)
			if err != nil {
				t.Fatal(err)
			}
			wantStatus := erasure.StatusDone
			if len(c.want) > 0 {
				wantStatus = erasure.StatusNeedsReview
			}
			if rec.State.Status != wantStatus {
				t.Errorf("status after audit %s, want %s", rec.State.Status, wantStatus)
			}
			if len(c.want) > 0 && (len(rec.State.Unconfirmed) != len(c.want) || !rec.AtRisk) {
				t.Errorf("reopened request names %+v (at risk %v), want the audit's findings, at risk", rec.State.Unconfirmed, rec.AtRisk)
			}

			// The record lies beside the receipt, and reads back as written.
			entries, err := os.ReadDir(filepath.Join(w.dir, "receipts", w.req.ID+".audits"))
			if err != nil || len(entries) != 1 {
				t.Fatalf("audit records beside the receipt: %v, %v; want one", entries, err)
			}
			f, err := os.Open(filepath.Join(w.dir, "receipts", w.req.ID+".audits", entries[0].Name()))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			doc, err := io.ReadAll(f)
			if err != nil {
				t.Fatal(err)
			}
			pub := auditKey.Public().(ed25519.PublicKey)
			stored, _, err := erasure.VerifyDoc[erasure.AuditRecord](doc, erasure.PublicKeys{erasure.KeyID(pub): pub})
			if err != nil {
				t.Fatalf("audit record does not verify: %v", err)
			}
			if diff := cmp.Diff(ar, stored); diff != "" {
				t.Errorf("stored audit record (-returned +stored):\n%s", diff)
			}
		})
	}
}

// TestAuditRefusesARequestNotDone: an audit of a request still open would
// find the data the erasure has yet to delete.
func TestAuditRefusesARequestNotDone(t *testing.T) {
	addr, _ := testutil.RealRedis(t)
	w := newLyingWorld(t, addr, 200)
	w.ex.ReceiptKey = auditKey
	_, err := w.ex.Audit(context.Background(), w.req.ID, "tester")
	if !errors.Is(err, erasure.ErrNotFinished) {
		t.Fatalf("audit of a queued request: %v, want ErrNotFinished", err)
	}
}
