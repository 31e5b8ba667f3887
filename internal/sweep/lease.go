package sweep

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/lifecycle-worker/lifecycle/internal/lease"
)

// LeaseDefault is how long the sweep lock outlives a crashed holder: the next
// sweep task can resume the crashed one's work after that.
const LeaseDefault = 30 * time.Second

// ErrBusy means another sweep, purge or restore holds the sweep lock. The
// error is a *BusyError.
var ErrBusy = errors.New("sweep: another sweep, purge or restore is running")

// BusyError says who holds the sweep lock and for how long at most, if its
// holder stopped renewing it.
type BusyError struct {
	// Holder is the sweep id (or "purge:..."/"restore:...") of the holder.
	// It may be this very sweep: an earlier attempt that crashed, whose
	// lease has not run out yet.
	Holder string
	Wait   time.Duration
}

func (e *BusyError) Error() string {
	return fmt.Sprintf("%v: %s holds the lock (lease ends within %v)", ErrBusy, e.Holder, e.Wait.Round(time.Millisecond))
}

func (e *BusyError) Unwrap() error { return ErrBusy }

// errLeaseLost ends a sweep whose lock ran out (Redis unreachable for a
// whole lease): another sweep may have taken over, so this one must stop
// touching storage.
var errLeaseLost = errors.New("sweep: lock lost")

// sweepLock is a held sweep lock, renewed in the background until released.
type sweepLock struct {
	lease  *lease.Lease
	cancel context.CancelFunc // ends the context acquire returned
}

// acquire takes the lock and returns a context that ends when the lock is
// lost, so that work stops at its next checkpoint before a second sweep
// could start.
//
// The lock is never re-entered, not even by the same sweep id: two attempts
// of one sweep can run at once (asynq hands a task whose worker lost Redis
// to another worker; an operator runs `sweep run --id` with a scheduled id),
// so every attempt holds the lock under an owner of its own, the sweep id
// plus a random suffix. A crashed attempt's lock frees with its lease.
func acquire(ctx context.Context, rdb redis.UniversalClient, key, name string, ttl time.Duration) (*sweepLock, context.Context, error) {
	owner := name + "/" + strconv.FormatUint(rand.Uint64(), 36)
	l, err := lease.Acquire(ctx, rdb, owner, ttl, key)
	var held *lease.HeldError
	if errors.As(err, &held) {
		holder := held.Holder
		if i := strings.LastIndexByte(holder, '/'); i >= 0 {
			holder = holder[:i]
		}
		return nil, nil, &BusyError{Holder: holder, Wait: held.Wait}
	}
	if err != nil {
		return nil, nil, fmt.Errorf("sweep: take lock: %w", err)
	}
	lctx, cancel := l.Context(ctx)
	return &sweepLock{lease: l, cancel: cancel}, lctx, nil
}

// release stops renewing and frees the lock. The lock's key is deleted even
// if ctx has ended, so that a cancelled sweep does not block the next one
// for a lease.
func (l *sweepLock) release(ctx context.Context) {
	l.cancel()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	l.lease.Release(ctx)
}
