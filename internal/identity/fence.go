package identity

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/lifecycle-worker/lifecycle/internal/rkeys"
)

// An erasure fences its subjects from planning to receipt: the user lock
// covers one slice of it only, and between slices (or while a killed
// worker's slice waits for its watchdog) a merge must neither bring data
// into an id the stored plan does not cover nor take data out of one it
// does. Merges check the fence once they hold their locks.

// Fence marks ids as covered by erasure requestID until Unfence.
func (s *Store) Fence(ctx context.Context, requestID string, ids ...string) error {
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		for _, id := range ids {
			p.Set(ctx, rkeys.ErasureFence(id), requestID, 0)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("identity: fence: %w", err)
	}
	return nil
}

// unfence deletes each fence key still held by the request (ARGV[1]).
var unfence = redis.NewScript(`
for _, k in ipairs(KEYS) do
  if redis.call("GET", k) == ARGV[1] then redis.call("DEL", k) end
end
return 0`)

// Unfence lifts the fences requestID holds on ids; another request's fence
// on the same id stays.
func (s *Store) Unfence(ctx context.Context, requestID string, ids ...string) error {
	if len(ids) == 0 {
		return nil
	}
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = rkeys.ErasureFence(id)
	}
	if err := unfence.Run(ctx, s.rdb, keys, requestID).Err(); err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("identity: unfence: %w", err)
	}
	return nil
}

// FencedBy returns the open erasure request covering id, if any.
func (s *Store) FencedBy(ctx context.Context, id string) (string, bool, error) {
	v, err := s.rdb.Get(ctx, rkeys.ErasureFence(id)).Result()
	if errors.Is(err, redis.Nil) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("identity: fence: %w", err)
	}
	return v, true, nil
}
