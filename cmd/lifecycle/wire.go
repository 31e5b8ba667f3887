package main

// The one place that builds lifecycle's services from its configuration:
// the worker's handlers, the API and the CLI commands all get theirs here,
// so each is built one way.

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"os"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel"

	"github.com/lifecycle-worker/lifecycle/handlers"
	"github.com/lifecycle-worker/lifecycle/internal/audit"

	"github.com/lifecycle-worker/lifecycle/internal/completion"
	"github.com/lifecycle-worker/lifecycle/internal/config"
	"github.com/lifecycle-worker/lifecycle/internal/deadletter"
	"github.com/lifecycle-worker/lifecycle/internal/erasure"
	"github.com/lifecycle-worker/lifecycle/internal/erasure/erasuretasks"
	"github.com/lifecycle-worker/lifecycle/internal/identity"
	"github.com/lifecycle-worker/lifecycle/internal/merge"
	"github.com/lifecycle-worker/lifecycle/internal/merge/mergetasks"
	"github.com/lifecycle-worker/lifecycle/internal/metrics"
	"github.com/lifecycle-worker/lifecycle/internal/photo"
	"github.com/lifecycle-worker/lifecycle/internal/semaphore"
	"github.com/lifecycle-worker/lifecycle/internal/storage"
	"github.com/lifecycle-worker/lifecycle/internal/sweep"
	"github.com/lifecycle-worker/lifecycle/internal/tracing"
	"github.com/lifecycle-worker/lifecycle/internal/upstream/artifi"
	"github.com/lifecycle-worker/lifecycle/internal/upstream/bigin"
	"github.com/lifecycle-worker/lifecycle/internal/upstream/ibmbpm"
	"github.com/lifecycle-worker/lifecycle/internal/userlock"
	"github.com/lifecycle-worker/lifecycle/internal/webhook"
	"github.com/lifecycle-worker/lifecycle/tasks"
)

// Every call the domain makes of each upstream. A field of upstreams holding
// one of these is nil when that system is not configured: being interfaces
// themselves, they stay nil when handed on as the domain's narrower ones.
type (
	artifiAPI interface {
		photo.Artifi
		merge.Artifi
		erasure.Artifi
		sweep.Photos
	}
	biginAPI interface {
		photo.Bigin
		erasure.Bigin
	}
	bpmAPI interface {
		photo.BPM
		erasure.BPM
	}
)

// upstreams are the clients of the configured upstream systems.
type upstreams struct {
	artifi artifiAPI
	bigin  biginAPI
	bpm    bpmAPI
}

// openUpstreams builds a client for each configured system. A system left
// unconfigured is logged; its work is dead-lettered with that reason.
func openUpstreams(cfg *config.Config, rdb redis.UniversalClient, log zerolog.Logger) (upstreams, error) {
	var u upstreams
	var missing []string
	if cfg.Artifi.Configured() {
		c, err := artifi.New(artifi.Config{
			BaseURL: cfg.Artifi.URL, WebsiteID: cfg.Artifi.WebsiteID, ClientKey: cfg.Artifi.ClientKey.Value(),
			Limiter: semaphore.New(rdb, "artifi", cfg.Artifi.Concurrency),
		})
		if err != nil {
			return u, &usageError{"LIFECYCLE_ARTIFI_*: " + err.Error()}
		}
		u.artifi = c
	} else {
		missing = append(missing, "artifi")
	}
	if cfg.Bigin.Configured() {
		c, err := bigin.New(bigin.Config{
			AccountsURL: cfg.Bigin.AccountsURL, APIDomain: cfg.Bigin.APIDomain, DataCenter: cfg.Bigin.DataCenter,
			ClientID: cfg.Bigin.ClientID, ClientSecret: cfg.Bigin.ClientSecret.Value(), RefreshToken: cfg.Bigin.RefreshToken.Value(),
			Limiter: semaphore.New(rdb, "bigin", cfg.Bigin.Concurrency), Redis: rdb, Logger: &log,
		})
		if err != nil {
			return u, &usageError{"LIFECYCLE_BIGIN_*: " + err.Error()}
		}
		u.bigin = c
	} else {
		missing = append(missing, "bigin")
	}
	if cfg.BPM.Configured() {
		c, err := ibmbpm.New(ibmbpm.Config{
			BaseURL: cfg.BPM.URL, Username: cfg.BPM.Username, Password: cfg.BPM.Password.Value(),
			Limiter: semaphore.New(rdb, "ibmbpm", cfg.BPM.Concurrency), Logger: &log,
		})
		if err != nil {
			return u, &usageError{"LIFECYCLE_BPM_*: " + err.Error()}
		}
		u.bpm = c
	} else {
		missing = append(missing, "ibmbpm")
	}
	if len(missing) > 0 {
		log.Warn().Strs("systems", missing).Msg("upstream systems not configured: their tasks will be dead-lettered with that reason")
	}
	return u, nil
}

