package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/alicebob/miniredis/v2"
	"github.com/hibiken/asynq"
	"github.com/rs/zerolog"

	"github.com/lifecycle-worker/lifecycle/internal/config"
	"github.com/lifecycle-worker/lifecycle/internal/erasure"
	"github.com/lifecycle-worker/lifecycle/internal/sim"
	"github.com/lifecycle-worker/lifecycle/internal/storage"
)

// runDev is `make run`: the whole service in one process with nothing to set
// up. Redis is embedded (miniredis: nothing persists, fine for trying things
// out, not for production) unless --redis-url points at a real one.
func runDev(ctx context.Context, stdout io.Writer, cfg *config.Config, log zerolog.Logger) error {
	redisWhere := cfg.RedisDisplay()
	embedded := cfg.Redis == nil
	if embedded {
		mr := miniredis.NewMiniRedis()
		// Without a clock, TTLs never count down: unique locks, leases and
		// server heartbeats would never expire.
		mr.ClockTTL(true)
		if err := mr.StartAddr(cfg.DevRedisAddr); err != nil {
			return &usageError{fmt.Sprintf("LIFECYCLE_DEV_REDIS_ADDR: embedded Redis cannot listen on %s (another lifecycle dev? --dev-redis-addr 127.0.0.1:0 takes a free port): %v", cfg.DevRedisAddr, err)}
		}
		defer mr.Close()
		cfg.Redis = asynq.RedisClientOpt{Addr: mr.Addr()}
		cfg.RedisURL = "redis://" + mr.Addr()
		redisWhere = cfg.RedisURL + " (embedded, in memory)"
	}
	// Systems left unconfigured are served by the simulators, so that every
	// kind of task has somewhere to go.
	var set *sim.Set
	// The variables of the simulated systems, for dev.env.
	simulated := map[string]bool{
		"LIFECYCLE_ARTIFI_": !cfg.Artifi.Configured(), "LIFECYCLE_BIGIN_": !cfg.Bigin.Configured(), "LIFECYCLE_BPM_": !cfg.BPM.Configured(),
	}
	if !cfg.Artifi.Configured() || !cfg.Bigin.Configured() || !cfg.BPM.Configured() {
		var err error
		if set, err = sim.Start(ctx, sim.Options{}); err != nil {
			return fmt.Errorf("simulators: %w", err)
		}
		defer set.Close()
		useSimulators(cfg, set)
	}
	keyFile := ""
	if cfg.ReceiptSigningKey == "" {
		key, path, err := devSigningKey(cfg.Storage)
		if err != nil {
			return err
		}
		cfg.ReceiptSigningKey, keyFile = key, path
	}
	b, err := openBase(ctx, cfg)
	if err != nil {
		return err
	}
	defer b.Close()
	mux, err := newMux(ctx, cfg, log, b)
	if err != nil {
		return err
	}
	client := asynq.NewClient(cfg.Redis)
	defer client.Close()
	sched, err := newScheduler(cfg, client, log)
	if err != nil {
		return err
	}
	envFile, err := writeDevEnv(cfg, embedded, keyFile, set, simulated)
	if err != nil {
		return err
	}

	http := "http://" + b.ln.Addr().String()
	fmt.Fprintf(stdout, "lifecycle dev is running (Ctrl-C to stop)\n")
	fmt.Fprintf(stdout, "  redis     %s\n", redisWhere)
	fmt.Fprintf(stdout, "  storage   %s\n", cfg.Storage)
	fmt.Fprintf(stdout, "  health    %s/healthz\n", http)
	fmt.Fprintf(stdout, "  ready     %s/readyz\n", http)
	fmt.Fprintf(stdout, "  metrics   %s/metrics\n", http)
	fmt.Fprintf(stdout, "  console   %s/console/ (sign in with a token of LIFECYCLE_API_TOKENS_FILE)\n", http)
	fmt.Fprintf(stdout, "  monitor   %s/monitor/ (asynqmon, admin scope)\n", http)
	fmt.Fprintf(stdout, "  artifi    %s\n  bigin     %s\n  bpm       %s\n", cfg.Artifi.URL, cfg.Bigin.APIDomain, cfg.BPM.URL)
	if set != nil {
		fmt.Fprintf(stdout, "demo data in the simulators:\n")
		printDemo(stdout, set.Demo)
	}
	if envFile != "" {
		fmt.Fprintf(stdout, "the CLI (lifecycle enqueue, dlq, erasure, sweep, receipt) finds this dev, from any shell, with:\n")
		fmt.Fprintf(stdout, "  . %s\n", envFile)
	}
	if embedded {
		fmt.Fprintf(stdout, "or, for Redis alone:\n  export LIFECYCLE_REDIS_URL=%s\n", cfg.RedisURL)
	}
	err = runParts(ctx,
		func(ctx context.Context) error { return b.serveHTTP(ctx, cfg, log) },
		func(ctx context.Context) error {
			return runAsynq(ctx, workerParams{cfg: cfg, log: log, mux: mux, running: b.running, base: b})
		},
		sched.Run)
	fmt.Fprintf(stdout, "lifecycle dev stopped\n")
	return err
}

