package deadletter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"

	"github.com/lifecycle-worker/lifecycle/internal/mentions"
	"github.com/lifecycle-worker/lifecycle/internal/skeys"
	"github.com/lifecycle-worker/lifecycle/internal/storage"
	"github.com/lifecycle-worker/lifecycle/tasks"
)

// Copies finds and deletes the copies under dead-letters/ of dead letters
// whose payload names one of an erasure's subjects (erasure.Copies). On a
// versioned bucket the delete removes every version of a copy.
//
// A copy of a user:erase dead letter is kept: it is an erasure request, of
// which the request's own record keeps the same ids.
type Copies struct {
	Store interface {
		List(ctx context.Context, prefix, startAfter string) iter.Seq2[storage.Object, error]
		Get(ctx context.Context, key string) (io.ReadCloser, error)
		DeleteMany(ctx context.Context, keys []string) error
	}
}

func (c Copies) Forget(ctx context.Context, ids []string) (int, error) {
	keys, err := c.Find(ctx, ids)
	if err != nil || len(keys) == 0 {
		return 0, err
	}
	if err := c.Store.DeleteMany(ctx, keys); err != nil {
		return 0, fmt.Errorf("deadletter: delete copies: %w", err)
	}
	return len(keys), nil
}

// Find returns the keys of the copies that name any of ids. Each copy is
// read: its name holds a task id, which is a hash.
func (c Copies) Find(ctx context.Context, ids []string) ([]string, error) {
	var out []string
	for o, err := range c.Store.List(ctx, skeys.DeadLetters(), "") {
		if err != nil {
			return nil, fmt.Errorf("deadletter: list copies: %w", err)
		}
		names, err := c.names(ctx, o.Key, ids)
		if err != nil {
			return nil, err
		}
		if names {
			out = append(out, o.Key)
		}
	}
	return out, nil
}

func (c Copies) names(ctx context.Context, key string, ids []string) (bool, error) {
	rc, err := c.Store.Get(ctx, key)
	if errors.Is(err, storage.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("deadletter: read %s: %w", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return false, fmt.Errorf("deadletter: read %s: %w", key, err)
	}
	var r Record
	if json.Unmarshal(b, &r) != nil {
		// Not a copy we wrote: whatever names the ids in it counts.
		return mentions.Names(b, ids), nil
	}
	if r.Type == tasks.TypeUserErase {
		return false, nil
	}
	return mentions.Names(r.Payload, ids) || mentions.Names(r.PayloadRaw, ids), nil
}
