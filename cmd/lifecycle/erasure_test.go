package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lifecycle-worker/lifecycle/internal/erasure"
	"github.com/lifecycle-worker/lifecycle/internal/testutil"
)

// TestErasureCommands: what the operator's commands show of a request whose
// step failed, and the one extension GDPR allows.
func TestErasureCommands(t *testing.T) {
	ctx := context.Background()
	mr, rdb := testutil.Redis(t)
	env := map[string]string{"LIFECYCLE_REDIS_URL": "redis://" + mr.Addr()}
	// Filed now: a month left, so that only the failure puts it at risk.
	filed := time.Now().UTC().Truncate(time.Second)
	store := erasure.NewStore(rdb)
	if _, err := store.Create(ctx, erasure.Request{ID: "gdpr-1", UserID: "u-1", FiledBy: "dpo-1", FiledAt: filed}); err != nil {
		t.Fatal(err)
	}
	failing := erasure.StepFailure{Step: "bigin:Contacts:7001", Class: "permanent", Error: "bigin: DELETE photo: NO_PERMISSION"}
	if err := store.SetState(ctx, "gdpr-1", erasure.State{Status: erasure.StatusFailed, StepsTotal: 12, Failing: []erasure.StepFailure{failing}}); err != nil {
		t.Fatal(err)
	}

	code, out, errOut := run(t, env, "erasure", "status", "gdpr-1")
	if code != exitOK || errOut != "" {
		t.Fatalf("erasure status: exit %d, stderr %q", code, errOut)
	}
	for _, want := range []string{
		"status    failed\n",
		"AT RISK   of missing the deadline\n",
		"failing   bigin:Contacts:7001 (permanent): bigin: DELETE photo: NO_PERMISSION\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("erasure status lacks %q:\n%s", want, out)
		}
	}

	code, out, errOut = run(t, env, "erasure", "list", "--json")
	var open []struct {
		Request struct {
			ID string `json:"request_id"`
		} `json:"request"`
		AtRisk bool `json:"at_risk"`
	}
	if err := json.Unmarshal([]byte(out), &open); code != exitOK || err != nil {
		t.Fatalf("erasure list --json: exit %d, %v, stderr %q:\n%s", code, err, errOut, out)
	}
	if len(open) != 1 || open[0].Request.ID != "gdpr-1" || !open[0].AtRisk {
		t.Errorf("erasure list --json: %+v, want gdpr-1 at risk (a failed request is, whatever its days left)", open)
	}

	code, out, errOut = run(t, env, "erasure", "extend", "gdpr-1", "--reason", "Bigin permission pending")
	want := "request gdpr-1 extended: due " + filed.AddDate(0, 3, 0).Format(time.RFC3339) + " ("
	if code != exitOK || !strings.HasPrefix(out, want) || errOut != "" {
		t.Errorf("erasure extend: exit %d, %q, stderr %q; want 0 and %q...", code, out, errOut, want)
	}
	code, out, errOut = run(t, env, "erasure", "extend", "gdpr-1", "--reason", "again")
	if diff := cmp.Diff([]any{exitFailure, "", "lifecycle erasure: erasure: deadline already extended (GDPR allows one extension)\n"},
		[]any{code, out, errOut}); diff != "" {
		t.Errorf("second erasure extend: exit, stdout, stderr (-want +got):\n%s", diff)
	}
}

// TestReceiptInDev: beside dev's store, receipt get and receipt verify need
// neither a key variable nor the receipt's path: the request id finds the
// receipt in storage, and dev's key file is found beside the store.
func TestReceiptInDev(t *testing.T) {
	dir := t.TempDir()
	key := strings.Repeat("k", 64)
	if err := os.WriteFile(filepath.Join(dir, "receipt.key"), []byte(key), 0o600); err != nil {
		t.Fatal(err)
	}
	doc, err := erasure.Sign(erasure.Receipt{RequestID: "GDPR-1"}, []byte(key))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "storage", "receipts"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "storage", "receipts", "GDPR-1.json"), doc, 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"LIFECYCLE_STORAGE": "file://" + filepath.Join(dir, "storage")}

	tests := []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"receipt", "verify", "GDPR-1"}, exitOK, "receipts/GDPR-1.json: valid receipt of request GDPR-1"},
		{[]string{"receipt", "get", "GDPR-1"}, exitOK, string(doc)},
		{[]string{"receipt", "verify", "GDPR-2"}, exitFailure, ""},
		{[]string{"receipt", "get", "GDPR-2"}, exitFailure, ""},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, out, errOut := run(t, env, tt.args...)
			if code != tt.code || !strings.HasPrefix(out, tt.out) {
				t.Errorf("exit %d, stdout %q, stderr %q; want %d and %q", code, out, errOut, tt.code, tt.out)
			}
		})
	}
}
