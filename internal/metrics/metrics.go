// Package metrics owns lifecycle's Prometheus registry: our per-task outcome
// counters and duration histograms, and asynq's queue state read through its
// Inspector at scrape time.
package metrics

import (
	"strconv"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Outcomes a task attempt can end with. "already_gone" is a success whose
// target was absent before we acted; "interrupted" is a shutdown that handed
// the task back to its queue; "timed_out" is an attempt that reached the
// task's timeout, a failure that spends a retry; "throttled" is a rate limit,
// retried without spending one.
//
// asynq counts an attempt as failed (asynq_tasks_failed_today) exactly when
// its outcome is one of Failures.
const (
	OutcomeSucceeded   = "succeeded"
	OutcomeAlreadyGone = "already_gone"
	// OutcomeAlreadyCompleted is a task run again after it had succeeded
	// (asynq failed to record the success): answered from our record of
	// it, without calling any upstream.
	OutcomeAlreadyCompleted = "already_completed"
	OutcomeRetried          = "retried"
	OutcomeTimedOut         = "timed_out"
	OutcomeThrottled        = "throttled"
	OutcomeDeadLettered     = "dead_lettered"
	OutcomeInterrupted      = "interrupted"
)

// Failures are the outcomes asynq counts as failed attempts.
var Failures = []string{OutcomeRetried, OutcomeTimedOut, OutcomeDeadLettered}

// Tasks are the metrics the task middleware records.
type Tasks struct {
	Outcomes *prometheus.CounterVec
	Duration *prometheus.HistogramVec
}

// Registry is every collector the process exposes on /metrics.
type Registry struct {
	*prometheus.Registry
	Tasks Tasks
	// DeadLetters counts every task that dead-letters, once, by type and
	// queue, whatever archived it (our middleware, exhausted retries, or
	// asynq's recoverer after a crash): the dead-letter archiver counts it
	// when it copies it to storage.
	DeadLetters *prometheus.CounterVec
	// BucketMissing counts the storage calls that found the bucket missing:
	// until it is restored every storage task fails, so any increase is an
	// alert.
	BucketMissing *prometheus.CounterVec
	// StorageDegraded counts the storage calls refused for a cause a person
	// must fix (storage.CausePermission, storage.CauseQuota): their tasks
	// are retried with backoff rather than dead-lettered, so any increase
	// is an alert that work is waiting.
	StorageDegraded *prometheus.CounterVec
	// DeadLetterCopyFailures counts dead letters the archiver could not copy
	// to storage, once each, by queue: each is kept in its queue and named in
	// Redis (rkeys.DeadLettersUncopied) for a person to look at.
	DeadLetterCopyFailures *prometheus.CounterVec
	// UnservedTasks is the number of tasks waiting on each queue that no
	// worker serves, refreshed every minute by the workers (handlers.Unserved).
	UnservedTasks *prometheus.GaugeVec
	// ErasureAuditFindings counts what audits of finished erasures found
	// (data back, or a read proving nothing), by system; each reopens its
	// request as needs_review.
	ErasureAuditFindings *prometheus.CounterVec
	// BucketInfo is 1 for the bucket the process opened at start, labelled
	// with its versioning and object lock (SetBucket): on a versioned
	// bucket every delete removes each version, and with object lock some
	// deletes end retained for a person to confirm.
	BucketInfo *prometheus.GaugeVec
}

// SetBucket records what the process learned of its bucket at start, in
// place of anything recorded before.
func (r *Registry) SetBucket(bucket, versioning string, objectLock bool, lockMode string) {
	r.BucketInfo.Reset()
	r.BucketInfo.WithLabelValues(bucket, versioning, strconv.FormatBool(objectLock), lockMode).Set(1)
}

// New builds the registry. inspector may be nil (a process without Redis
// access exports only its own counters).
func New(inspector *asynq.Inspector) *Registry {
	r := &Registry{Registry: prometheus.NewRegistry()}
	r.Tasks = Tasks{
		Outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lifecycle_task_outcomes_total",
			Help: "Task attempts by type, target system and outcome (succeeded, already_gone, retried, timed_out, throttled, dead_lettered, interrupted).",
		}, []string{"type", "system", "outcome"}),
		Duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "lifecycle_task_duration_seconds",
			Help:    "Time spent in one task attempt, by type and outcome.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300},
		}, []string{"type", "outcome"}),
	}
	r.DeadLetters = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "lifecycle_dead_letters_total",
		Help: "Tasks dead-lettered (archived), each counted once when copied to storage.",
	}, []string{"type", "queue"})
	r.BucketMissing = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "lifecycle_storage_bucket_missing_total",
		Help: "Storage calls that found the bucket missing (every storage task fails until it is restored).",
	}, []string{"bucket"})
	r.StorageDegraded = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "lifecycle_storage_degraded_total",
		Help: "Storage calls refused for a cause a person must fix (permission, quota); their tasks are retried with backoff.",
	}, []string{"cause"})
	r.DeadLetterCopyFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "lifecycle_dead_letter_copy_failures_total",
		Help: "Dead letters the archiver could not copy to storage, each counted once, by queue.",
	}, []string{"queue"})
	r.UnservedTasks = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "lifecycle_unserved_tasks",
		Help: "Tasks waiting (pending, scheduled or retrying) on a queue that no worker serves, by queue.",
	}, []string{"queue"})
	r.ErasureAuditFindings = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "lifecycle_erasure_audit_findings_total",
		Help: "Findings of audits of finished erasures (data of an erased subject back, or a read proving nothing), by system; each reopens its request as needs_review.",
	}, []string{"system"})
	r.BucketInfo = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "lifecycle_storage_bucket_info",
		Help: "1 for the storage bucket read at start, by its versioning (Enabled, Suspended, Off, Unknown), object lock (true, false) and default lock mode.",
	}, []string{"bucket", "versioning", "object_lock", "lock_mode"})
	r.MustRegister(r.Tasks.Outcomes, r.Tasks.Duration, r.DeadLetters, r.BucketMissing, r.StorageDegraded, r.DeadLetterCopyFailures, r.UnservedTasks, r.ErasureAuditFindings, r.BucketInfo,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if inspector != nil {
		r.MustRegister(newQueueCollector(inspector))
	}
	return r
}
