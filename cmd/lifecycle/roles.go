package main

import (
	"context"
	"encoding/json"

	"github.com/hibiken/asynq"
	"github.com/rs/zerolog"

	"github.com/lifecycle-worker/lifecycle/internal/config"
	"github.com/lifecycle-worker/lifecycle/scheduler"
	"github.com/lifecycle-worker/lifecycle/tasks"
)

// builtinSchedule is the periodic work every installation runs; a schedule
// file adds to it.
func builtinSchedule() []scheduler.Entry {
	return []scheduler.Entry{
		// Every minute: a dead letter is copied to storage, logged and
		// counted within a minute of dead-lettering, long before asynq's
		// 10,000-per-queue or 90-day trimming could lose it.
		{Name: "dead-letter-archiver", Cron: "* * * * *", Type: tasks.TypeDeadLetterArchive, Queue: tasks.QueueSweep, Retention: "1h"},
		// Daily, at a quiet hour and off the full hour that other jobs
		// crowd: orphaned assets are found and quarantined (restorable for
		// the restore window). Retention over a day, so a scheduler that was
		// down for a while cannot fire a slot that already ran.
		// Timeout and retries as assets:sweep's contract (tasks/assets_sweep.go):
		// a sweep runs for hours and resumes from its checkpoint.
		{Name: "assets-sweep", Cron: "17 3 * * *", Type: tasks.TypeAssetsSweep, Queue: tasks.QueueSweep,
			Payload: json.RawMessage(`{"mode":"quarantine"}`), Retention: "48h", Timeout: "6h", MaxRetry: &sweepRetries},
		// Daily, after the sweep: quarantines past the restore window go.
		{Name: "assets-purge", Cron: "47 4 * * *", Type: tasks.TypeAssetsSweep, Queue: tasks.QueueSweep,
			Payload: json.RawMessage(`{"mode":"purge"}`), Retention: "48h", Timeout: "6h", MaxRetry: &sweepRetries},
	}
}

var sweepRetries = 5

func runWorker(ctx context.Context, cfg *config.Config, log zerolog.Logger) error {
	b, err := openBase(ctx, cfg)
	if err != nil {
		return err
	}
	defer b.Close()
	mux, err := newMux(ctx, cfg, log, b)
	if err != nil {
		return err
	}

	log.Info().Str("redis", cfg.RedisDisplay()).Str("http", b.ln.Addr().String()).Msg("lifecycle worker running")
	return runParts(ctx,
		func(ctx context.Context) error { return b.serveHTTP(ctx, cfg, log) },
		func(ctx context.Context) error {
			return runAsynq(ctx, workerParams{cfg: cfg, log: log, mux: mux, running: b.running})
		})
}

func runScheduler(ctx context.Context, cfg *config.Config, log zerolog.Logger) error {
	// Checked at start, so a wrong address is one line naming it, not a
	// log of failed enqueues.
	rdb, err := connectRedis(ctx, cfg)
	if err != nil {
		return err
	}
	rdb.Close()
	client := asynq.NewClient(cfg.Redis)
	defer client.Close()
	s, err := newScheduler(cfg, client, log)
	if err != nil {
		return err
	}
	return s.Run(ctx)
}

func runAPI(ctx context.Context, cfg *config.Config, log zerolog.Logger) error {
	b, err := openBase(ctx, cfg)
	if err != nil {
		return err
	}
	defer b.Close()
	log.Info().Str("http", b.ln.Addr().String()).Msg("lifecycle api listening")
	return b.serveHTTP(ctx, cfg, log)
}