// devEnvFile is the file `lifecycle dev` writes beside its file store
// (.lifecycle/dev.env by default): the settings a CLI command needs to act
// on this dev, as export lines a shell can source.
const devEnvFile = "dev.env"

// writeDevEnv writes the dev's settings for the CLI: Redis when embedded
// (a URL given by --redis-url may hold a password), the store, the receipt
// signing key's file, and the simulators of the systems it simulates (variables
// under the prefixes simulated marks). Settings the user gave, secrets
// among them, are not copied: the CLI reads them where dev did. It returns
// the file's path, or "" when the store is not a local directory.
func writeDevEnv(cfg *config.Config, embedded bool, keyFile string, set *sim.Set, simulated map[string]bool) (string, error) {
	loc, err := storage.ParseURL(cfg.Storage)
	if err != nil || loc.Scheme != "file" {
		return "", nil
	}
	var buf strings.Builder
	buf.WriteString("# written by lifecycle dev at each start: the settings the CLI needs to act on it\n")
	export := func(k, v string) { fmt.Fprintf(&buf, "export %s=%s\n", k, shellQuote(v)) }
	if embedded {
		export("LIFECYCLE_REDIS_URL", cfg.RedisURL)
	}
	export("LIFECYCLE_STORAGE", "file://"+loc.Path)
	if keyFile != "" {
		export("LIFECYCLE_RECEIPT_SIGNING_KEY_FILE", keyFile)
	}
	if set != nil {
		for _, kv := range set.Env() {
			for prefix, sim := range simulated {
				if sim && strings.HasPrefix(kv[0], prefix) {
					export(kv[0], kv[1])
				}
			}
		}
	}
	path := filepath.Join(filepath.Dir(loc.Path), devEnvFile)
	if err := os.WriteFile(path, []byte(buf.String()), 0o600); err != nil {
		return "", fmt.Errorf("dev settings: %w", err)
	}
	return path, nil
}

// shellQuote quotes v for a POSIX shell when it needs it.
func shellQuote(v string) string {
	if v != "" && strings.Trim(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:@,=+") == "" {
		return v
	}
	return "'" + strings.ReplaceAll(v, "'", `'\''`) + "'"
}

// printDemo lists the simulators' demo data: what the README's examples
// (and anyone trying things out) can delete, merge and erase.
func printDemo(w io.Writer, d sim.Demo) {
	for _, u := range d.ArtifiUsers {
		fmt.Fprintf(w, "  artifi    user %s: photos %s, 2 designs\n", u, strings.Join(d.ArtifiPhotos[u], " "))
	}
	fmt.Fprintf(w, "  artifi    guest %s: 2 designs, 1 cart item (merge it into a user)\n", d.ArtifiGuest)
	for _, r := range d.BiginRecords {
		photo := "no photo"
		if r.Photo {
			photo = "photo"
		}
		fmt.Fprintf(w, "  bigin     %s:%s (%s)\n", r.Module, r.ID, photo)
	}
	for _, u := range d.BPMUsers {
		avatar := "default avatar"
		if u.Avatar {
			avatar = "custom avatar"
		}
		fmt.Fprintf(w, "  bpm       %s (id %d, %s)\n", u.Name, u.ID, avatar)
	}
}

// devSigningKey is the receipt signing key of `lifecycle dev` when none is
// set: an Ed25519 key kept beside the file store
// (.lifecycle/receipt-signing.pem by default) so that receipts written by
// one run still verify in the next. Production sets its own.
func devSigningKey(storageURL string) (config.Secret, string, error) {
	path, ok := devSigningKeyPath(storageURL)
	if !ok {
		return "", "", &usageError{"LIFECYCLE_RECEIPT_SIGNING_KEY: required when the store is not a local directory"}
	}
	if b, err := os.ReadFile(path); err == nil {
		if _, err := erasure.ParsePrivateKey(string(b)); err != nil {
			return "", "", &usageError{fmt.Sprintf("receipt signing key %s: %v (delete it to have a new one made)", path, err)}
		}
		return config.Secret(b), path, nil
	}
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", "", err
	}
	enc, err := erasure.MarshalPrivateKey(key)
	if err != nil {
		return "", "", err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", "", fmt.Errorf("receipt signing key: %w", err)
	}
	if err := os.WriteFile(path, enc, 0o600); err != nil {
		return "", "", fmt.Errorf("receipt signing key: %w", err)
	}
	return config.Secret(enc), path, nil
}

// devSigningKeyPath is where `lifecycle dev` keeps its receipt signing key
// for a file store; ok is false for any other store.
func devSigningKeyPath(storageURL string) (string, bool) {
	return besideStore(storageURL, "receipt-signing.pem")
}

// devReceiptKeyPath is where `lifecycle dev` kept the HMAC key of the
// receipts it wrote before Ed25519; ok is false for any other store.
func devReceiptKeyPath(storageURL string) (string, bool) {
	return besideStore(storageURL, "receipt.key")
}

// besideStore is the path of file name beside a file store
// (.lifecycle/name for dev's); ok is false for any other store.
func besideStore(storageURL, name string) (string, bool) {
	loc, err := storage.ParseURL(storageURL)
	if err != nil || loc.Scheme != "file" {
		return "", false
	}
	return filepath.Join(filepath.Dir(loc.Path), name), true
}
