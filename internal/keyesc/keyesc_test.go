package keyesc

import "testing"

func TestEscape(t *testing.T) {
	colon := func(c byte) bool { return c == ':' || c == '%' }
	for _, tc := range []struct{ in, want string }{
		{"GDPR-2026-0142", "GDPR-2026-0142"},
		{"X:steps", "X%3Asteps"},
		{"50%3A", "50%253A"}, // an escape cannot be forged
		{"é", "%C3%A9"},
		{":", "%3A"},
	} {
		if got := Escape(tc.in, colon); got != tc.want {
			t.Errorf("Escape(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
