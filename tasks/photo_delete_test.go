package tasks_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/lifecycle-worker/lifecycle/tasks"
)

func TestPhotoDeletePayloadValidate(t *testing.T) {
	t.Parallel()
	const (
		allowed = " (allowed: A-Z a-z 0-9 . _ @ -)"
	)
	tests := []struct {
		name string
		p    tasks.PhotoDeletePayload
		want []tasks.ValidationError
	}{
		{"artifi-v3 ok", tasks.PhotoDeletePayload{System: "artifi-v3", UserID: "u-1", PhotoID: "12345"}, nil},
		{"artifi-v4 ok with request id", tasks.PhotoDeletePayload{System: "artifi-v4", UserID: "cust-42@shop", RequestID: "req_1.a", PhotoID: "987"}, nil},
		{"bigin ok", tasks.PhotoDeletePayload{System: "bigin", UserID: "u-1", Module: "Contacts", RecordID: "3652397000000649013"}, nil},
		{"bigin accounts ok", tasks.PhotoDeletePayload{System: "bigin", UserID: "u-1", Module: "Accounts", RecordID: "1"}, nil},
		{"bigin products ok", tasks.PhotoDeletePayload{System: "bigin", UserID: "u-1", Module: "Products", RecordID: "2"}, nil},
		{"ibmbpm ok", tasks.PhotoDeletePayload{System: "ibmbpm", UserID: "u-1", User: "Jane Doe"}, nil},
		{"storage ok", tasks.PhotoDeletePayload{System: "storage", UserID: "u-1", Key: "users/u-1/photos/a b.jpg"}, nil},
		{"storage ok dots in a name", tasks.PhotoDeletePayload{System: "storage", UserID: "u-1", Key: "users/u-1/a..jpg"}, nil},

		{"empty", tasks.PhotoDeletePayload{}, ve("system", "required", "user_id", "required")},
		{"unknown system", tasks.PhotoDeletePayload{System: "foo", UserID: "u-1", PhotoID: "1"},
			ve("system", `unknown "foo" (want artifi-v3, artifi-v4, bigin, ibmbpm, storage)`)},
		{"user_id bad character", tasks.PhotoDeletePayload{System: "artifi-v3", UserID: "u/1", PhotoID: "1"},
			ve("user_id", `invalid character '/' at byte 1`+allowed)},
		{"user_id non-ascii", tasks.PhotoDeletePayload{System: "artifi-v3", UserID: "é", PhotoID: "1"},
			ve("user_id", `invalid character 'é' at byte 0`+allowed)},
		{"user_id too long", tasks.PhotoDeletePayload{System: "artifi-v3", UserID: strings.Repeat("a", 129), PhotoID: "1"},
			ve("user_id", "too long (129 bytes, max 128)")},
		{"user_id at max length", tasks.PhotoDeletePayload{System: "artifi-v3", UserID: strings.Repeat("a", 128), PhotoID: "1"}, nil},
		{"request_id bad character", tasks.PhotoDeletePayload{System: "artifi-v3", UserID: "u-1", RequestID: "r 1", PhotoID: "1"},
			ve("request_id", `invalid character ' ' at byte 1`+allowed)},

		{"artifi photo_id required", tasks.PhotoDeletePayload{System: "artifi-v4", UserID: "u-1"}, ve("photo_id", "required")},
		{"artifi photo_id bad character", tasks.PhotoDeletePayload{System: "artifi-v4", UserID: "u-1", PhotoID: "1?x=2"},
			ve("photo_id", `invalid character '?' at byte 1`+allowed)},
		{"artifi foreign fields", tasks.PhotoDeletePayload{System: "artifi-v3", UserID: "u-1", PhotoID: "1", Module: "Contacts", RecordID: "2", User: "jane", Key: "users/u-1/a"},
			ve("module", "must be empty for system artifi-v3",
				"record_id", "must be empty for system artifi-v3",
				"user", "must be empty for system artifi-v3",
				"key", "must be empty for system artifi-v3")},

		{"bigin module and record_id required", tasks.PhotoDeletePayload{System: "bigin", UserID: "u-1"},
			ve("module", "required", "record_id", "required")},
		{"bigin module is case-sensitive", tasks.PhotoDeletePayload{System: "bigin", UserID: "u-1", Module: "contacts", RecordID: "1"},
			ve("module", `unknown "contacts" (want Contacts, Accounts, Products)`)},
		{"bigin record_id not numeric", tasks.PhotoDeletePayload{System: "bigin", UserID: "u-1", Module: "Contacts", RecordID: "12a"},
			ve("record_id", `must be a decimal number, got "12a"`)},
		{"bigin record_id path", tasks.PhotoDeletePayload{System: "bigin", UserID: "u-1", Module: "Contacts", RecordID: "1/../2"},
			ve("record_id", `must be a decimal number, got "1/../2"`)},
		{"bigin record_id too long", tasks.PhotoDeletePayload{System: "bigin", UserID: "u-1", Module: "Contacts", RecordID: strings.Repeat("1", 33)},
			ve("record_id", "too long (33 bytes, max 32)")},
		{"bigin photo_id set", tasks.PhotoDeletePayload{System: "bigin", UserID: "u-1", PhotoID: "1", Module: "Contacts", RecordID: "1"},
			ve("photo_id", "must be empty for system bigin")},

		{"ibmbpm user required", tasks.PhotoDeletePayload{System: "ibmbpm", UserID: "u-1"}, ve("user", "required")},
		{"ibmbpm user surrounding space", tasks.PhotoDeletePayload{System: "ibmbpm", UserID: "u-1", User: " jane"},
			ve("user", "leading or trailing space")},
		{"ibmbpm user slash", tasks.PhotoDeletePayload{System: "ibmbpm", UserID: "u-1", User: "a/b"},
			ve("user", `invalid character '/' at byte 1`)},
		{"ibmbpm user NUL", tasks.PhotoDeletePayload{System: "ibmbpm", UserID: "u-1", User: "a\x00"},
			ve("user", `invalid character '\x00' at byte 1`)},
		{"ibmbpm user bad utf-8", tasks.PhotoDeletePayload{System: "ibmbpm", UserID: "u-1", User: "a\xff"},
			ve("user", "not valid UTF-8")},
		{"ibmbpm user too long", tasks.PhotoDeletePayload{System: "ibmbpm", UserID: "u-1", User: strings.Repeat("j", 257)},
			ve("user", "too long (257 bytes, max 256)")},
		{"ibmbpm key set", tasks.PhotoDeletePayload{System: "ibmbpm", UserID: "u-1", User: "jane", Key: "users/u-1/a"},
			ve("key", "must be empty for system ibmbpm")},

		{"storage key required", tasks.PhotoDeletePayload{System: "storage", UserID: "u-1"}, ve("key", "required")},
		{"storage key of another user", tasks.PhotoDeletePayload{System: "storage", UserID: "u-1", Key: "users/u-2/a.jpg"},
			ve("key", `must be under "users/u-1/" (the payload's user_id)`)},
		{"storage key of a user whose id extends ours", tasks.PhotoDeletePayload{System: "storage", UserID: "u-1", Key: "users/u-10/a.jpg"},
			ve("key", `must be under "users/u-1/" (the payload's user_id)`)},
		{"storage key leading slash", tasks.PhotoDeletePayload{System: "storage", UserID: "u-1", Key: "/users/u-1/a.jpg"},
			ve("key", "must not start with /")},
		{"storage key climbs out", tasks.PhotoDeletePayload{System: "storage", UserID: "u-1", Key: "users/u-1/../u-2/a.jpg"},
			ve("key", `must not contain a ".." segment`)},
		{"storage key dot segment", tasks.PhotoDeletePayload{System: "storage", UserID: "u-1", Key: "users/u-1/./a.jpg"},
			ve("key", `must not contain a "." segment`)},
		{"storage key backslash", tasks.PhotoDeletePayload{System: "storage", UserID: "u-1", Key: `users/u-1/..\a.jpg`},
			ve("key", `invalid character '\\' at byte 12`)},
		{"storage key NUL", tasks.PhotoDeletePayload{System: "storage", UserID: "u-1", Key: "users/u-1/a\x00.jpg"},
			ve("key", `invalid character '\x00' at byte 11`)},
		{"storage key is the folder", tasks.PhotoDeletePayload{System: "storage", UserID: "u-1", Key: "users/u-1/"},
			ve("key", "must not contain an empty segment (// or a trailing /)")},
		{"storage key double slash", tasks.PhotoDeletePayload{System: "storage", UserID: "u-1", Key: "users/u-1//a.jpg"},
			ve("key", "must not contain an empty segment (// or a trailing /)")},
		{"storage key bad utf-8", tasks.PhotoDeletePayload{System: "storage", UserID: "u-1", Key: "users/u-1/\xff"},
			ve("key", "not valid UTF-8")},
		{"storage key too long", tasks.PhotoDeletePayload{System: "storage", UserID: "u-1", Key: "users/u-1/" + strings.Repeat("a", 1015)},
			ve("key", "too long (1025 bytes, max 1024)")},
		{"storage bad user_id reported once", tasks.PhotoDeletePayload{System: "storage", UserID: "u/1", Key: "users/u/1/a.jpg"},
			ve("user_id", `invalid character '/' at byte 1`+allowed)},
		{"storage photo_id set", tasks.PhotoDeletePayload{System: "storage", UserID: "u-1", PhotoID: "1", Key: "users/u-1/a"},
			ve("photo_id", "must be empty for system storage")},

		{"every problem at once", tasks.PhotoDeletePayload{System: "artifi-v4", UserID: "", RecordID: "1", Key: "k"},
			ve("user_id", "required",
				"photo_id", "required",
				"record_id", "must be empty for system artifi-v4",
				"key", "must be empty for system artifi-v4")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if diff := cmp.Diff(tt.want, problems(tt.p.Validate())); diff != "" {
				t.Errorf("Validate() problems (-want, +got):\n%s", diff)
			}
			// The constructor must refuse exactly what Validate refuses.
			task, err := tasks.NewPhotoDeleteTask(tt.p)
			if (err != nil) != (tt.want != nil) || (task == nil) == (tt.want == nil) {
				t.Errorf("NewPhotoDeleteTask() = %v, %v; want an error: %v", task, err, tt.want != nil)
			}
		})
	}
}

