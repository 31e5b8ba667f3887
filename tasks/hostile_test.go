package tasks_test

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/lifecycle-worker/lifecycle/tasks"
)

// TestIDGrammar: one grammar for every opaque id (issue 13, findings 2 and
// 6): an id that passes cannot form a Redis key separator, a path segment
// such as "." or "..", or a control character.
func TestIDGrammar(t *testing.T) {
	t.Parallel()
	tests := []struct {
		id string
		ok bool
	}{
		{"GDPR-2026-0142", true},
		{"u-1", true},
		{"a.b@c_d", true},
		{"7", true},
		{strings.Repeat("a", 128), true},
		{"", false},
		{strings.Repeat("a", 129), false},
		{"X:steps", false}, // would write into request X's checkpoint hash
		{"X:plan", false},
		{".", false},
		{"..", false},
		{".hidden", false},
		{"-rf", false}, // read as a flag on a command line
		{"a/b", false},
		{"a b", false},
		{"a\x1b[31m", false},
		{"a\x00", false},
		{"é", false},
		{"a%2Fb", false},
	}
	for _, tt := range tests {
		p := tasks.UserMergePayload{GuestID: tt.id, UserID: "user-x"}
		err := p.Validate()
		if got := err == nil; got != tt.ok {
			t.Errorf("guest_id %q: Validate() = %v, want ok=%v", tt.id, err, tt.ok)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "guest_id: ") {
			t.Errorf("guest_id %q: %v does not name the field", tt.id, err)
		}
	}
}

// TestFiledAtBounded: a filing date is neither in the future (it would push
// the legal deadline out) nor before GDPR applied (issue 13, finding 1).
func TestFiledAtBounded(t *testing.T) {
	t.Parallel()
	now := time.Now().UTC()
	tests := []struct {
		at time.Time
		ok bool
	}{
		{now, true},
		{now.Add(-365 * 24 * time.Hour), true},
		{now.Add(time.Minute), true}, // clock skew between the privacy team and us
		{now.Add(time.Hour), false},
		{time.Date(9999, 12, 15, 0, 0, 0, 0, time.UTC), false},
		{time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC), false},
		{time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC), false},
		{time.Date(1, 1, 1, 0, 0, 1, 0, time.UTC), false},
		{time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC), false},
		{tasks.FiledAtEarliest.Add(-time.Second), false},
		{tasks.FiledAtEarliest, true},
	}
	for _, tt := range tests {
		p := tasks.UserErasePayload{RequestID: "gdpr-1", UserID: "u-1", FiledBy: "dpo-1", FiledAt: tt.at}
		err := p.Validate()
		if got := err == nil; got != tt.ok {
			t.Errorf("filed_at %s: Validate() = %v, want ok=%v", tt.at, err, tt.ok)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "filed_at: ") {
			t.Errorf("filed_at %s: %v does not name the field", tt.at, err)
		}
	}
}

// TestNumbersRangeChecked: a slice number near MaxInt64 would wrap negative
// when the worker schedules the next one (issue 13, finding 8).
func TestNumbersRangeChecked(t *testing.T) {
	t.Parallel()
	for _, n := range []int{math.MaxInt64, math.MaxInt32, tasks.MaxSlice + 1} {
		p := tasks.UserErasePayload{RequestID: "gdpr-1", UserID: "u-1", FiledBy: "dpo-1", FiledAt: time.Now(), Slice: n}
		if err := p.Validate(); err == nil || !strings.HasPrefix(err.Error(), "slice: ") {
			t.Errorf("slice %d: Validate() = %v, want a problem with slice", n, err)
		}
	}
	p := tasks.UserErasePayload{RequestID: "gdpr-1", UserID: "u-1", FiledBy: "dpo-1", FiledAt: time.Now(), Slice: tasks.MaxSlice}
	if err := p.Validate(); err != nil {
		t.Errorf("slice %d: %v", tasks.MaxSlice, err)
	}
}

// TestBPMUserNotAPathSegment: the BPM user becomes one URL path segment, so
// "." and ".." are refused (issue 13, finding 6).
func TestBPMUserNotAPathSegment(t *testing.T) {
	t.Parallel()
	for _, u := range []string{".", ".."} {
		p := tasks.PhotoDeletePayload{System: tasks.SystemIBMBPM, UserID: "u-1", User: u}
		if err := p.Validate(); err == nil {
			t.Errorf("user %q accepted", u)
		}
	}
}
