package skeys

import (
	"strings"
	"testing"
	"time"
)

// TestIDsStayInTheirFolder: whatever a task id, queue or id holds, the path
// built from it stays one segment in its folder, and a valid id is embedded
// unchanged (issue 13, findings 3 and 6).
func TestIDsStayInTheirFolder(t *testing.T) {
	at := time.Unix(1700000000, 0)
	if got, want := DeadLetter("photo", "photo:delete:ab12", at), "dead-letters/photo/photo:delete:ab12-1700000000.json"; got != want {
		t.Errorf("DeadLetter = %q, want %q", got, want)
	}
	if got, want := UserPrefix("u-1.a@b_c"), "users/u-1.a@b_c/"; got != want {
		t.Errorf("UserPrefix = %q, want %q", got, want)
	}
	for _, id := range []string{"..", ".", "", "x/../../y", "a\\b", "a\x00b", "%2F", "é"} {
		for _, key := range []string{DeadLetter(id, id, at), UserPrefix(id) + "f", Receipt(id), SweepReport(id), QuarantinePrefix(id) + "f"} {
			for seg := range strings.SplitSeq(key, "/") {
				if seg == "." || seg == ".." || seg == "" || strings.ContainsAny(seg, "\\\x00") {
					t.Errorf("id %q: key %q has segment %q", id, key, seg)
				}
			}
			if strings.Count(key, "/") > strings.Count(DeadLetter("q", "t", at), "/") && strings.HasPrefix(key, "dead-letters/") {
				t.Errorf("id %q: key %q is deeper than its folder", id, key)
			}
		}
	}
	if UserPrefix("%2F") == UserPrefix("/") {
		t.Error("an escaped id and the id it looks like share a folder")
	}
}