var photoIDPattern = regexp.MustCompile(`^photo:delete:[0-9a-f]{32}$`)

func TestPhotoDeleteTaskID(t *testing.T) {
	t.Parallel()
	base := tasks.PhotoDeletePayload{System: "artifi-v4", UserID: "u-1", PhotoID: "7", RequestID: "r-1"}
	if id := base.TaskID(); !photoIDPattern.MatchString(id) {
		t.Fatalf("TaskID() = %q, want it to match %s", id, photoIDPattern)
	}
	same := base
	if diff := cmp.Diff(base.TaskID(), same.TaskID()); diff != "" {
		t.Errorf("equal payloads, different ids (-want, +got):\n%s", diff)
	}
	// Every field is part of the request, so changing any one is a new task.
	changes := map[string]func(*tasks.PhotoDeletePayload){
		"system":     func(p *tasks.PhotoDeletePayload) { p.System = "artifi-v3" },
		"user_id":    func(p *tasks.PhotoDeletePayload) { p.UserID = "u-2" },
		"request_id": func(p *tasks.PhotoDeletePayload) { p.RequestID = "r-2" },
		"no request_id": func(p *tasks.PhotoDeletePayload) {
			p.RequestID = ""
		},
		"photo_id":  func(p *tasks.PhotoDeletePayload) { p.PhotoID = "8" },
		"module":    func(p *tasks.PhotoDeletePayload) { p.Module = "x" },
		"record_id": func(p *tasks.PhotoDeletePayload) { p.RecordID = "x" },
		"user":      func(p *tasks.PhotoDeletePayload) { p.User = "x" },
		"key":       func(p *tasks.PhotoDeletePayload) { p.Key = "x" },
		// A field boundary moved must not hash alike.
		"boundary": func(p *tasks.PhotoDeletePayload) { p.UserID, p.RequestID = "u-1r-1", "" },
	}
	seen := map[string]string{base.TaskID(): "base"}
	for name, change := range changes {
		p := base
		change(&p)
		id := p.TaskID()
		if other, ok := seen[id]; ok {
			t.Errorf("changing %s gives the id of %s: %s", name, other, id)
		}
		seen[id] = name
	}
}
