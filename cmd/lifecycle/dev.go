package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/alicebob/miniredis/v2"
	"github.com/hibiken/asynq"
	"github.com/rs/zerolog"

	"github.com/lifecycle-worker/lifecycle/internal/config"
	"github.com/lifecycle-worker/lifecycle/internal/sim"
	"github.com/lifecycle-worker/lifecycle/internal/storage"
)

// runDev is `make run`: the whole service in one process with nothing to set
// up. Redis is embedded (miniredis: nothing persists, fine for trying things
// out, not for production) unless --redis-url points at a real one.
func runDev(ctx context.Context, stdout io.Writer, cfg *config.Config, log zerolog.Logger) error {
	redisWhere := cfg.RedisDisplay()
	if cfg.Redis == nil {
		mr := miniredis.NewMiniRedis()
		// Without a clock, TTLs never count down: unique locks, leases and
		// server heartbeats would never expire.
		mr.ClockTTL(true)
		if err := mr.StartAddr("127.0.0.1:0"); err != nil {
			return fmt.Errorf("embedded redis: %w", err)
		}
		defer mr.Close()
		cfg.Redis = asynq.RedisClientOpt{Addr: mr.Addr()}
		redisWhere = "redis://" + mr.Addr() + " (embedded, in memory)"
	}
	// Systems left unconfigured are served by the simulators, so that every
	// kind of task has somewhere to go.
	demo := "none (every upstream is configured)"
	if !cfg.Artifi.Configured() || !cfg.Bigin.Configured() || !cfg.BPM.Configured() {
		set, err := sim.Start(ctx, sim.Options{})
		if err != nil {
			return fmt.Errorf("simulators: %w", err)
		}
		defer set.Close()
		useSimulators(cfg, set)
		demo = fmt.Sprintf("artifi users %v, guest %s (see lifecycle simulate)", set.Demo.ArtifiUsers, set.Demo.ArtifiGuest)
	}
	if cfg.ReceiptKey == "" {
		key, err := devReceiptKey(cfg.Storage)
		if err != nil {
			return err
		}
		cfg.ReceiptKey = key
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

	http := "http://" + b.ln.Addr().String()
	fmt.Fprintf(stdout, "lifecycle dev is running (Ctrl-C to stop)\n")
	fmt.Fprintf(stdout, "  redis     %s\n", redisWhere)
	fmt.Fprintf(stdout, "  storage   %s\n", cfg.Storage)
	fmt.Fprintf(stdout, "  health    %s/healthz\n", http)
	fmt.Fprintf(stdout, "  ready     %s/readyz\n", http)
	fmt.Fprintf(stdout, "  metrics   %s/metrics\n", http)
	fmt.Fprintf(stdout, "  artifi    %s\n  bigin     %s\n  bpm       %s\n", cfg.Artifi.URL, cfg.Bigin.APIDomain, cfg.BPM.URL)
	fmt.Fprintf(stdout, "  demo data %s\n", demo)
	err = runParts(ctx,
		func(ctx context.Context) error { return b.serveHTTP(ctx, cfg, log) },
		func(ctx context.Context) error {
			return runAsynq(ctx, workerParams{cfg: cfg, log: log, mux: mux, running: b.running, base: b})
		},
		sched.Run)
	fmt.Fprintf(stdout, "lifecycle dev stopped\n")
	return err
}

// devReceiptKey is the receipt key of `lifecycle dev` when none is set: kept
// beside the file store (.lifecycle/receipt.key by default) so that receipts
// written by one run still verify in the next. Production sets its own.
func devReceiptKey(storageURL string) (config.Secret, error) {
	loc, err := storage.ParseURL(storageURL)
	if err != nil || loc.Scheme != "file" {
		return "", &usageError{"LIFECYCLE_RECEIPT_KEY: required when the store is not a local directory"}
	}
	path := filepath.Join(filepath.Dir(loc.Path), "receipt.key")
	if b, err := os.ReadFile(path); err == nil && len(b) >= 32 {
		return config.Secret(b), nil
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return "", err
	}
	enc := []byte(hex.EncodeToString(key))
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", fmt.Errorf("receipt key: %w", err)
	}
	if err := os.WriteFile(path, enc, 0o600); err != nil {
		return "", fmt.Errorf("receipt key: %w", err)
	}
	return config.Secret(enc), nil
}
