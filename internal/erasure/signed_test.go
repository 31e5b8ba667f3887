package erasure

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// legacyHMACKey signed testdata/receipt-v1-hmac.json, written by the HMAC
// signer receipts had before Ed25519.
const legacyHMACKey = "legacy-hmac-receipt-key-0123456789"

func keyOf(seed byte) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
}

func pubOf(k ed25519.PrivateKey) ed25519.PublicKey { return k.Public().(ed25519.PublicKey) }

// replace is bytes.Replace that fails the test when old is not in doc, so
// that no case below passes by editing nothing.
func replace(t *testing.T, doc []byte, old, new string) []byte {
	t.Helper()
	if !bytes.Contains(doc, []byte(old)) {
		t.Fatalf("%q is not in the receipt", old)
	}
	return bytes.Replace(doc, []byte(old), []byte(new), 1)
}

// edit rewrites doc through change, as a JSON object.
func edit(t *testing.T, doc []byte, change func(m map[string]any)) []byte {
	t.Helper()
	m, err := decodeObject(doc)
	if err != nil {
		t.Fatal(err)
	}
	change(m)
	out, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestReceiptEditsFailVerify: a receipt written by a real erasure, edited
// in any way, fails verification with the public key alone; reformatting it
// changes nothing.
func TestReceiptEditsFailVerify(t *testing.T) {
	b := setup(t)
	if _, err := b.ex.Run(context.Background(), b.req, 0, time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	want, doc := b.receipt(t)
	other := keyOf(9)
	for _, tc := range []struct {
		name string
		doc  []byte
		keys PublicKeys
		want error
	}{
		{"intact", doc, pubKeys, nil},
		{"compacted", reindent(t, doc), pubKeys, nil},
		{"trailing newlines", append(bytes.Clone(doc), "\n\n"...), pubKeys, nil},
		{"count changed", replace(t, doc, `"count": 26`, `"count": 27`), pubKeys, ErrTampered},
		{"outcome changed", replace(t, doc, `"outcome": "deleted"`, `"outcome": "already_absent"`), pubKeys, ErrTampered},
		{"verification changed", replace(t, doc, `"result": "passed"`, `"result": "FAILED"`), pubKeys, ErrTampered},
		{"steps reordered", edit(t, doc, func(m map[string]any) {
			s := m["steps"].([]any)
			s[0], s[1] = s[1], s[0]
		}), pubKeys, ErrTampered},
		{"subject dropped", edit(t, doc, func(m map[string]any) { m["subjects"] = m["subjects"].([]any)[:1] }), pubKeys, ErrTampered},
		{"member removed", edit(t, doc, func(m map[string]any) { delete(m, "due_at") }), pubKeys, ErrTampered},
		// A reader that keeps the first copy would see the forged one.
		{"member duplicated", replace(t, doc, `"version"`, `"request_id": "forged", "version"`), pubKeys, ErrMalformed},
		{"member duplicated in a step", replace(t, doc, `"outcome": "deleted"`, `"outcome": "failed", "outcome": "deleted"`), pubKeys, ErrMalformed},
		{"verification duplicated", replace(t, doc, `"verification"`, `"verification": {"result": "FAILED", "checks": []}, "verification"`), pubKeys, ErrMalformed},
		{"unknown field added", replace(t, doc, `"version"`, `"note": "x", "version"`), pubKeys, ErrMalformed},
		{"unknown field added in a step", replace(t, doc, `"outcome": "deleted"`, `"outcome": "deleted", "by": "x"`), pubKeys, ErrMalformed},
		{"known field added", replace(t, doc, `"version"`, `"joined_to": "req-9", "version"`), pubKeys, ErrTampered},
		{"hmac added", replace(t, doc, `"version"`, `"hmac_sha256": "00", "version"`), pubKeys, ErrTampered},
		// encoding/json matches names regardless of case: Request_ID would
		// be read as request_id by it and ignored by others.
		{"member in another case", replace(t, doc, `"request_id"`, `"Request_ID"`), pubKeys, ErrMalformed},
		{"number in another form", replace(t, doc, `"count": 26`, `"count": 26.0`), pubKeys, ErrMalformed},
		{"empty list the signer leaves out", replace(t, doc, `"version"`, `"joined_by": [], "version"`), pubKeys, ErrMalformed},
		{"time in another zone", replace(t, doc, `"filed_at": "2026-02-27T12:00:00Z"`, `"filed_at": "2026-02-27T13:00:00+01:00"`), pubKeys, ErrTampered},
		{"trailing bytes", append(bytes.Clone(doc), 'x'), pubKeys, ErrMalformed},
		{"trailing object", append(bytes.Clone(doc), "{}"...), pubKeys, ErrMalformed},
		{"not an object", []byte(`[` + string(doc) + `]`), pubKeys, ErrMalformed},
		{"signature removed", edit(t, doc, func(m map[string]any) { delete(m, SignatureMember) }), pubKeys, ErrMalformed},
		{"signature changed", edit(t, doc, func(m map[string]any) {
			s := m[SignatureMember].(map[string]any)
			// A well-formed signature of other bytes: flipping a base64
			// character could make it malformed instead (a different error).
			v, err := base64.StdEncoding.DecodeString(s["value"].(string))
			if err != nil {
				t.Fatal(err)
			}
			v[0] ^= 1
			s["value"] = base64.StdEncoding.EncodeToString(v)
		}), pubKeys, ErrTampered},
		{"signature member added", edit(t, doc, func(m map[string]any) { m[SignatureMember].(map[string]any)["at"] = "now" }), pubKeys, ErrMalformed},
		{"algorithm changed", edit(t, doc, func(m map[string]any) { m[SignatureMember].(map[string]any)["alg"] = "none" }), pubKeys, ErrMalformed},
		{"wrong key id", edit(t, doc, func(m map[string]any) { m[SignatureMember].(map[string]any)["key_id"] = KeyID(pubOf(other)) }),
			PublicKeys{KeyID(pubOf(other)): pubOf(other), KeyID(pubOf(key)): pubOf(key)}, ErrTampered},
		{"key not given", doc, PublicKeys{KeyID(pubOf(other)): pubOf(other)}, ErrUnknownKey},
		{"no keys", doc, PublicKeys{}, ErrUnknownKey},
		// A key filed under the signer's id is still the wrong key.
		{"other key under its id", doc, PublicKeys{KeyID(pubOf(key)): pubOf(other)}, ErrTampered},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, _, err := Verify(tc.doc, tc.keys)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Verify = %v, want %v", err, tc.want)
			}
			if err == nil {
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("receipt read (-want +got):\n%s", diff)
				}
			}
		})
	}
}

