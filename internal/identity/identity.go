// Package identity records what lifecycle knows about user ids beyond any
// one task: which guest ids were merged into which registered user, and
// which ids were erased (tombstoned). Merges write it, erasures and sweeps
// read it. Records have no expiry: they are the audit trail.
package identity

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/lifecycle-worker/lifecycle/internal/rkeys"
)

// Store reads and writes identity records in Redis.
type Store struct{ rdb redis.UniversalClient }

// New returns a Store on rdb.
func New(rdb redis.UniversalClient) *Store { return &Store{rdb: rdb} }

// RecordMerge records that guestID was merged into userID. Repeating it is
// harmless.
func (s *Store) RecordMerge(ctx context.Context, guestID, userID string) error {
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, rkeys.MergedInto(guestID), userID, 0)
		p.SAdd(ctx, rkeys.Aliases(userID), guestID)
		return nil
	})
	if err != nil {
		return fmt.Errorf("identity: record merge: %w", err)
	}
	return nil
}

// MergedInto returns the registered id guestID was merged into, if any.
func (s *Store) MergedInto(ctx context.Context, guestID string) (string, bool, error) {
	v, err := s.rdb.Get(ctx, rkeys.MergedInto(guestID)).Result()
	if errors.Is(err, redis.Nil) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("identity: merged into: %w", err)
	}
	return v, true, nil
}

// maxAliasDepth bounds the walk through aliases of aliases (a guest merged
// into a guest merged into a user), so that a cycle cannot loop forever.
const maxAliasDepth = 8

// Aliases returns every id merged into userID, directly or through other
// merged ids, sorted.
func (s *Store) Aliases(ctx context.Context, userID string) ([]string, error) {
	seen := map[string]bool{userID: true}
	frontier := []string{userID}
	var out []string
	for depth := 0; depth < maxAliasDepth && len(frontier) > 0; depth++ {
		var next []string
		for _, id := range frontier {
			members, err := s.rdb.SMembers(ctx, rkeys.Aliases(id)).Result()
			if err != nil {
				return nil, fmt.Errorf("identity: aliases: %w", err)
			}
			for _, m := range members {
				if !seen[m] {
					seen[m] = true
					out = append(out, m)
					next = append(next, m)
				}
			}
		}
		frontier = next
	}
	sort.Strings(out)
	return out, nil
}

// Tombstone is the record of an erased id.
type Tombstone struct {
	RequestID string    `json:"request_id"`
	ErasedAt  time.Time `json:"erased_at"`
}

// SetTombstone marks ids as erased by requestID.
func (s *Store) SetTombstone(ctx context.Context, requestID string, at time.Time, ids ...string) error {
	b, err := json.Marshal(Tombstone{RequestID: requestID, ErasedAt: at.UTC()})
	if err != nil {
		return err
	}
	_, err = s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		for _, id := range ids {
			p.Set(ctx, rkeys.Tombstone(id), b, 0)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("identity: tombstone: %w", err)
	}
	return nil
}

// Tombstoned returns the tombstone of id, if it was erased.
func (s *Store) Tombstoned(ctx context.Context, id string) (Tombstone, bool, error) {
	b, err := s.rdb.Get(ctx, rkeys.Tombstone(id)).Bytes()
	if errors.Is(err, redis.Nil) {
		return Tombstone{}, false, nil
	}
	if err != nil {
		return Tombstone{}, false, fmt.Errorf("identity: tombstone: %w", err)
	}
	var t Tombstone
	if err := json.Unmarshal(b, &t); err != nil {
		return Tombstone{}, false, fmt.Errorf("identity: tombstone of %s: %w", id, err)
	}
	return t, true, nil
}
