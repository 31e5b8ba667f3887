package erasure

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

// FuzzVerify: whatever a receipt document holds, Verify answers without
// panicking; what it accepts has a canonical form that is stable and holds
// each member once; and a receipt signed with the key verifies.
func FuzzVerify(f *testing.F) {
	key := []byte("fuzz-receipt-key-0123456789")
	signed, err := Sign(Receipt{Version: 1, RequestID: "gdpr-1", UserID: "u-1", Subjects: []string{"u-1"},
		FiledBy: "dpo-1", FiledAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}, key)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(signed)
	f.Fuzz(func(t *testing.T, doc []byte) {
		err := Verify(doc, key)
		canon, cerr := Canonical(doc)
		if cerr != nil {
			if err == nil {
				t.Fatalf("%q verified without a canonical form: %v", doc, cerr)
			}
			return
		}
		if again, err := Canonical(canon); err != nil || !bytes.Equal(again, canon) {
			t.Fatalf("canonical form of %q is not stable: %q, %v", doc, again, err)
		}
		if name, dup := duplicateMember(doc); dup {
			t.Fatalf("%q has member %q twice and a canonical form", doc, name)
		}
		if err == nil {
			var rc Receipt
			if json.Unmarshal(doc, &rc) == nil && rc.HMAC == "" {
				t.Fatalf("%q verified without an HMAC", doc)
			}
		}
	})
}
