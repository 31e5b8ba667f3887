package main

import (
	"context"
	"fmt"

	"github.com/alicebob/miniredis/v2"
	"github.com/hibiken/asynq"

	"github.com/lifecycle-worker/lifecycle/internal/config"
	"github.com/lifecycle-worker/lifecycle/internal/metrics"
	"github.com/lifecycle-worker/lifecycle/internal/upstream/simulate"
)

// runDev is `make run`: the whole service in one process with nothing to set
// up. Redis is embedded (miniredis: nothing persists, fine for trying things
// out, not for production) unless --redis-url points at a real one.
func runDev(ctx context.Context, e env, args []string) error {
	cfg, log, err := parse(e, "dev", config.GroupRedis|config.GroupHTTP|config.GroupWorker|config.GroupStorage|config.GroupUpstream|config.GroupSchedule|config.GroupErasure, args)
	if err != nil {
		return err
	}
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
		set, err := simulate.Start(ctx, simulate.Options{})
		if err != nil {
			return fmt.Errorf("simulators: %w", err)
		}
		defer set.Close()
		useSimulators(cfg, set)
		demo = fmt.Sprintf("artifi users %v, guest %s (see lifecycle simulate)", set.Demo.ArtifiUsers, set.Demo.ArtifiGuest)
	}
	rdb, err := connectRedis(ctx, cfg)
	if err != nil {
		return err
	}
	defer rdb.Close()
	ln, err := listen(cfg.HTTPAddr)
	if err != nil {
		return err
	}
	inspector := asynq.NewInspector(cfg.Redis)
	defer inspector.Close()
	reg := metrics.New(inspector)
	mux, err := newMux(ctx, cfg, log, reg, rdb, inspector)
	if err != nil {
		return err
	}
	client := asynq.NewClient(cfg.Redis)
	defer client.Close()
	sched, err := newScheduler(cfg, client, log)
	if err != nil {
		return err
	}

	g, ctx := newGroup(ctx)
	g.Go(func() error { return serveHTTP(ctx, ln, apiHandler(rdb, reg, log), log) })
	g.Go(func() error { return runAsynq(ctx, workerParams{cfg: cfg, log: log, metrics: reg, mux: mux}) })
	g.Go(func() error { return sched.Run(ctx) })

	http := "http://" + ln.Addr().String()
	fmt.Fprintf(e.stdout, "lifecycle dev is running (Ctrl-C to stop)\n")
	fmt.Fprintf(e.stdout, "  redis     %s\n", redisWhere)
	fmt.Fprintf(e.stdout, "  storage   %s\n", cfg.Storage)
	fmt.Fprintf(e.stdout, "  health    %s/healthz\n", http)
	fmt.Fprintf(e.stdout, "  ready     %s/readyz\n", http)
	fmt.Fprintf(e.stdout, "  metrics   %s/metrics\n", http)
	fmt.Fprintf(e.stdout, "  artifi    %s\n  bigin     %s\n  bpm       %s\n", cfg.Artifi.URL, cfg.Bigin.APIDomain, cfg.BPM.URL)
	fmt.Fprintf(e.stdout, "  demo data %s\n", demo)
	err = g.Wait()
	fmt.Fprintf(e.stdout, "lifecycle dev stopped\n")
	return err
}
