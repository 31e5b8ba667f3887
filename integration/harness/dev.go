package harness

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/lifecycle-worker/lifecycle/internal/apitoken"
)

var devHealth = regexp.MustCompile(`health +(http://\S+)/healthz`)

// StartDev runs `lifecycle dev` on free ports, with env added, waits until
// its worker has started and it has printed its settings file, and returns
// it with the base URL of its HTTP API.
func StartDev(t testing.TB, env ...string) (*Process, string) {
	t.Helper()
	dev := StartProcess(t, append([]string{"LIFECYCLE_HTTP_ADDR=127.0.0.1:0", "LIFECYCLE_DEV_REDIS_ADDR=127.0.0.1:0"}, env...), "dev")
	deadline := time.Now().Add(30 * time.Second)
	for out := dev.Output(); !strings.Contains(out, "lifecycle dev is running") || !strings.Contains(out, `"worker started"`) || !strings.Contains(out, "dev.env"); out = dev.Output() {
		if time.Now().After(deadline) {
			t.Fatalf("lifecycle dev did not start within 30 s:\n%s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	m := devHealth.FindStringSubmatch(dev.Output())
	if m == nil {
		t.Fatalf("lifecycle dev does not print its health URL:\n%s", dev.Output())
	}
	return dev, m[1]
}

// TokensFile writes an API tokens file (LIFECYCLE_API_TOKENS_FILE) with one
// token per name and its scopes, and returns its path and each name's secret.
func TokensFile(t testing.TB, scopes map[string][]apitoken.Scope) (string, map[string]string) {
	t.Helper()
	secrets := make(map[string]string, len(scopes))
	var lines []string
	for name, sc := range scopes {
		tok, secret, err := apitoken.New(name, sc)
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, tok.Line())
		secrets[name] = secret
	}
	path := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, secrets
}
