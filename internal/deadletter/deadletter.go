// Package deadletter keeps asynq's dead letters (archived tasks) from being
// lost without a trace, and finds them for the `lifecycle dlq` command.
//
// asynq keeps at most 10,000 archived tasks per queue for 90 days and trims
// older ones silently; its recoverer archives tasks after a crash without
// calling any error handler. The Archiver runs periodically: it copies every
// archived task it has not seen to storage (dead-letters/{queue}/{id}-{unix}.json),
// logs it and counts it, whatever archived it; then, if a queue holds more
// than Keep dead letters, it deletes the oldest ones itself, already copied,
// before asynq would trim uncopied ones.
package deadletter

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/lifecycle-worker/lifecycle/internal/rkeys"
	"github.com/lifecycle-worker/lifecycle/internal/skeys"
)

// KeepDefault is below asynq's hard-coded 10,000 so that we trim, after
// copying, before asynq trims without copying.
const KeepDefault = 9000

// copiedFor is how long the record of a copy is kept: longer than asynq's 90
// days, after which the dead letter is gone from asynq anyway.
const copiedFor = 100 * 24 * time.Hour

// pageSize for listing archived tasks.
const pageSize = 200

// Inspector is the part of asynq.Inspector the archiver uses.
type Inspector interface {
	lister
	GetQueueInfo(queue string) (*asynq.QueueInfo, error)
	DeleteTask(queue, id string) error
}

// Record is what a dead letter's copy holds.
type Record struct {
	ID           string          `json:"id"`
	Type         string          `json:"type"`
	Queue        string          `json:"queue"`
	Payload      json.RawMessage `json:"payload,omitempty"`
	PayloadRaw   []byte          `json:"payload_raw,omitempty"` // when the payload is not JSON
	LastError    string          `json:"last_error"`
	LastFailedAt time.Time       `json:"last_failed_at"`
	Retried      int             `json:"retried"`
	MaxRetry     int             `json:"max_retry"`
	CopiedAt     time.Time       `json:"copied_at"`
}

// NewRecord describes an archived task.
func NewRecord(t *asynq.TaskInfo, now time.Time) Record {
	r := Record{ID: t.ID, Type: t.Type, Queue: t.Queue, LastError: t.LastErr, LastFailedAt: t.LastFailedAt.UTC(),
		Retried: t.Retried, MaxRetry: t.MaxRetry, CopiedAt: now.UTC()}
	if json.Valid(t.Payload) {
		r.Payload = t.Payload
	} else {
		r.PayloadRaw = t.Payload
	}
	return r
}

// Archiver copies dead letters to storage. Build it directly.
type Archiver struct {
	Inspector Inspector
	Store     interface {
		Put(ctx context.Context, key string, r io.Reader, size int64) error
	}
	Redis redis.UniversalClient
	Keep  int // KeepDefault if zero
	Now   func() time.Time
	Log   zerolog.Logger
	// DeadLetters counts dead letters by type and queue, once each.
	DeadLetters *prometheus.CounterVec
	// CopyFailures counts dead letters that could not be copied, by queue,
	// once each (optional).
	CopyFailures *prometheus.CounterVec
}

// Report says what one run did.
type Report struct {
	Copied  int
	Failed  int // dead letters this run could not copy (see DeadLettersUncopied)
	Trimmed int
}

// Run copies new dead letters of every queue and trims queues over Keep.
func (a *Archiver) Run(ctx context.Context) (Report, error) {
	var rep Report
	queues, err := a.Inspector.Queues()
	if err != nil {
		return rep, fmt.Errorf("deadletter: queues: %w", err)
	}
	for _, q := range queues {
		n, failed, err := a.copyQueue(ctx, q)
		rep.Copied += n
		rep.Failed += failed
		if err != nil {
			return rep, err
		}
		n, err = a.trimQueue(ctx, q)
		rep.Trimmed += n
		if err != nil {
			return rep, err
		}
	}
	a.Redis.ZRemRangeByScore(ctx, rkeys.DeadLettersCopied(), "-inf", strconv.FormatInt(a.Now().Add(-copiedFor).Unix(), 10))
	return rep, nil
}

func member(t *asynq.TaskInfo) string {
	return fmt.Sprintf("%s/%s@%d", t.Queue, t.ID, t.LastFailedAt.Unix())
}

func (a *Archiver) copyQueue(ctx context.Context, queue string) (copied, failed int, _ error) {
	for t, err := range archived(a.Inspector, queue) {
		if err != nil {
			return copied, failed, fmt.Errorf("deadletter: list %s: %w", queue, err)
		}
		m := member(t)
		if err := a.Redis.ZScore(ctx, rkeys.DeadLettersCopied(), m).Err(); err == nil {
			continue
		} else if !errors.Is(err, redis.Nil) {
			return copied, failed, fmt.Errorf("deadletter: %w", err)
		}
		ok, err := a.copyOne(ctx, t, m)
		if err != nil {
			// Redis failing: the next run starts over.
			return copied, failed, err
		}
		if ok {
			copied++
		} else {
			failed++
		}
	}
	return copied, failed, nil
}

