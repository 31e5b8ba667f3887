package tasks_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/lifecycle-worker/lifecycle/tasks"
)

func TestUserMergePayloadValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		p    tasks.UserMergePayload
		want []tasks.ValidationError
	}{
		{"ok", tasks.UserMergePayload{GuestID: "guest-9", UserID: "u-1"}, nil},
		{"ok with request id", tasks.UserMergePayload{GuestID: "g", UserID: "u", RequestID: "order-77"}, nil},
		{"empty", tasks.UserMergePayload{}, ve("guest_id", "required", "user_id", "required")},
		{"same ids", tasks.UserMergePayload{GuestID: "u-1", UserID: "u-1"}, ve("user_id", "must differ from guest_id")},
		{"guest_id bad character", tasks.UserMergePayload{GuestID: "g#1", UserID: "u"},
			ve("guest_id", `invalid character '#' at byte 1 (allowed: A-Z a-z 0-9 . _ @ -)`)},
		{"user_id too long", tasks.UserMergePayload{GuestID: "g", UserID: strings.Repeat("u", 129)},
			ve("user_id", "too long (129 bytes, max 128)")},
		{"request_id bad character", tasks.UserMergePayload{GuestID: "g", UserID: "u", RequestID: "r\n"},
			ve("request_id", `invalid character '\n' at byte 1 (allowed: A-Z a-z 0-9 . _ @ -)`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if diff := cmp.Diff(tt.want, problems(tt.p.Validate())); diff != "" {
				t.Errorf("Validate() problems (-want, +got):\n%s", diff)
			}
			task, err := tasks.NewUserMergeTask(tt.p)
			if (err != nil) != (tt.want != nil) || (task == nil) == (tt.want == nil) {
				t.Errorf("NewUserMergeTask() = %v, %v; want an error: %v", task, err, tt.want != nil)
			}
		})
	}
}

func TestUserMergeTaskID(t *testing.T) {
	t.Parallel()
	pattern := regexp.MustCompile(`^user:merge:[0-9a-f]{32}$`)
	base := tasks.UserMergePayload{GuestID: "g-1", UserID: "u-1", RequestID: "r-1"}
	if id := base.TaskID(); !pattern.MatchString(id) {
		t.Fatalf("TaskID() = %q, want it to match %s", id, pattern)
	}
	tests := []struct {
		name     string
		a, b     tasks.UserMergePayload
		wantSame bool
	}{
		{"equal", base, base, true},
		// A merge must not run twice whatever the producer's reference.
		{"request_id ignored", base, tasks.UserMergePayload{GuestID: "g-1", UserID: "u-1", RequestID: "r-2"}, true},
		{"other guest", base, tasks.UserMergePayload{GuestID: "g-2", UserID: "u-1"}, false},
		{"other user", base, tasks.UserMergePayload{GuestID: "g-1", UserID: "u-2"}, false},
		{"swapped", base, tasks.UserMergePayload{GuestID: "u-1", UserID: "g-1"}, false},
		// ':' is allowed in ids, so a plain separator would make these collide.
		{"boundary", tasks.UserMergePayload{GuestID: "a:b", UserID: "c"}, tasks.UserMergePayload{GuestID: "a", UserID: "b:c"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.a.TaskID() == tt.b.TaskID(); got != tt.wantSame {
				t.Errorf("same id = %v, want %v (%s, %s)", got, tt.wantSame, tt.a.TaskID(), tt.b.TaskID())
			}
		})
	}
}
