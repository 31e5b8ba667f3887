package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"golang.org/x/sync/errgroup"

	"github.com/lifecycle-worker/lifecycle/handlers"
	"github.com/lifecycle-worker/lifecycle/internal/api"
	"github.com/lifecycle-worker/lifecycle/internal/apitoken"
	"github.com/lifecycle-worker/lifecycle/internal/audit"
	"github.com/lifecycle-worker/lifecycle/internal/config"
	"github.com/lifecycle-worker/lifecycle/internal/erasure"
	"github.com/lifecycle-worker/lifecycle/internal/metrics"
	"github.com/lifecycle-worker/lifecycle/internal/storage"
	"github.com/lifecycle-worker/lifecycle/scheduler"
	"github.com/lifecycle-worker/lifecycle/tasks"
)

// startupTimeout bounds each check a process makes before it starts work, so
// that a wrong address fails fast with its name rather than hanging.
const startupTimeout = 5 * time.Second

// httpShutdownTimeout is how long in-flight HTTP requests (a metrics scrape)
// may take once the process is stopping.
const httpShutdownTimeout = 5 * time.Second

// connectRedis returns a client for our own keys and checks that Redis
// answers, naming the setting to fix when it does not.
func connectRedis(ctx context.Context, cfg *config.Config) (redis.UniversalClient, error) {
	if err := cfg.RequireRedis(); err != nil {
		return nil, err
	}
	rdb, ok := cfg.Redis.MakeRedisClient().(redis.UniversalClient)
	if !ok {
		return nil, fmt.Errorf("unexpected redis client type %T", cfg.Redis.MakeRedisClient())
	}
	ctx, cancel := context.WithTimeout(ctx, startupTimeout)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		rdb.Close()
		return nil, &redisDownError{fmt.Sprintf("LIFECYCLE_REDIS_URL: Redis is not answering at %s (is it running? lifecycle dev prints its URL): %v", cfg.RedisDisplay(), err)}
	}
	return rdb, nil
}

// base is what every serving role opens first, each step failing fast with
// the setting to fix: Redis, the HTTP listener, then the queue inspector and
// the metrics registry that read through it.
type base struct {
	rdb       redis.UniversalClient
	ln        net.Listener
	inspector *asynq.Inspector
	reg       *metrics.Registry
	running   *handlers.Running // task handlers in flight
	// stopping is closed when the worker begins to shut down, before asynq
	// is told to: handlers that can pause at a checkpoint (erasure slices)
	// then start no new call.
	stopping chan struct{}
	// store is the object store the worker's handlers opened (newMux), for
	// the API to share: opening it again would read the bucket's
	// configuration twice. Nil in a process without handlers.
	store storage.Store
}

func openBase(ctx context.Context, cfg *config.Config) (*base, error) {
	rdb, err := connectRedis(ctx, cfg)
	if err != nil {
		return nil, err
	}
	ln, err := listen(cfg.HTTPAddr)
	if err != nil {
		rdb.Close()
		return nil, err
	}
	in := asynq.NewInspector(cfg.Redis)
	return &base{rdb: rdb, ln: ln, inspector: in, reg: metrics.New(in), running: &handlers.Running{}, stopping: make(chan struct{})}, nil
}

func (b *base) Close() {
	b.inspector.Close()
	b.rdb.Close()
}

// serveHTTP serves the API on the base's listener until ctx ends.
func (b *base) serveHTTP(ctx context.Context, cfg *config.Config, log zerolog.Logger) error {
	h, err := apiHandler(ctx, b, cfg, log)
	if err != nil {
		return err
	}
	return serveHTTP(ctx, b.ln, h, log)
}

// runParts runs the parts of a process until ctx ends or any part returns,
// then stops them all, waits for them and returns the first error.
//
// A part returning nil stops the others too (errgroup alone would only stop
// them on an error): a worker whose HTTP server has stopped, or whose asynq
// server has, is no longer a worker that can be watched and must exit.
func runParts(ctx context.Context, parts ...func(ctx context.Context) error) error {
	g, ctx := errgroup.WithContext(ctx)
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	for _, part := range parts {
		g.Go(func() error {
			defer stop()
			return part(ctx)
		})
	}
	return g.Wait()
}

// listen binds addr before anything starts, so that a taken port is a start
// error, and so that ":0" can be resolved and printed.
func listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, &usageError{fmt.Sprintf("LIFECYCLE_HTTP_ADDR: cannot listen on %s: %v", addr, err)}
	}
	return ln, nil
}

func serveHTTP(ctx context.Context, ln net.Listener, h http.Handler, log zerolog.Logger) error {
	srv := newHTTPServer(h)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), httpShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn().Err(err).Msg("http server did not stop cleanly")
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// newHTTPServer bounds what a client can hold: a request's headers must
// arrive within ReadHeaderTimeout and fit in MaxHeaderBytes, its body within
// ReadTimeout, and a keep-alive connection left idle is closed after
// IdleTimeout. Our answers are small and our clients (probes, scrapers, the
// privacy team's tools) are quick.
func newHTTPServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
	}
}