// openStore opens and checks the object store: a wrong endpoint, bucket or
// key stops the process with its name instead of failing every task. A
// bucket that goes missing later is an alert: an error line for each call
// that finds it missing, and lifecycle_storage_bucket_missing_total when reg
// (the worker's) is not nil. So is a store that refuses calls for a cause a
// person must fix (denied access, a full disk or quota): those tasks are
// retried, not dead-lettered, and the line and
// lifecycle_storage_degraded_total{cause} say why they wait.
func openStore(ctx context.Context, cfg *config.Config, log zerolog.Logger, reg *metrics.Registry) (storage.Store, error) {
	store, err := storage.OpenWith(ctx, cfg.Storage, storage.Options{
		Credentials: storage.Credentials{AccessKey: cfg.S3AccessKey.Value(), SecretKey: cfg.S3SecretKey.Value()},
		Timeout:     cfg.StorageTimeout,
		MissingBucket: func(bucket string) {
			log.Error().Str("bucket", bucket).Msg("storage bucket missing: storage work fails, dead-lettered, until the bucket is restored")
			if reg != nil {
				reg.BucketMissing.WithLabelValues(bucket).Inc()
			}
		},
		Degraded: func(cause string) {
			log.Error().Str("cause", cause).
				Msg("storage refused a call (" + cause + "): the task is retried with backoff until this is fixed")
			if reg != nil {
				reg.StorageDegraded.WithLabelValues(cause).Inc()
			}
		},
	})
	if err != nil {
		return nil, &usageError{"LIFECYCLE_STORAGE: " + err.Error()}
	}
	return storage.Traced(store), nil
}

// openExistingStore is openStore for the CLI: a file store must already
// exist. Run from another directory, the default ./.lifecycle/storage is not
// the dev's store, and creating it would show an empty one.
func openExistingStore(ctx context.Context, cfg *config.Config) (storage.Store, error) {
	if loc, err := storage.ParseURL(cfg.Storage); err == nil && loc.Scheme == "file" {
		if fi, err := os.Stat(loc.Path); err != nil || !fi.IsDir() {
			return nil, &usageError{fmt.Sprintf("LIFECYCLE_STORAGE: no store at %s (set LIFECYCLE_STORAGE or --storage, or run in lifecycle dev's directory)", cfg.Storage)}
		}
	}
	// A missing bucket comes back to the command as an error naming it; the
	// alert log line is for long-running processes.
	return openStore(ctx, cfg, zerolog.Nop(), nil)
}

// newErasureQueue carries erasure slices as tasks on rdb.
func newErasureQueue(rdb redis.UniversalClient) *erasuretasks.Queue {
	return erasuretasks.NewQueue(newTaskClient(rdb), asynq.NewInspectorFromRedisClient(rdb))
}

// newTaskClient enqueues our tasks on rdb with the caller's trace context in
// their headers: the worker's attempt joins the trace of whoever enqueued.
func newTaskClient(rdb redis.UniversalClient) *tasks.Client {
	return tasks.WrapClient(asynq.NewClientFromRedisClient(rdb), tasks.WithHeaders(tracing.Inject))
}

// newErasureService is what the privacy team's tools use (API and CLI).
func newErasureService(rdb redis.UniversalClient, cfg *config.Config) *erasure.Service {
	return &erasure.Service{Store: erasure.NewStore(rdb), Queue: newErasureQueue(rdb),
		Approval: cfg.Privacy.ApprovalRequired, HistoryRetention: cfg.Privacy.HistoryRetention, Audit: true}
}

// withAuditCopy copies the audit entries that processes without storage
// (the CLI) recorded, each time the dead-letter archiver runs: the
// scheduler fires it every minute.
type withAuditCopy struct {
	handlers.DeadLetters
	audit *audit.Recorder
	log   zerolog.Logger
}

func (w withAuditCopy) Run(ctx context.Context) (deadletter.Report, error) {
	if n, err := w.audit.Copy(ctx); err != nil {
		w.log.Warn().Err(err).Int("copied", n).Msg("audit entries not copied to storage yet")
	}
	return w.DeadLetters.Run(ctx)
}

// newSweeper builds the sweeper of a worker or of `lifecycle sweep`.
func newSweeper(cfg *config.Config, rdb redis.UniversalClient, store storage.Store, artifi artifiAPI, log zerolog.Logger) (*sweep.Sweeper, error) {
	return sweep.New(sweep.Params{
		Store: store, Redis: rdb, Identity: identity.New(rdb), Merges: &merge.Merger{Redis: rdb}, Photos: artifi,
		Queue:       mergetasks.NewQueue(asynq.NewInspectorFromRedisClient(rdb)),
		Locks:       userlock.New(rdb, userlock.LeaseDefault),
		GuestPrefix: cfg.Sweep.GuestPrefix, GuestRetention: cfg.Sweep.GuestRetention, Grace: cfg.Sweep.Grace,
		RestoreWindow: cfg.Sweep.RestoreWindow, MaxShare: cfg.Sweep.MaxShare,
		Log: log.With().Str("component", "sweep").Logger(),
	})
}

