package main

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/lifecycle-worker/lifecycle/internal/testutil"
)

// run is the program as a user runs it, with its output and exit status.
func run(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut strings.Builder
	code := Run(context.Background(), args, func(k string) string { return env[k] }, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestEnqueue(t *testing.T) {
	mr, _ := testutil.Redis(t)
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

// TestOperatorCommands runs the operators' commands against an empty Redis,
// with settings from flags, from variables, and flags after the id.
func TestOperatorCommands(t *testing.T) {
	mr, _ := testutil.Redis(t)
	env := map[string]string{"LIFECYCLE_REDIS_URL": "redis://" + mr.Addr(), "LIFECYCLE_STORAGE": "file://" + t.TempDir()}
	tests := []struct {
		args []string
		code int
		out  string
		err  string
	}{
		{[]string{"dlq", "list"}, exitOK, "no dead letters\n", ""},
		{[]string{"dlq", "list", "--json", "--type", "photo:delete"}, exitOK, "", ""},
		{[]string{"dlq", "show", "t-1", "--queue", "photo"}, exitFailure, "", "lifecycle dlq: no dead letter with id \"t-1\"\n"},
		{[]string{"dlq", "retry", "--all", "--queue", "photo"}, exitOK, "retrying 0 dead letters\n", ""},
		{[]string{"erasure", "list"}, exitOK, "REQUEST  USER  STATUS  STEPS  DUE  DAYS LEFT  AT RISK\n", ""},
		{[]string{"sweep", "list", "--log-level", "error"}, exitOK, "SWEEP ID  STATUS  STARTED  SCANNED  CANDIDATES  MOVED  PURGED  RESTORED  DURATION\n", ""},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, out, errOut := run(t, env, tt.args...)
			got := []any{code, out, errOut}
			if diff := cmp.Diff([]any{tt.code, tt.out, tt.err}, got); diff != "" {
				t.Errorf("exit, stdout, stderr (-want +got):\n%s", diff)
			}
		})
	}
	// The flag wins over the variable.
	bogus := map[string]string{"LIFECYCLE_REDIS_URL": "bogus://x"}
	if code, out, errOut := run(t, bogus, "dlq", "list", "--redis-url", "redis://"+mr.Addr()); code != exitOK || out != "no dead letters\n" {
		t.Errorf("dlq list --redis-url: exit %d, %q %q", code, out, errOut)
	}
}

// TestEveryCommandHasHelp walks the command tree, so that a command added
// later is covered too.
func TestEveryCommandHasHelp(t *testing.T) {
	root := newRoot(env{getenv: func(string) string { return "" }, stdout: io.Discard, stderr: io.Discard})
	root.InitDefaultHelpCmd()
	root.InitDefaultVersionFlag()
	var commands []*cobra.Command
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		commands = append(commands, c)
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	if len(commands) < 20 {
		t.Fatalf("found %d commands; is the tree walked?", len(commands))
	}
	for _, c := range commands {
		path := strings.Fields(c.CommandPath())[1:]
		t.Run(c.CommandPath(), func(t *testing.T) {
			code, out, errOut := run(t, nil, append(path, "--help")...)
			if code != exitOK || errOut != "" {
				t.Fatalf("exit %d, stderr %q; want 0 and nothing", code, errOut)
			}
			if !strings.Contains(out, "Usage:\n  "+c.CommandPath()) {
				t.Errorf("no usage line for %s:\n%s", c.CommandPath(), out)
			}
			names := []string{"help"}
			for _, fs := range []*pflag.FlagSet{c.Flags(), c.InheritedFlags()} {
				fs.VisitAll(func(f *pflag.Flag) { names = append(names, f.Name) })
			}
			for _, name := range names {
				if !strings.Contains(out, "--"+name+" ") && !strings.Contains(out, "--"+name+"\n") {
					t.Errorf("help lacks --%s:\n%s", name, out)
				}
			}
		})
	}
}

func TestVersion(t *testing.T) {
	want := "lifecycle " + versionString() + "\n"
	for _, args := range [][]string{{"--version"}, {"version"}} {
		code, out, errOut := run(t, nil, args...)
		if code != exitOK || errOut != "" {
			t.Errorf("lifecycle %v: exit %d, stderr %q", args, code, errOut)
		}
		if diff := cmp.Diff(want, out); diff != "" {
			t.Errorf("lifecycle %v (-want +got):\n%s", args, diff)
		}
	}
}

// TestBadCommandLine: whatever is wrong, the user sees one line naming the
// command typed first and what to fix, and exit status 2; --help is never
// an error.
func TestBadCommandLine(t *testing.T) {
	bogusRedis := map[string]string{"LIFECYCLE_REDIS_URL": "bogus://x"}
	tests := []struct {
		env  map[string]string
		args []string
		want string
	}{
		{nil, []string{"frobnicate"}, `lifecycle: unknown command "frobnicate" (see lifecycle --help)`},
		{nil, []string{"worker", "extra"}, `lifecycle worker: unexpected argument "extra"`},
		{nil, []string{"worker", "--concurrency", "0"}, `lifecycle worker: --concurrency: want a positive integer, got "0"`},
		{map[string]string{"LIFECYCLE_LOG_LEVEL": "loud"}, []string{"scheduler"}, `lifecycle scheduler: LIFECYCLE_LOG_LEVEL: unknown level "loud" (want debug, info, warn or error)`},
		{map[string]string{"LIFECYCLE_HTTP_ADDR": "8080"}, []string{"api"}, `lifecycle api: LIFECYCLE_HTTP_ADDR: want host:port, got "8080"`},
		{nil, []string{"dev", "--log-format", "xml"}, `lifecycle dev: --log-format: unknown format "xml" (want json or console)`},
		{bogusRedis, []string{"enqueue", "merge", "--guest-id", "g", "--user-id", "u"}, `lifecycle enqueue: LIFECYCLE_REDIS_URL: unsupported scheme "bogus" (want redis://, rediss:// or redis-sentinel://)`},
		{nil, []string{"enqueue", "merge", "--guest-id", "g", "--user-id", "u", "--redis-url", "http://x"}, `lifecycle enqueue: --redis-url: unsupported scheme "http" (want redis://, rediss:// or redis-sentinel://)`},
		{nil, []string{"dlq", "list"}, `lifecycle dlq: LIFECYCLE_REDIS_URL: required (or --redis-url)`},
		{bogusRedis, []string{"dlq", "show", "ID", "--queue", "Q"}, `lifecycle dlq: LIFECYCLE_REDIS_URL: unsupported scheme "bogus" (want redis://, rediss:// or redis-sentinel://)`},
		{nil, []string{"dlq", "frob"}, `lifecycle dlq: unknown dlq command "frob" (want list, show, retry or delete)`},
		{nil, []string{"dlq", "show"}, `lifecycle dlq: dlq show: task id required`},
		{nil, []string{"dlq", "retry", "ID", "--all"}, `lifecycle dlq: dlq retry: give a task id or --all, not both`},
		{nil, []string{"erasure"}, `lifecycle erasure: missing subcommand (file, status, list, extend, resolve)`},
		{bogusRedis, []string{"erasure", "status", "R", "--json"}, `lifecycle erasure: LIFECYCLE_REDIS_URL: unsupported scheme "bogus" (want redis://, rediss:// or redis-sentinel://)`},
		{nil, []string{"erasure", "extend", "R", "S"}, `lifecycle erasure: erasure extend: want one REQUEST_ID`},
		{nil, []string{"receipt", "frob"}, `lifecycle receipt: usage: lifecycle receipt verify FILE|REQUEST_ID [--public-key FILE|DIR], lifecycle receipt get REQUEST_ID, or lifecycle receipt public-key`},
		{nil, []string{"receipt", "verify"}, `lifecycle receipt: usage: lifecycle receipt verify FILE|REQUEST_ID [--public-key FILE|DIR]`},
		{nil, []string{"receipt", "verify", "r.json", "--public-key", "/nonexistent/k.pem"}, `lifecycle receipt: --public-key: stat /nonexistent/k.pem: no such file or directory`},
		{map[string]string{"LIFECYCLE_RECEIPT_SIGNING_KEY": "c2hvcnQ="}, []string{"receipt", "public-key"}, `lifecycle receipt: LIFECYCLE_RECEIPT_SIGNING_KEY: not a PKCS #8 private key (openssl genpkey -algorithm ed25519 makes one)`},
		{nil, []string{"receipt", "verify", "r.json", "--receipt-key", "short"}, `lifecycle receipt: --receipt-key: too short (5 bytes): use at least 16 random bytes`},
		{nil, []string{"sweep", "frob"}, `lifecycle sweep: sweep: unknown action "frob" (want list, show, restore, run or purge)`},
		{nil, []string{"sweep", "restore", "--prefix", "x"}, `lifecycle sweep: restore: SWEEP_ID required (see lifecycle sweep list)`},
		{nil, []string{"sweep", "show", "ID", "extra"}, `lifecycle sweep: unexpected argument "extra"`},
		{map[string]string{"LIFECYCLE_SWEEP_MAX_SHARE": "2"}, []string{"sweep", "run", "--id", "x", "--dry-run"}, `lifecycle sweep: LIFECYCLE_SWEEP_MAX_SHARE: want a share between 0 and 1 such as 0.1, got "2"`},
		{nil, []string{"worker", "--foo"}, `lifecycle worker: unknown flag: --foo`},
		{map[string]string{"LIFECYCLE_STORAGE": "file:///nonexistent/.lifecycle/storage"}, []string{"receipt", "get", "R-1"},
			`lifecycle receipt: LIFECYCLE_STORAGE: no store at file:///nonexistent/.lifecycle/storage (set LIFECYCLE_STORAGE or --storage, or run in lifecycle dev's directory)`},
		{map[string]string{"LIFECYCLE_STORAGE": "file:///nonexistent/.lifecycle/storage"}, []string{"sweep", "list"},
			`lifecycle sweep: LIFECYCLE_STORAGE: no store at file:///nonexistent/.lifecycle/storage (set LIFECYCLE_STORAGE or --storage, or run in lifecycle dev's directory)`},
		{nil, []string{"dev", "--dev-redis-addr", "6390"}, `lifecycle dev: --dev-redis-addr: want host:port: address 6390: missing port in address`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, _, stderr := run(t, tt.env, tt.args...)
			if code != exitUsage {
				t.Errorf("exit %d, want %d", code, exitUsage)
			}
			if diff := cmp.Diff(tt.want+"\n", stderr); diff != "" {
				t.Errorf("stderr (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRunParts(t *testing.T) {
	errBoom := errors.New("boom")
	untilStopped := func(ctx context.Context) error { <-ctx.Done(); return nil }
	failOnStop := func(ctx context.Context) error { <-ctx.Done(); return errBoom }
	tests := []struct {
		name  string
		parts []func(context.Context) error
		want  error
	}{
		{"a part that returns nil stops the others", []func(context.Context) error{
			untilStopped, func(context.Context) error { return nil }}, nil},
		{"the first error is returned", []func(context.Context) error{
			untilStopped, func(context.Context) error { return errBoom }}, errBoom},
		{"an error while stopping is not lost", []func(context.Context) error{
			failOnStop, func(context.Context) error { return nil }}, errBoom},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := runParts(context.Background(), tt.parts...); !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

// TestRedisDown: every command that needs Redis says, in one line and with
// exit status 3, that it does not answer.
func TestRedisDown(t *testing.T) {
	down := map[string]string{"LIFECYCLE_REDIS_URL": "redis://127.0.0.1:1"}
	for _, args := range [][]string{
		{"enqueue", "merge", "--guest-id", "guest-1", "--user-id", "u-1"},
		{"dlq", "list"},
		{"erasure", "list"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			code, _, stderr := run(t, down, args...)
			if code != exitRedis || !strings.Contains(stderr, "Redis is not answering at redis://127.0.0.1:1") || strings.Count(stderr, "\n") != 1 {
				t.Errorf("exit %d, stderr %q; want %d and one line saying Redis is not answering", code, stderr, exitRedis)
			}
		})
	}
}

// TestSimulateList prints the demo data that the README's examples use.
func TestSimulateList(t *testing.T) {
	code, out, _ := run(t, nil, "simulate", "--list")
	for _, want := range []string{"artifi    user 2001: photos 100001 100002 100003", "bigin     Contacts:2034020000000489033 (photo)", "bpm       tw_admin (id 9, custom avatar)"} {
		if code != exitOK || !strings.Contains(out, want) {
			t.Errorf("simulate --list: exit %d, output lacks %q:\n%s", code, want, out)
		}
	}
}
