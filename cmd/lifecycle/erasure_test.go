package main

import (
	"context"
	"encoding/json"
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
