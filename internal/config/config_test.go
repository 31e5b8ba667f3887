package config

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/pflag"
)

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// parse is what a command does: register every group on its flag set, let
// the flag set parse args, then load; it returns the positional arguments.
func parse(args []string, env map[string]string) (*Config, []string, error) {
	fs := pflag.NewFlagSet("worker", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	flags := Register(fs, ^Group(0))
	if err := fs.Parse(args); err != nil {
		return nil, nil, err
	}
	c, err := flags.Load(envOf(env))
	return c, fs.Args(), err
}

func TestParseErrorsNameTheSource(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"bogus redis scheme from env", nil, map[string]string{"LIFECYCLE_REDIS_URL": "bogus://x"},
			`LIFECYCLE_REDIS_URL: unsupported scheme "bogus" (want redis://, rediss:// or redis-sentinel://)`},
		{"bogus redis scheme from flag", []string{"--redis-url", "http://x"}, nil,
			`--redis-url: unsupported scheme "http" (want redis://, rediss:// or redis-sentinel://)`},
		{"flag wins over env", []string{"--concurrency", "0"}, map[string]string{"LIFECYCLE_CONCURRENCY": "4"},
			`--concurrency: want a positive integer, got "0"`},
		{"http addr", nil, map[string]string{"LIFECYCLE_HTTP_ADDR": "8080"},
			`LIFECYCLE_HTTP_ADDR: want host:port, got "8080"`},
		{"storage scheme", nil, map[string]string{"LIFECYCLE_STORAGE": "ftp://x"},
			`LIFECYCLE_STORAGE: storage: bad store URL: unknown scheme "ftp"; want file or s3`},
		{"log level", nil, map[string]string{"LIFECYCLE_LOG_LEVEL": "loud"},
			`LIFECYCLE_LOG_LEVEL: unknown level "loud" (want debug, info, warn or error)`},
		{"queues", nil, map[string]string{"LIFECYCLE_QUEUES": "merge=6,default"},
			`LIFECYCLE_QUEUES: want name=weight with a positive weight, got "default"`},
		{"missing secret file", nil, map[string]string{"LIFECYCLE_BPM_PASSWORD_FILE": "/nonexistent/pw"},
			`LIFECYCLE_BPM_PASSWORD_FILE: cannot read secret file: no such file or directory`},
		{"storage timeout longer than a merge allows", nil, map[string]string{"LIFECYCLE_STORAGE_TIMEOUT": "20s"},
			`LIFECYCLE_STORAGE_TIMEOUT: want a positive duration under 15s (a request and its retry must fit in a merge's 30s timeout), got "20s"`},
		{"erasure approval", nil, map[string]string{"LIFECYCLE_ERASURE_APPROVAL": "yes"},
			`LIFECYCLE_ERASURE_APPROVAL: want required or none, got "yes"`},
		{"erasure of a merged id", nil, map[string]string{"LIFECYCLE_ERASURE_MERGED_ID": "done"},
			`LIFECYCLE_ERASURE_MERGED_ID: want needs_review or refuse, got "done"`},
		{"webhook without a secret", nil, map[string]string{"LIFECYCLE_WEBHOOK_URL": "http://127.0.0.1:9/hook"},
			`LIFECYCLE_WEBHOOK_URL: needs LIFECYCLE_WEBHOOK_SECRET: receivers must be able to check what they get`},
		{"tokens file line", nil, map[string]string{"LIFECYCLE_API_TOKENS_FILE": "testdata/tokens-bad"},
			`LIFECYCLE_API_TOKENS_FILE: line 2: scopes: unknown scope "root" (want merge, photo, erasure:file, erasure:approve, erasure:read, admin)`},
		{"task check interval", nil, map[string]string{"LIFECYCLE_TASK_CHECK_INTERVAL": "0s"},
			`LIFECYCLE_TASK_CHECK_INTERVAL: want a duration from 1ms to 1m such as 50ms, got "0s"`},
		{"password never echoed", nil, map[string]string{"LIFECYCLE_REDIS_URL": "redis://:hunter2@host:notaport"},
			`LIFECYCLE_REDIS_URL: not a URL: "(unparseable)"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := parse(tt.args, tt.env)
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v, want a *config.Error", err)
			}
			if diff := cmp.Diff(tt.want, err.Error()); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error leaks the password: %s", err)
			}
		})
	}
}

func TestParseValues(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "key")
	if err := os.WriteFile(keyFile, []byte("s3cr3t-from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, rest, err := parse(
		[]string{"--concurrency", "3", "extra"},
		map[string]string{
			"LIFECYCLE_CONCURRENCY":            "7", // the flag wins
			"LIFECYCLE_REDIS_URL":              "redis://:pw@127.0.0.1:6390/2",
			"LIFECYCLE_QUEUES":                 "merge=6,default=3",
			"LIFECYCLE_S3_SECRET_KEY_FILE":     keyFile,
			"LIFECYCLE_SHUTDOWN_TIMEOUT":       "3s",
			"LIFECYCLE_STORAGE_TIMEOUT":        "2s",
			"LIFECYCLE_ARTIFI_CLIENT_KEY":      "from-env",
			"LIFECYCLE_ARTIFI_CLIENT_KEY_FILE": keyFile, // the variable itself wins over its file
		})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]any{
		"concurrency": c.Concurrency, "queues": c.Queues, "s3 secret": c.S3SecretKey.Value(),
		"artifi key": c.Artifi.ClientKey.Value(), "shutdown": c.ShutdownTimeout, "rest": rest,
		"http": c.HTTPAddr, "redis shown": c.RedisDisplay(), "storage": c.Storage,
		"storage timeout": c.StorageTimeout, "task check interval": c.TaskCheckInterval,
	}
	want := map[string]any{
		"concurrency": 3, "queues": map[string]int{"merge": 6, "default": 3}, "s3 secret": "s3cr3t-from-file",
		"artifi key": "from-env", "shutdown": 3 * time.Second, "rest": []string{"extra"},
		"http": HTTPAddrDefault, "redis shown": "redis://redacted@127.0.0.1:6390/2", "storage": StorageDefault(),
		"storage timeout": 2 * time.Second, "task check interval": TaskCheckIntervalDefault,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestSecretsNeverPrint(t *testing.T) {
	c := Config{S3SecretKey: "topsecret", BPM: BPM{Password: "topsecret"}}
	for _, s := range []string{fmt.Sprint(c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c), fmt.Sprintf("%v", c.BPM.Password)} {
		if strings.Contains(s, "topsecret") {
			t.Errorf("secret printed: %s", s)
		}
	}
}

func TestHelpListsEveryFlagWithItsVariable(t *testing.T) {
	fs := pflag.NewFlagSet("worker", pflag.ContinueOnError)
	Register(fs, ^Group(0))
	out := fs.FlagUsages()
	for _, group := range settings {
		for _, s := range group {
			if !strings.Contains(out, "--"+s.flag+" ") || !strings.Contains(out, s.env) {
				t.Errorf("help lacks --%s / %s", s.flag, s.env)
			}
		}
	}
}

// TestVariables: the list a deployment check trusts holds each setting,
// secrets also by file, and nothing twice.
func TestVariables(t *testing.T) {
	got := Variables()
	for _, want := range []string{"LIFECYCLE_REDIS_URL", "LIFECYCLE_RECEIPT_KEY", "LIFECYCLE_RECEIPT_KEY_FILE", "LIFECYCLE_SHUTDOWN_TIMEOUT"} {
		if !slices.Contains(got, want) {
			t.Errorf("Variables() lacks %s", want)
		}
	}
	if slices.Contains(got, "LIFECYCLE_HTTP_ADDR_FILE") {
		t.Error("Variables() offers a _FILE form of a setting that is no secret")
	}
	if len(slices.Compact(slices.Clone(got))) != len(got) {
		t.Errorf("Variables() repeats a name: %v", got)
	}
}
