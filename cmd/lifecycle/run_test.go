package main

import (
	"context"
	"strings"
	"testing"

	"github.com/alicebob/miniredis/v2"
)

// run is the program as a user runs it, with its output and exit status.
func run(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut strings.Builder
	code := Run(context.Background(), args, func(k string) string { return env[k] }, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestEnqueue(t *testing.T) {
	mr := miniredis.RunT(t)
	env := map[string]string{"LIFECYCLE_REDIS_URL": "redis://" + mr.Addr()}
	photo := []string{"enqueue", "photo-delete", "--system", "artifi-v4", "--user-id", "u-1", "--photo-id", "77", "--request-id", "r-1"}

	code, first, _ := run(t, env, photo...)
	if code != 0 || !strings.HasPrefix(first, "photo:delete:") || !strings.Contains(first, "queue=photo") {
		t.Fatalf("first enqueue: exit %d, %q", code, first)
	}
	code, second, _ := run(t, env, photo...)
	id := strings.Fields(first)[0]
	if code != 0 || !strings.HasPrefix(second, id) || !strings.Contains(second, "duplicate") {
		t.Errorf("same request again: exit %d, %q; want the same id %s, marked duplicate", code, second, id)
	}

	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"field named", env, []string{"enqueue", "photo-delete", "--system", "bigin", "--user-id", "u-1", "--module", "Deals", "--record-id", "12"},
			`module: unknown "Deals" (want Contacts, Accounts, Products)`},
		{"bad input before redis", nil, []string{"enqueue", "merge", "--guest-id", "g", "--user-id", "g"},
			"user_id: must differ from guest_id"},
		{"no redis", nil, []string{"enqueue", "merge", "--guest-id", "g", "--user-id", "u"},
			"LIFECYCLE_REDIS_URL: required"},
		{"unknown kind", env, []string{"enqueue", "erase-everything"}, `unknown kind "erase-everything"`},
		{"unknown command", env, []string{"frobnicate"}, `unknown command "frobnicate"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := run(t, tt.env, tt.args...)
			if code != exitUsage || !strings.Contains(stderr, tt.want) || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
				t.Errorf("exit %d, stderr %q; want %d and one line containing %q", code, stderr, exitUsage, tt.want)
			}
		})
	}
}

func TestEveryCommandHasHelp(t *testing.T) {
	for name := range commands {
		code, out, errOut := run(t, nil, name, "--help")
		if code != 0 || !strings.Contains(out, "Usage") {
			t.Errorf("lifecycle %s --help: exit %d, %q %q", name, code, out, errOut)
		}
	}
}
