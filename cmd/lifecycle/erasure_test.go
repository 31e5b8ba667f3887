package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
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

// TestReceiptVerify: beside dev's store, receipt get and receipt verify need
// neither a key variable nor the receipt's path (dev's key is found beside
// the store); with --public-key (a file, or a directory for rotation) verify
// needs nothing else, no secret; an altered, malformed or huge receipt is
// refused; a receipt from before Ed25519 verifies with its HMAC key.
func TestReceiptVerify(t *testing.T) {
	dir := t.TempDir()
	storeURL := "file://" + filepath.Join(dir, "storage")
	keyPEM, keyFile, err := devSigningKey(storeURL)
	if err != nil || keyFile != filepath.Join(dir, "receipt-signing.pem") {
		t.Fatalf("devSigningKey = %q, %v", keyFile, err)
	}
	key, err := erasure.ParsePrivateKey(keyPEM.Value())
	if err != nil {
		t.Fatal(err)
	}
	keyID := erasure.KeyID(key.Public().(ed25519.PublicKey))
	if again, _, err := devSigningKey(storeURL); err != nil || again != keyPEM {
		t.Fatalf("dev's second start made another key (%v): its receipts would no longer verify", err)
	}
	_, old, _ := ed25519.GenerateKey(rand.Reader)
	_, stranger, _ := ed25519.GenerateKey(rand.Reader)
	sign := func(k ed25519.PrivateKey, id string) []byte {
		doc, err := erasure.Sign(erasure.Receipt{Version: 1, RequestID: id, Verification: erasure.Verification{Result: "passed"}}, k)
		if err != nil {
			t.Fatal(err)
		}
		return doc
	}
	doc := sign(key, "GDPR-1")
	write := func(name string, b []byte) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("storage/receipts/GDPR-1.json", doc)
	pem := func(k ed25519.PrivateKey) []byte {
		b, err := erasure.MarshalPublicKey(k.Public().(ed25519.PublicKey))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	pubFile := write("published/current.pem", pem(key))
	write("published/2025.pem", pem(old))
	write("published/README", []byte("keys of lifecycle's erasure receipts\n"))
	strangers := filepath.Dir(write("strangers/k.pem", pem(stranger)))
	file := write("GDPR-1.json", doc)
	oldFile := write("GDPR-0.json", sign(old, "GDPR-0"))
	tampered := write("tampered.json", bytes.Replace(doc, []byte(`"version": 1`), []byte(`"version": 2`), 1))
	twice := write("twice.json", bytes.Replace(doc, []byte(`"version": 1`), []byte(`"request_id": "forged", "version": 1`), 1))
	legacy, err := os.ReadFile("../../internal/erasure/testdata/receipt-v1-hmac.json")
	if err != nil {
		t.Fatal(err)
	}
	legacyFile := write("legacy.json", legacy)
	huge := filepath.Join(dir, "huge.json")
	if f, err := os.Create(huge); err != nil || f.Truncate(1<<30) != nil || f.Close() != nil {
		t.Fatalf("sparse 1 GB file: %v", err)
	}
	store := map[string]string{"LIFECYCLE_STORAGE": storeURL}

	tests := []struct {
		name string
		env  map[string]string
		args []string
		code int
		out  string // prefix of stdout
		err  string // in stderr
	}{
		{"by request id, dev's key", store, []string{"receipt", "verify", "GDPR-1"}, exitOK,
			"receipts/GDPR-1.json: valid receipt of request GDPR-1 (finished 0001-01-01T00:00:00Z, verification passed; Ed25519, key id " + keyID + ")", ""},
		{"public key printed", store, []string{"receipt", "public-key"}, exitOK, string(pem(key)), ""},
		{"public key file, no secret", nil, []string{"receipt", "verify", file, "--public-key", pubFile}, exitOK, file + ": valid receipt of request GDPR-1", ""},
		{"key directory, current key", nil, []string{"receipt", "verify", file, "--public-key", filepath.Dir(pubFile)}, exitOK, file + ": valid receipt", ""},
		{"key directory, old key", nil, []string{"receipt", "verify", oldFile, "--public-key", filepath.Dir(pubFile)}, exitOK, oldFile + ": valid receipt of request GDPR-0", ""},
		{"key not given", nil, []string{"receipt", "verify", file, "--public-key", strangers}, exitFailure, "", "receipt is signed with a key not among the public keys given: it names key id \"" + keyID + "\""},
		{"altered", nil, []string{"receipt", "verify", tampered, "--public-key", pubFile}, exitFailure, "", "does not match its signature"},
		{"member twice", nil, []string{"receipt", "verify", twice, "--public-key", pubFile}, exitFailure, "", `member "request_id" given twice`},
		{"1 GB", nil, []string{"receipt", "verify", huge, "--public-key", pubFile}, exitFailure, "", "huge.json: receipt is larger than 8 MiB"},
		{"legacy HMAC, dev's old key", store, []string{"receipt", "verify", legacyFile}, exitOK, legacyFile + ": valid receipt of request GDPR-2025-0007 (finished 2026-03-01T12:00:00Z, verification passed; HMAC-SHA256", ""},
		{"legacy HMAC, no HMAC key", nil, []string{"receipt", "verify", legacyFile, "--public-key", pubFile}, exitUsage, "", "its key is needed"},
		{"no public key", nil, []string{"receipt", "verify", file}, exitUsage, "", "no public key: give --public-key FILE|DIR"},
		{"get", store, []string{"receipt", "get", "GDPR-1"}, exitOK, string(doc), ""},
		{"verify, no receipt", store, []string{"receipt", "verify", "GDPR-2"}, exitFailure, "", `no receipt of request "GDPR-2"`},
		{"get, no receipt", store, []string{"receipt", "get", "GDPR-2"}, exitFailure, "", `no receipt of request "GDPR-2"`},
	}
	write("receipt.key", []byte("legacy-hmac-receipt-key-0123456789"))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			code, out, errOut := run(t, tt.env, tt.args...)
			if code != tt.code || !strings.HasPrefix(out, tt.out) || !strings.Contains(errOut, tt.err) {
				t.Errorf("exit %d, stdout %q, stderr %q; want %d, %q, %q", code, out, errOut, tt.code, tt.out, tt.err)
			}
			if took := time.Since(start); took > time.Second {
				t.Errorf("took %v", took)
			}
		})
	}
}
