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
}

// Report says what one run did.
type Report struct {
	Copied  int
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
		n, err := a.copyQueue(ctx, q)
		rep.Copied += n
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

func (a *Archiver) copyQueue(ctx context.Context, queue string) (int, error) {
	copied := 0
	for t, err := range archived(a.Inspector, queue) {
		if err != nil {
			return copied, fmt.Errorf("deadletter: list %s: %w", queue, err)
		}
		m := member(t)
		if err := a.Redis.ZScore(ctx, rkeys.DeadLettersCopied(), m).Err(); err == nil {
			continue
		} else if !errors.Is(err, redis.Nil) {
			return copied, fmt.Errorf("deadletter: %w", err)
		}
		b, err := json.MarshalIndent(NewRecord(t, a.Now()), "", "  ")
		if err != nil {
			return copied, err
		}
		copyKey := skeys.DeadLetter(t.Queue, t.ID, t.LastFailedAt)
		if err := a.Store.Put(ctx, copyKey, bytes.NewReader(b), int64(len(b))); err != nil {
			return copied, fmt.Errorf("deadletter: store copy of %s: %w", t.ID, err)
		}
		// NX: of two runs that copied the same dead letter at once, only
		// one counts and logs it.
		added, err := a.Redis.ZAddNX(ctx, rkeys.DeadLettersCopied(), redis.Z{Score: float64(a.Now().Unix()), Member: m}).Result()
		if err != nil {
			return copied, fmt.Errorf("deadletter: %w", err)
		}
		if added == 0 {
			continue
		}
		copied++
		a.DeadLetters.WithLabelValues(t.Type, t.Queue).Inc()
		// Without the archive task's context: task_id and type are the
		// dead letter's own.
		a.Log.Error().Str("task_id", t.ID).Str("type", t.Type).Str("queue", t.Queue).
			Int("retried", t.Retried).Time("failed_at", t.LastFailedAt).Str("error", t.LastErr).
			Str("copy", copyKey).Msg("task dead-lettered")
	}
	return copied, nil
}

// trimQueue deletes the oldest dead letters beyond Keep, each already copied.
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
	trimmed := 0
	for excess > 0 {
		// Newest first is asynq's listing order; the oldest are at the end.
		last := (info.Archived + pageSize - 1) / pageSize
		infos, err := a.Inspector.ListArchivedTasks(queue, asynq.PageSize(pageSize), asynq.Page(last))
		if err != nil || len(infos) == 0 {
			return trimmed, err
		}
		for i := len(infos) - 1; i >= 0 && excess > 0; i-- {
			t := infos[i]
			if err := a.Redis.ZScore(ctx, rkeys.DeadLettersCopied(), member(t)).Err(); err != nil {
				// Not copied yet (archived since copyQueue ran): leave it
				// for the next run rather than lose it.
				return trimmed, nil
			}
			if err := a.Inspector.DeleteTask(queue, t.ID); err != nil {
				return trimmed, fmt.Errorf("deadletter: trim %s: %w", t.ID, err)
			}
			trimmed++
			excess--
			info.Archived--
		}
	}
	if trimmed > 0 {
		a.Log.Warn().Ctx(ctx).Str("queue", queue).Int("trimmed", trimmed).Int("keep", keep).Msg("oldest dead letters trimmed from the queue; their copies stay in storage")
	}
	return trimmed, nil
}
