package rkeys

import "testing"

// TestIDsCannotNameAnotherKey: whatever an id holds, the keys built from it
// are its own (issue 13, finding 2), and a valid id is embedded unchanged,
// so the keys already stored keep their names.
func TestIDsCannotNameAnotherKey(t *testing.T) {
	if got, want := ErasureRequest("GDPR-2026.01@x_y"), "lifecycle:erasure:GDPR-2026.01@x_y"; got != want {
		t.Errorf("ErasureRequest of a valid id = %q, want %q", got, want)
	}
	for _, tt := range []struct{ a, b string }{
		{ErasureRequest("X:steps"), ErasureSteps("X")},
		{ErasureRequest("X:plan"), ErasurePlan("X")},
		{ErasureRequest("X:joined"), ErasureJoined("X")},
		{Aliases("a:aliases"), Aliases("a")},
		{ErasureRequest("X%3Asteps"), ErasureRequest("X:steps")},
		{ErasureRequest(""), ErasureRequest("\x00")},
	} {
		if tt.a == tt.b {
			t.Errorf("two ids share the key %q", tt.a)
		}
	}
}
