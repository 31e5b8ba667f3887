package main

import (
	"context"

	"github.com/hibiken/asynq"

	"github.com/lifecycle-worker/lifecycle/internal/config"
)

func runWorker(ctx context.Context, e env, args []string) error {
	cfg, log, err := parse(e, "worker", config.GroupRedis|config.GroupHTTP|config.GroupWorker|config.GroupStorage|config.GroupUpstream|config.GroupSweep|config.GroupErasure, args)
	if err != nil {
		return err
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

	g, ctx := newGroup(ctx)
	g.Go(func() error { return b.serveHTTP(ctx, cfg, log) })
	g.Go(func() error { return runAsynq(ctx, workerParams{cfg: cfg, log: log, mux: mux, running: b.running}) })
	log.Info().Str("redis", cfg.RedisDisplay()).Str("http", b.ln.Addr().String()).Msg("lifecycle worker running")
	return g.Wait()
}

func runScheduler(ctx context.Context, e env, args []string) error {
	cfg, log, err := parse(e, "scheduler", config.GroupRedis|config.GroupSchedule, args)
	if err != nil {
		return err
	}
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

func runAPI(ctx context.Context, e env, args []string) error {
	cfg, log, err := parse(e, "api", config.GroupRedis|config.GroupHTTP, args)
	if err != nil {
		return err
	}
	b, err := openBase(ctx, cfg)
	if err != nil {
		return err
	}
	defer b.Close()
	log.Info().Str("http", b.ln.Addr().String()).Msg("lifecycle api listening")
	return b.serveHTTP(ctx, cfg, log)
}
