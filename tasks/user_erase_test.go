package tasks_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lifecycle-worker/lifecycle/tasks"
)

func TestUserErasePayloadValidate(t *testing.T) {
	t.Parallel()
	filed := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
	ok := tasks.UserErasePayload{RequestID: "gdpr-1", UserID: "u-1", FiledBy: "dpo-1", FiledAt: filed}
	with := func(f func(p *tasks.UserErasePayload)) tasks.UserErasePayload {
		p := ok
		f(&p)
		return p
	}
	tests := []struct {
		name string
		p    tasks.UserErasePayload
		want []tasks.ValidationError
	}{
		{"ok", ok, nil},
		{"ok with every system", with(func(p *tasks.UserErasePayload) {
			p.Bigin = []tasks.BiginRecord{{Module: "Contacts", RecordID: "1"}, {Module: "Accounts", RecordID: "2"}}
			p.BPMUser = "Jane Doe"
		}), nil},
		{"empty", tasks.UserErasePayload{}, ve("request_id", "required", "user_id", "required", "filed_by", "required", "filed_at", "required")},
		{"bad bigin record", with(func(p *tasks.UserErasePayload) {
			p.Bigin = []tasks.BiginRecord{{Module: "Deals", RecordID: "1"}, {Module: "Contacts", RecordID: "x1"}}
		}), ve("bigin[0].module", `unknown "Deals" (want Contacts, Accounts, Products)`, "bigin[1].record_id", `must be a decimal number, got "x1"`)},
		{"duplicate bigin record", with(func(p *tasks.UserErasePayload) {
			p.Bigin = []tasks.BiginRecord{{Module: "Contacts", RecordID: "1"}, {Module: "Contacts", RecordID: "1"}}
		}), ve("bigin[1]", "duplicate record")},
		{"bpm user with a slash", with(func(p *tasks.UserErasePayload) { p.BPMUser = "a/b" }), ve("bpm_user", `invalid character '/' at byte 1`)},
		{"negative slice", with(func(p *tasks.UserErasePayload) { p.Slice = -1 }), ve("slice", "must not be negative")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if diff := cmp.Diff(tt.want, problems(tt.p.Validate())); diff != "" {
				t.Errorf("Validate() problems (-want, +got):\n%s", diff)
			}
		})
	}
}

func ExampleNewUserEraseTask() {
	t, err := tasks.NewUserEraseTask(tasks.UserErasePayload{
		RequestID: "gdpr-2026-0001",
		UserID:    "cust-1001",
		Bigin:     []tasks.BiginRecord{{Module: tasks.BiginContacts, RecordID: "5001"}},
		BPMUser:   "jane.doe",
		FiledBy:   "dpo-1",
		FiledAt:   time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC),
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(t.Type())
	fmt.Println(string(t.Payload()))
	// Output:
	// user:erase
	// {"request_id":"gdpr-2026-0001","user_id":"cust-1001","bigin":[{"module":"Contacts","record_id":"5001"}],"bpm_user":"jane.doe","filed_by":"dpo-1","filed_at":"2026-11-20T09:00:00Z"}
}