// copyOne copies one dead letter. A copy that storage refuses is not a
// failure of the run: one bad dead letter (a task id that storage cannot
// take, a denied key) must not keep every later one from being copied and
// the queue from being trimmed. It is logged and counted once, marked in
// DeadLettersUncopied for a person, skipped, and tried again by later runs.
func (a *Archiver) copyOne(ctx context.Context, t *asynq.TaskInfo, m string) (copied bool, _ error) {
	b, err := json.MarshalIndent(NewRecord(t, a.Now()), "", "  ")
	copyKey := skeys.DeadLetter(t.Queue, t.ID, t.LastFailedAt)
	if err == nil {
		err = a.Store.Put(ctx, copyKey, bytes.NewReader(b), int64(len(b)))
	}
	if err != nil {
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		return false, a.markUncopied(ctx, t, m, err)
	}
	// NX: of two runs that copied the same dead letter at once, only
	// one counts and logs it.
	added, err := a.Redis.ZAddNX(ctx, rkeys.DeadLettersCopied(), redis.Z{Score: float64(a.Now().Unix()), Member: m}).Result()
	if err != nil {
		return false, fmt.Errorf("deadletter: %w", err)
	}
	a.Redis.HDel(ctx, rkeys.DeadLettersUncopied(), m)
	if added == 0 {
		return false, nil
	}
	a.DeadLetters.WithLabelValues(t.Type, t.Queue).Inc()
	a.Log.Error().Str("task_id", t.ID).Str("type", t.Type).Str("queue", t.Queue).
		Int("retried", t.Retried).Time("failed_at", t.LastFailedAt).Str("error", t.LastErr).
		Str("copy", copyKey).Msg("task dead-lettered")
	return true, nil
}

// markUncopied records a dead letter that could not be copied, logging and
// counting it the first time only.
func (a *Archiver) markUncopied(ctx context.Context, t *asynq.TaskInfo, m string, cause error) error {
	mark, _ := json.Marshal(struct {
		Error string    `json:"error"`
		Since time.Time `json:"since"`
	}{cause.Error(), a.Now().UTC()})
	first, err := a.Redis.HSetNX(ctx, rkeys.DeadLettersUncopied(), m, mark).Result()
	if err != nil {
		return fmt.Errorf("deadletter: %w", err)
	}
	if !first {
		return nil
	}
	if a.CopyFailures != nil {
		a.CopyFailures.WithLabelValues(t.Queue).Inc()
	}
	a.Log.Error().Err(cause).Str("task_id", t.ID).Str("type", t.Type).Str("queue", t.Queue).
		Time("failed_at", t.LastFailedAt).Str("marker", rkeys.DeadLettersUncopied()).
		Msg("cannot copy a dead letter to storage; skipped, kept in its queue, tried again each run")
	return nil
}

// trimQueue deletes the oldest dead letters beyond Keep, each already
// copied. One not copied (archived since copyQueue ran, or refused by
// storage) stays and the trim moves on to the next oldest, so that a dead
// letter that can never be copied does not keep the queue from being trimmed.
func (a *Archiver) trimQueue(ctx context.Context, queue string) (int, error) {
	keep := a.Keep
	if keep <= 0 {
		keep = KeepDefault
	}
	info, err := a.Inspector.GetQueueInfo(queue)
	if err != nil {
		return 0, fmt.Errorf("deadletter: queue %s: %w", queue, err)
	}
	excess := info.Archived - keep
	if excess <= 0 {
		return 0, nil
	}
	// asynq lists dead letters oldest first (ZRANGE by the time they were
	// archived, whatever its doc says), so the first pages hold the ones to
	// trim. They are all read before anything is deleted, so that deleting
	// does not shift what a page holds.
	var victims []string
	pages := (info.Archived + pageSize - 1) / pageSize
	for page := 1; page <= pages && len(victims) < excess; page++ {
		infos, err := a.Inspector.ListArchivedTasks(queue, asynq.PageSize(pageSize), asynq.Page(page))
		if err != nil {
			return 0, fmt.Errorf("deadletter: list %s: %w", queue, err)
		}
		for _, t := range infos {
			if len(victims) == excess {
				break
			}
			if err := a.Redis.ZScore(ctx, rkeys.DeadLettersCopied(), member(t)).Err(); err == nil {
				victims = append(victims, t.ID)
			}
		}
	}
	trimmed := 0
	for _, id := range victims {
		if err := a.Inspector.DeleteTask(queue, id); err != nil && !errors.Is(err, asynq.ErrTaskNotFound) {
			return trimmed, fmt.Errorf("deadletter: trim %s: %w", id, err)
		}
		trimmed++
	}
	if trimmed > 0 {
		a.Log.Warn().Ctx(ctx).Str("queue", queue).Int("trimmed", trimmed).Int("keep", keep).Msg("oldest dead letters trimmed from the queue; their copies stay in storage")
	}
	return trimmed, nil
}
