package erasure

import (
	"bytes"
	"crypto/ed25519"
	"os"
	"testing"
	"time"
)

// FuzzVerify: whatever a receipt document holds, Verify and VerifyHMAC
// answer without panicking; what Verify accepts is exactly a receipt the
// signer wrote (signing what it read again gives the same signature, and
// no member is given twice), and its canonical form is stable.
func FuzzVerify(f *testing.F) {
	fkey := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{3}, ed25519.SeedSize))
	keys := PublicKeys{}
	keys.Add(fkey.Public().(ed25519.PublicKey))
	signed, err := Sign(Receipt{Version: 1, RequestID: "gdpr-1", UserID: "u-1", Subjects: []string{"u-1"},
		FiledBy: "dpo-<1>", FiledAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Steps: []ReceiptStep{{Step: "s1", System: SystemArtifi, Outcome: Deleted, Count: 1}}}, fkey)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(signed)
	legacy, err := os.ReadFile("testdata/receipt-v1-hmac.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(legacy)
	f.Fuzz(func(t *testing.T, doc []byte) {
		if _, err := VerifyHMAC(doc, []byte(legacyHMACKey)); err == nil {
			if name, dup := duplicateMember(doc); dup {
				t.Fatalf("%q has member %q twice and an HMAC that verifies", doc, name)
			}
		}
		rc, sig, err := Verify(doc, keys)
		if _, canon, _, perr := parseStrict[Receipt](doc, SignatureMember, false); perr == nil {
			obj, err := decodeObject(canon)
			if err != nil {
				t.Fatalf("canonical form %q of %q does not read back: %v", canon, doc, err)
			}
			if again, err := canonical(obj, false); err != nil || !bytes.Equal(again, canon) {
				t.Fatalf("canonical form of %q is not stable: %q, then %q, %v", doc, canon, again, err)
			}
		} else if err == nil {
			t.Fatalf("%q verified without a strict reading: %v", doc, perr)
		}
		if err != nil {
			return
		}
		if name, dup := duplicateMember(doc); dup {
			t.Fatalf("%q has member %q twice and verifies", doc, name)
		}
		again, err := Sign(rc, fkey)
		if err != nil {
			t.Fatalf("the receipt read from %q cannot be signed again: %v", doc, err)
		}
		_, sig2, err := Verify(again, keys)
		if err != nil || sig2 != sig {
			t.Fatalf("%q verified, but signing what it says gives %+v, %v (want %+v): it says something the signer did not sign", doc, sig2, err, sig)
		}
	})
}
