package skeys

import (
	"strconv"
	"strings"
	"testing"
)

// unescape undoes seg.
func unescape(s string) string {
	if s == "%" {
		return ""
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			n, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
			if err == nil {
				b.WriteByte(byte(n))
				i += 2
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// FuzzSeg: whatever an id, task id or queue name holds, it becomes one
// segment that is not "." or "..", and two different ids never share one
// (the escape can be undone).
func FuzzSeg(f *testing.F) {
	f.Add("x/../../poison")
	f.Fuzz(func(t *testing.T, id string) {
		s := seg(id)
		if s == "" || s == "." || s == ".." || strings.ContainsAny(s, "/\\\x00") {
			t.Fatalf("seg(%q) = %q", id, s)
		}
		if got := unescape(s); got != id {
			t.Fatalf("seg(%q) = %q reads back as %q", id, s, got)
		}
	})
}