// newMux opens what the handlers act on, builds their services, and
// registers them behind the outcome middleware.
func newMux(ctx context.Context, cfg *config.Config, log zerolog.Logger, b *base) (*asynq.ServeMux, error) {
	rdb := b.rdb
	store, err := openStore(ctx, cfg, log, b.reg)
	if err != nil {
		return nil, err
	}
	b.store = store
	ev := log.Info().Str("storage", store.String())
	if bc, ok := storage.Describe(store); ok {
		// Once, at start: on a versioned bucket every delete removes each
		// version; with object lock some deletes end retained.
		ev = ev.Str("versioning", bc.Versioning).Bool("object_lock", bc.ObjectLock).Str("lock_mode", bc.LockMode).Str("lock_period", bc.LockPeriod)
	}
	ev.Msg("storage ready")
	up, err := openUpstreams(cfg, rdb, log)
	if err != nil {
		return nil, err
	}
	ids := identity.New(rdb)
	locks := userlock.New(rdb, userlock.LeaseDefault)

	var receiptKey ed25519.PrivateKey
	if v := cfg.ReceiptSigningKey.Value(); v != "" {
		if receiptKey, err = erasure.ParsePrivateKey(v); err != nil {
			return nil, err // config checked it already
		}
	} else {
		log.Warn().Msg("LIFECYCLE_RECEIPT_SIGNING_KEY not set: erasures will be dead-lettered, since they could not sign their receipts")
	}
	erasures := &erasure.Executor{
		Store: erasure.NewStore(rdb), Locks: locks, Queue: newErasureQueue(rdb),
		Artifi: up.artifi, Bigin: up.bigin, BPM: up.bpm, Objects: store,
		Aliases: ids.Aliases, Tombstone: ids.SetTombstone,
		Subjects:   &erasure.Subjects{Identity: ids, RefuseMerged: cfg.Privacy.RefuseMergedID},
		ReceiptKey: receiptKey, Now: time.Now, Log: log, SliceBudget: cfg.ErasureSliceBudget, Stopping: b.stopping,
		AuditFindings: b.reg.ErasureAuditFindings,
	}
	erasures.ScheduleAudit = scheduleAudit(rdb, cfg)
	sweeps, err := newSweeper(cfg, rdb, store, up.artifi, log)
	if err != nil {
		return nil, err
	}
	erasures.Own = erasure.OwnCopies{
		Tasks:       erasuretasks.NewCopies(asynq.NewInspectorFromRedisClient(rdb), rdb),
		DeadLetters: deadletter.Copies{Store: store},
		Quarantine:  sweeps,
	}
	services := handlers.Services{
		Photos:   &photo.Deleter{Artifi: up.artifi, Bigin: up.bigin, BPM: up.bpm, Objects: store},
		Merges:   &merge.Merger{Artifi: up.artifi, Store: store, Quarantine: sweeps, Redis: rdb, Identity: ids, Locks: locks, Log: log},
		Erasures: erasures,
		Audits:   erasures,
		Sweeps:   sweeps,
		DeadLetters: withAuditCopy{
			DeadLetters: &deadletter.Archiver{Inspector: b.inspector, Store: store, Redis: rdb, Now: time.Now, Log: log, DeadLetters: b.reg.DeadLetters, CopyFailures: b.reg.DeadLetterCopyFailures},
			audit:       &audit.Recorder{Redis: rdb, Store: store}, log: log,
		},
	}
	if cfg.Privacy.WebhookURL != "" {
		notifier := &webhook.Notifier{Tasks: newTaskClient(rdb)}
		erasures.Notify = notifier.Notify
		services.Webhooks = &webhook.Sender{URL: cfg.Privacy.WebhookURL, Secret: []byte(cfg.Privacy.WebhookSecret.Value())}
	}
	mux := asynq.NewServeMux()
	// Tracing first: the outcome line carries the attempt's trace_id and
	// span_id, and the outcome goes into the span.
	// Completions inside Outcomes: a task answered from its completion
	// record is logged and counted as already_completed.
	mux.Use(handlers.Tracing(otel.GetTracerProvider()), handlers.Outcomes(log, b.reg.Tasks, time.Now, b.running),
		handlers.Completions(&completion.Store{Redis: rdb}, log))
	if err := handlers.Register(mux, services); err != nil {
		return nil, err
	}
	return mux, nil
}

// deadLetters finds dead letters through in, ours first, busiest first.
func deadLetters(in *asynq.Inspector) deadletter.Letters {
	return deadletter.Letters{Inspector: in, First: tasks.Queues()}
}
