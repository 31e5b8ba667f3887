package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/lifecycle-worker/lifecycle/internal/config"
	"github.com/lifecycle-worker/lifecycle/internal/sim"
)

// TestDevEnv: dev.env gives the CLI the embedded Redis, the store and the
// simulators of the systems dev simulates; nothing of a system the user
// configured (its real key stays where the user put it).
func TestDevEnv(t *testing.T) {
	dir := t.TempDir()
	cfg := &config.Config{RedisURL: "redis://127.0.0.1:6390", Storage: "file://" + filepath.Join(dir, "storage")}
	set := &sim.Set{ArtifiURL: "http://127.0.0.1:1", BiginURL: "http://127.0.0.1:2", BPMURL: "http://127.0.0.1:3",
		Credentials: sim.Credentials{ArtifiClientKey: "sim key", BiginClientID: "id", BPMUsername: "bpm"}}
	path, err := writeDevEnv(cfg, true, filepath.Join(dir, "receipt-signing.pem"), set,
		map[string]bool{"LIFECYCLE_ARTIFI_": false, "LIFECYCLE_BIGIN_": true, "LIFECYCLE_BPM_": true})
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for l := range strings.Lines(string(b)) {
		if name, _, ok := strings.Cut(strings.TrimPrefix(l, "export "), "="); ok {
			got = append(got, name)
		}
	}
	want := []string{"LIFECYCLE_REDIS_URL", "LIFECYCLE_STORAGE", "LIFECYCLE_RECEIPT_SIGNING_KEY_FILE",
		"LIFECYCLE_BIGIN_ACCOUNTS_URL", "LIFECYCLE_BIGIN_API_DOMAIN", "LIFECYCLE_BIGIN_CLIENT_ID", "LIFECYCLE_BIGIN_CLIENT_SECRET", "LIFECYCLE_BIGIN_REFRESH_TOKEN",
		"LIFECYCLE_BPM_URL", "LIFECYCLE_BPM_USERNAME", "LIFECYCLE_BPM_PASSWORD"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("dev.env exports (-want +got):\n%s", diff)
	}
	if !strings.Contains(string(b), "export LIFECYCLE_STORAGE=file://"+filepath.Join(dir, "storage")+"\n") {
		t.Errorf("dev.env lacks the store's absolute URL:\n%s", b)
	}
}
