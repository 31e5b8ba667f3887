// Package completion records, per task, that its handler succeeded, so that a
// task asynq runs again after a success it failed to record is answered from
// the record instead of acting on an upstream a second time.
//
// asynq v0.26.0 hands its syncer a context that is already cancelled when it
// retries marking a task complete (processor.markAsComplete builds the
// context with `defer cancel()` and the retry closure captures it), so a
// Redis blip at that moment leaves the succeeded task active until its lease
// expires, and the recoverer runs it again. handlers.Completions writes and
// checks these records; TestAsynqRerunsACompletionItCouldNotRecord in package
// handlers reproduces the defect, so that the workaround can go once a fixed
// asynq is released.
package completion

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/lifecycle-worker/lifecycle/internal/rkeys"
)

// Store keeps the records in Redis (rkeys.TaskCompleted).
type Store struct{ Redis redis.UniversalClient }

// Record notes that the task id of queue succeeded, for ttl.
func (s *Store) Record(ctx context.Context, queue, id string, ttl time.Duration) error {
	if err := s.Redis.Set(ctx, rkeys.TaskCompleted(queue, id), time.Now().UTC().Format(time.RFC3339Nano), ttl).Err(); err != nil {
		return fmt.Errorf("completion: record %s/%s: %w", queue, id, err)
	}
	return nil
}

// Completed reports whether the task id of queue has a record.
func (s *Store) Completed(ctx context.Context, queue, id string) (bool, error) {
	err := s.Redis.Get(ctx, rkeys.TaskCompleted(queue, id)).Err()
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, redis.Nil):
		return false, nil
	default:
		return false, fmt.Errorf("completion: check %s/%s: %w", queue, id, err)
	}
}