func apiHandler(ctx context.Context, b *base, cfg *config.Config, log zerolog.Logger) (http.Handler, error) {
	rdb, reg := b.rdb, b.reg
	erasures := newErasureService(rdb, cfg)
	reg.MustRegister(erasure.NewCollector(erasures.Store, log))
	tokens, err := apitoken.NewSet(cfg.APITokens...)
	if err != nil {
		return nil, &usageError{"LIFECYCLE_API_TOKENS_FILE: " + err.Error()}
	}
	rec := &audit.Recorder{Redis: rdb}
	p := api.Params{
		Redis:    api.PingFunc(func(ctx context.Context) error { return rdb.Ping(ctx).Err() }),
		Gatherer: reg,
		Log:      log,
		Erasures: erasures,
		Tasks:    api.NewTaskQueue(newTaskClient(rdb), asynq.NewInspectorFromRedisClient(rdb)),
		Token:    cfg.APIToken.Value(),
		Tokens:   tokens,
		Audit:    rec,
		Console: &api.Console{
			Sessions: rdb,
			Queues:   asynq.NewInspectorFromRedisClient(rdb),
			Monitor:  newMonitor(rdb),
		},
	}
	if cfg.Storage != "" {
		store := b.store
		if store == nil {
			if store, err = openStore(ctx, cfg, log, nil); err != nil {
				return nil, err
			}
		}
		rec.Store = store
		if bc, ok := storage.Describe(store); ok {
			p.Bucket = &bc
			reg.SetBucket(bc.Bucket, bc.Versioning, bc.ObjectLock, bc.LockMode)
		}
		// Without Artifi: the console lists and restores sweeps, it does
		// not run them.
		if p.Console.Sweeps, err = newSweeper(cfg, rdb, store, nil, log); err != nil {
			return nil, err
		}
		p.Receipts = func(ctx context.Context, id string) ([]byte, error) {
			doc, err := getReceipt(ctx, store, id)
			if err != nil && !errors.Is(err, context.Canceled) {
				if _, gerr := erasures.Get(ctx, id); errors.Is(gerr, erasure.ErrNotFound) {
					return nil, gerr
				}
				if errors.Is(err, errNoReceipt) {
					return nil, api.ErrNoReceipt
				}
			}
			return doc, err
		}
	}
	h := api.New(p)
	// A server span for each /v1 request, in the caller's trace when it
	// sends a traceparent; health checks and scrapes are not traced.
	return otelhttp.NewHandler(h, "api",
		otelhttp.WithFilter(func(r *http.Request) bool { return strings.HasPrefix(r.URL.Path, "/v1/") }),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return "HTTP " + r.Method + " /v1" })), nil
}

// workerParams is what a worker needs besides its configuration.
type workerParams struct {
	cfg     *config.Config
	log     zerolog.Logger
	mux     *asynq.ServeMux
	running *handlers.Running // the mux's handlers in flight
	base    *base             // its inspector and metrics watch unserved queues
}

// shutdownReserve is the part of the shutdown timeout kept for asynq's own
// bookkeeping and for the handed-back tasks' outcome lines
// (interruptedLogWait), so that the process as a whole exits within the
// configured timeout rather than a second or two after it. asynq starts the
// handlers' grace only once its fetch loop notices the shutdown, which sleeps
// up to 1 s between polls, and needs a few hundred ms after the grace to hand
// tasks back: measured 2.6-3.4 s in all for a 2 s grace on 2 busy cores.
const shutdownReserve = 2500 * time.Millisecond

// interruptedLogWait bounds the wait, after asynq has handed unfinished
// tasks back and cancelled their handlers, for those handlers to return and
// log their "interrupted" outcome.
const interruptedLogWait = 300 * time.Millisecond

// handlerGrace is how long running handlers may finish once shutdown starts.
func handlerGrace(timeout time.Duration) time.Duration {
	return max(timeout-shutdownReserve, timeout/4)
}

// runAsynq runs the asynq server until ctx ends. On shutdown asynq stops
// fetching, lets running tasks finish within ShutdownTimeout, and hands the
// rest back to their queues.
func runAsynq(ctx context.Context, p workerParams) error {
	queues := p.cfg.Queues
	if len(queues) == 0 {
		queues = tasks.QueueWeights()
	}
	srv := handlers.NewServer(handlers.ServerParams{
		Redis:             p.cfg.Redis,
		Concurrency:       p.cfg.Concurrency,
		Queues:            queues,
		ShutdownTimeout:   handlerGrace(p.cfg.ShutdownTimeout),
		Log:               p.log,
		TaskCheckInterval: p.cfg.TaskCheckInterval,
	})
	if err := srv.Start(p.mux); err != nil {
		return fmt.Errorf("worker: %w", err)
	}
	p.log.Info().Int("concurrency", p.cfg.Concurrency).Interface("queues", queues).Msg("worker started")
	unserved := make(chan struct{})
	go func() {
		defer close(unserved)
		handlers.NewUnserved(handlers.UnservedParams{Inspector: p.base.inspector, Served: slices.Collect(maps.Keys(queues)),
			Gauge: p.base.reg.UnservedTasks, Log: p.log}).Run(ctx)
	}()
	<-ctx.Done()
	close(p.base.stopping)
	<-unserved
	p.log.Info().Dur("timeout", p.cfg.ShutdownTimeout).Msg("worker stopping: running tasks may finish, the rest go back to their queues")
	srv.Shutdown()
	if !p.running.Wait(interruptedLogWait) {
		p.log.Warn().Msg("a handler ignored its cancelled context; its outcome is not logged")
	}
	p.log.Info().Msg("worker stopped")
	return nil
}

func newScheduler(cfg *config.Config, client *asynq.Client, log zerolog.Logger) (*scheduler.Scheduler, error) {
	s, err := scheduler.New(scheduler.Params{
		Client:  client,
		Builtin: scheduler.Builtin(),
		File:    cfg.ScheduleFile,
		Log:     log.With().Str("component", "scheduler").Logger(),
	})
	if err != nil {
		return nil, &usageError{"LIFECYCLE_SCHEDULE_FILE: " + err.Error()}
	}
	return s, nil
}