// TestKeyRotation: a set of public keys verifies the receipts of each,
// picked by the key id the receipt names.
func TestKeyRotation(t *testing.T) {
	old, cur, retired := keyOf(1), keyOf(2), keyOf(3)
	keys := PublicKeys{}
	keys.Add(pubOf(old))
	keys.Add(pubOf(cur))
	for _, tc := range []struct {
		name string
		key  ed25519.PrivateKey
		want error
	}{
		{"old key", old, nil},
		{"current key", cur, nil},
		{"key not published", retired, ErrUnknownKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc, err := Sign(Receipt{Version: ReceiptVersion, RequestID: "r-" + tc.name}, tc.key)
			if err != nil {
				t.Fatal(err)
			}
			rc, sig, err := Verify(doc, keys)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Verify = %v, want %v", err, tc.want)
			}
			if sig.KeyID != KeyID(pubOf(tc.key)) {
				t.Errorf("receipt names key %q, want %q", sig.KeyID, KeyID(pubOf(tc.key)))
			}
			if err == nil && rc.RequestID != "r-"+tc.name {
				t.Errorf("request %q", rc.RequestID)
			}
		})
	}
}

// TestLegacyHMACReceipt: a receipt written before Ed25519 still verifies
// with the old HMAC key, and with the same strictness.
func TestLegacyHMACReceipt(t *testing.T) {
	doc, err := os.ReadFile("testdata/receipt-v1-hmac.json")
	if err != nil {
		t.Fatal(err)
	}
	if !IsLegacyHMAC(doc) {
		t.Fatal("IsLegacyHMAC = false for a legacy receipt")
	}
	for _, tc := range []struct {
		name string
		doc  []byte
		key  string
		want error
	}{
		{"intact", doc, legacyHMACKey, nil},
		{"compacted", reindent(t, doc), legacyHMACKey, nil},
		{"other key", doc, "another-legacy-key-0123456789", ErrTampered},
		{"count changed", replace(t, doc, `"count": 3`, `"count": 4`), legacyHMACKey, ErrTampered},
		{"member duplicated", replace(t, doc, `"version"`, `"request_id": "forged", "version"`), legacyHMACKey, ErrMalformed},
		{"unknown field added", replace(t, doc, `"version"`, `"note": "x", "version"`), legacyHMACKey, ErrMalformed},
		{"signature added", replace(t, doc, `"version"`, `"signature": {}, "version"`), legacyHMACKey, ErrMalformed},
		{"trailing bytes", append(bytes.Clone(doc), "}"...), legacyHMACKey, ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc, err := VerifyHMAC(tc.doc, []byte(tc.key))
			if !errors.Is(err, tc.want) {
				t.Fatalf("VerifyHMAC = %v, want %v", err, tc.want)
			}
			if err == nil && (rc.RequestID != "GDPR-2025-0007" || len(rc.Steps) != 3) {
				t.Errorf("receipt read: %+v", rc)
			}
		})
	}
	// No public key verifies an HMAC receipt: it must be told apart.
	if _, _, err := Verify(doc, pubKeys); !errors.Is(err, ErrMalformed) {
		t.Errorf("Verify of a legacy receipt = %v, want %v", err, ErrMalformed)
	}
}

