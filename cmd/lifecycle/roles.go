package main

import (
	"context"

	"github.com/hibiken/asynq"
	"github.com/rs/zerolog"

	"github.com/lifecycle-worker/lifecycle/internal/config"
)

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
			return runAsynq(ctx, workerParams{cfg: cfg, log: log, mux: mux, running: b.running, base: b})
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
