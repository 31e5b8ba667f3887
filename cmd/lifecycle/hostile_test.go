package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/lifecycle-worker/lifecycle/internal/erasure"
	"github.com/lifecycle-worker/lifecycle/internal/testutil"
)

// TestCLIRefusesHostileInput: sweep ids and ids on the command line follow
// the id grammar, an extension's reason is printable and bounded, and a
// finished request is not extended (issue 13, finding 9). Each refusal is
// exit status 2 naming what to fix, and changes nothing in Redis.
func TestCLIRefusesHostileInput(t *testing.T) {
	ctx := context.Background()
	mr, rdb := testutil.Redis(t)
	dir := t.TempDir()
	env := map[string]string{"LIFECYCLE_REDIS_URL": "redis://" + mr.Addr(), "LIFECYCLE_STORAGE": "file://" + dir}
	store := erasure.NewStore(rdb)
	filed := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	for _, id := range []string{"gdpr-open", "gdpr-done"} {
		if _, err := store.Create(ctx, erasure.Request{ID: id, UserID: "u-" + id, FiledBy: "dpo-1", FiledAt: filed}); err != nil {
			t.Fatal(err)
		}
	}
	if err := store.SetState(ctx, "gdpr-done", erasure.State{Status: erasure.StatusDone}); err != nil {
		t.Fatal(err)
	}
	before := mr.Dump()

	tests := []struct {
		name string
		args []string
		want string // in stderr
	}{
		{"sweep id with a slash", []string{"sweep", "run", "--id", "a/b", "--dry-run"}, "--id"},
		{"sweep id dot-dot", []string{"sweep", "run", "--id", ".."}, "--id"},
		{"sweep id with a colon", []string{"sweep", "show", "a:b"}, "SWEEP_ID"},
		{"restore a path", []string{"sweep", "restore", "../x"}, "SWEEP_ID"},
		{"reason with escape codes", []string{"erasure", "extend", "gdpr-open", "--reason", "ok\x1b[2J\x1b[31mred"}, "--reason"},
		{"reason of 120 kB", []string{"erasure", "extend", "gdpr-open", "--reason", strings.Repeat("x", 120<<10)}, "--reason"},
		{"reason with a newline", []string{"erasure", "extend", "gdpr-open", "--reason", "a\nb"}, "--reason"},
		{"finished request", []string{"erasure", "extend", "gdpr-done", "--reason", "late"}, "done"},
		{"request id with a colon", []string{"erasure", "status", "X:plan"}, "REQUEST_ID"},
		{"request id with a colon, extend", []string{"erasure", "extend", "X:steps", "--reason", "r"}, "REQUEST_ID"},
		{"future filing", []string{"erasure", "file", "--request-id", "gdpr-f", "--user-id", "u-f", "--filed-by", "dpo-1", "--filed-at", "9999-12-15T00:00:00Z"}, "filed_at"},
	}
	for _, tt := range tests {
		code, _, errOut := run(t, env, tt.args...)
		if code != exitUsage || !strings.Contains(errOut, tt.want) {
			t.Errorf("%s: exit %d, stderr %.200q; want 2 naming %s", tt.name, code, errOut, tt.want)
		}
		if strings.Contains(errOut, "\x1b") {
			t.Errorf("%s: stderr echoes an escape code", tt.name)
		}
	}
	if after := mr.Dump(); after != before {
		t.Errorf("Redis changed:\nbefore %s\nafter %s", before, after)
	}
}

// TestFarFutureRecordStaysListed: a request stored with a far-future filing
// date before dates were bounded does not make `erasure list --json` fail
// for everyone (issue 13, finding 1).
func TestFarFutureRecordStaysListed(t *testing.T) {
	mr, rdb := testutil.Redis(t)
	env := map[string]string{"LIFECYCLE_REDIS_URL": "redis://" + mr.Addr()}
	if _, err := erasure.NewStore(rdb).Create(context.Background(), erasure.Request{ID: "gdpr-far", UserID: "u-far", FiledBy: "dpo-1",
		FiledAt: time.Date(9999, 12, 15, 0, 0, 0, 0, time.UTC)}); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"erasure", "list", "--json"}, {"erasure", "list"}, {"erasure", "status", "gdpr-far", "--json"}} {
		code, out, errOut := run(t, env, args...)
		if code != exitOK || !strings.Contains(out, "gdpr-far") {
			t.Errorf("%v: exit %d, %q, stderr %q; want the record listed", args, code, out, errOut)
		}
	}
}