// endless reads as an endless stream, like /dev/zero, counting what is
// read; the bytes are whatever p held.
type endless struct{ read int64 }

func (z *endless) Read(p []byte) (int, error) {
	z.read += int64(len(p))
	return len(p), nil
}

// TestOversizedRefusedFast: a 1 GB document is refused, quickly, after
// reading no more than the limit.
func TestOversizedRefusedFast(t *testing.T) {
	z := &endless{}
	start := time.Now()
	_, err := ReadSigned(io.LimitReader(z, 1<<30))
	took := time.Since(start)
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("ReadSigned = %v, want %v", err, ErrTooLarge)
	}
	// The bound that matters is what is read: the limit, whatever the
	// size. The time is that of reading 8 MiB (35 ms on an idle machine);
	// the test allows for a loaded one and -race.
	if took > 3*time.Second || z.read > MaxSignedSize+32<<10 {
		t.Errorf("refusing 1 GB took %v and read %d bytes", took, z.read)
	}
	t.Logf("1 GB reader refused in %v after reading %d bytes", took, z.read)
	// A file says its size: a sparse 1 GB file is refused unread.
	f, err := os.Create(t.TempDir() + "/huge.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(1 << 30); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	if _, err := ReadSigned(f); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("ReadSigned(1 GB file) = %v, want %v", err, ErrTooLarge)
	}
	if took := time.Since(start); took > 100*time.Millisecond {
		t.Errorf("refusing a 1 GB file took %v", took)
	}
	big := append([]byte(`{"filed_by":"`), bytes.Repeat([]byte("a"), MaxSignedSize)...)
	if _, _, err := Verify(append(big, `"}`...), pubKeys); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Verify of %d bytes = %v, want %v", len(big), err, ErrTooLarge)
	}
}

// TestCanonicalForm pins the bytes a signature covers, as the README
// defines them: members sorted, compact, '<' '>' '&' as written, U+2028
// escaped, the signature member left out.
func TestCanonicalForm(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	doc, err := Sign(Receipt{Version: 1, RequestID: "r-1", UserID: "u-1", Subjects: []string{"u-1"}, FiledBy: "dpo <a&b>\u2028\n",
		FiledAt: at, DueAt: at, StartedAt: at, FinishedAt: at,
		Steps:        []ReceiptStep{{Step: "s", System: SystemBigin, Outcome: Deleted, Count: 2}},
		Verification: Verification{Result: "passed", Checks: []string{}}}, keyOf(5))
	if err != nil {
		t.Fatal(err)
	}
	_, canon, _, err := parseStrict[Receipt](doc, SignatureMember, false)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"due_at":"2026-03-01T12:00:00Z","filed_at":"2026-03-01T12:00:00Z","filed_by":"dpo <a&b>\u2028\n",` +
		`"finished_at":"2026-03-01T12:00:00Z","request_id":"r-1","started_at":"2026-03-01T12:00:00Z",` +
		`"steps":[{"count":2,"outcome":"deleted","step":"s","system":"bigin"}],"subjects":["u-1"],"systems":null,` +
		`"user_id":"u-1","verification":{"checks":[],"result":"passed"},"version":1}`
	if diff := cmp.Diff(want, string(canon)); diff != "" {
		t.Errorf("canonical form (-want +got):\n%s", diff)
	}
	if !strings.HasSuffix(string(doc), "\n}\n") || !bytes.Contains(doc, []byte(`"signature": {`)) {
		t.Errorf("signed document:\n%s", doc)
	}
}
