package erasure

import (
	"cmp"
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/lifecycle-worker/lifecycle/internal/lease"
)

// Defaults of the slices of an erasure.
const (
	// SliceBudgetDefault is how long one slice takes new steps. Short slices
	// bound what a crashed worker leaves stuck in the queue's "active" state,
	// and keep a worker slot from being held for the whole erasure of a user
	// with a hundred thousand objects.
	SliceBudgetDefault = 10 * time.Second
	// WatchdogDefault is when the next slice runs if this one never hands
	// over (its worker was killed). It must exceed the slice budget plus a
	// slow last call, or a healthy slice would be taken over (safely: the
	// user lock makes the newcomer wait, but it would spend a retry).
	WatchdogDefault = 40 * time.Second
)

// RunSlice runs slice n of request r, one task of the chain that erases it.
// A slice takes the user's lock, schedules its successor as a watchdog (to
// run in Watchdog), works for up to SliceBudget with every step
// checkpointed, then either finishes the request (and cancels the watchdog),
// or releases the lock and runs the successor at once.
//
// Why slices: when a worker is killed, asynq gives its task back only after
// the task's lease and the recoverer's cutoff (one to two minutes), and then
// with a retry backoff. The watchdog slice instead starts as soon as the dead
// worker's user lock expires (30 s). The old task, when asynq does recover
// it, sees that a newer slice took over (the request's state records the
// newest slice) and ends without doing anything.
//
// A slice that finishes nothing in a few passes (an outage) returns the
// classified error and cancels its watchdog, so that the queue's retries and
// backoff, not the chain, pace the attempts, and the request reaches the
// dead-letter queue once they are spent. A step that fails permanently fails
// the request once everything else is done: the error is permanent with the
// step named, and running the slice again from there resumes it.
func (e *Executor) RunSlice(ctx context.Context, r Request, n int) error {
	// A task enqueued without going through Service (lifecycle enqueue, an
	// older producer) still gets its record and deadline.
	if _, err := e.Store.Create(ctx, r); err != nil {
		return err
	}
	if idle, err := e.nothingToDo(ctx, r.ID, n); idle || err != nil {
		return err
	}
	lock, err := e.Locks.AcquireOrRetry(ctx, "erase:"+r.ID+":"+strconv.Itoa(n), r.UserID)
	if err != nil {
		return err
	}
	defer lock.Release(context.WithoutCancel(ctx))
	// A lost lock stops the slice at its next call (internal/lease's rule):
	// another slice may hold the user now. The error is retried, and the
	// retry finds the request done or taken over, or resumes it.
	lctx, stop := lock.Context(ctx)
	defer stop()
	// Again under the lock: a newer slice may have run while we waited.
	if idle, err := e.nothingToDo(lctx, r.ID, n); idle || err != nil {
		return err
	}

	next := n + 1
	if err := e.Queue.Enqueue(lctx, r, next, cmp.Or(e.Watchdog, WatchdogDefault)); err != nil {
		return fmt.Errorf("erasure %s: schedule slice %d: %w", r.ID, next, err)
	}
	out, err := e.Run(lctx, r, n, e.now().Add(cmp.Or(e.SliceBudget, SliceBudgetDefault)))
	err = lease.Cause(lctx, err)
	switch {
	case err != nil && ctx.Err() != nil:
		// Shutting down: the watchdog stays, in case this task is not
		// handed back (a kill after the signal).
		return err
	case err == nil && out == Paused:
		lock.Release(context.WithoutCancel(ctx))
		// Should this fail, the watchdog still runs the next slice, later.
		_ = e.Queue.RunNow(context.WithoutCancel(ctx), r, next)
		return nil
	}
	// Finished, failed, or handed to the queue's retries: no successor.
	// Should the cancel fail, the successor finds the request done or its
	// own slice superseded by this task's retry, and ends at once.
	_ = e.Queue.Cancel(context.WithoutCancel(ctx), r, next)
	return err
}

// nothingToDo reports whether request id needs no work from slice n: it is
// done, joined another request, or a newer slice has taken it over.
func (e *Executor) nothingToDo(ctx context.Context, id string, n int) (bool, error) {
	rec, err := e.Store.Get(ctx, id)
	if err != nil {
		return false, err
	}
	return rec.JoinedTo != "" || rec.State.Status == StatusDone || rec.State.Slice > n, nil
}
