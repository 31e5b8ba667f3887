package handlers

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/lifecycle-worker/lifecycle/internal/erasure"
	"github.com/lifecycle-worker/lifecycle/internal/errclass"
	"github.com/lifecycle-worker/lifecycle/internal/userlock"
	"github.com/lifecycle-worker/lifecycle/tasks"
)

// Defaults of UserErase.
const (
	// EraseSliceDefault is how long one task of an erasure takes new steps.
	// Short slices bound what a crashed worker leaves stuck in asynq's
	// "active" state, and keep a worker slot from being held for the whole
	// erasure of a user with a hundred thousand objects.
	EraseSliceDefault = 10 * time.Second
	// EraseWatchdogDefault is when the next slice runs if this one never
	// hands over (its worker was killed). It must exceed the slice budget
	// plus a slow last call, or a healthy slice would be taken over (safely:
	// the user lock makes the newcomer wait, but it would spend a retry).
	EraseWatchdogDefault = 40 * time.Second
)

// Continuer schedules the slices of an erasure as asynq tasks.
type Continuer interface {
	// Schedule enqueues p to run after d, unless a task with its id exists.
	Schedule(ctx context.Context, p tasks.UserErasePayload, d time.Duration) error
	// RunNow makes the scheduled p run at once.
	RunNow(ctx context.Context, p tasks.UserErasePayload) error
	// Cancel deletes the scheduled p, if it is still waiting.
	Cancel(ctx context.Context, p tasks.UserErasePayload) error
}

// UserErase handles user:erase. An erasure runs as a chain of slices, each an
// asynq task: a slice takes the user's lock, schedules its successor as a
// watchdog (to run in EraseWatchdog), works for up to EraseSlice with every
// step checkpointed, then either finishes the request (and cancels the
// watchdog), or releases the lock and runs the successor at once.
//
// Why slices: when a worker is killed, asynq gives its task back only after
// the task's lease and the recoverer's cutoff (one to two minutes), and then
// with a retry backoff. The watchdog slice instead starts as soon as the dead
// worker's user lock expires (30 s). The old task, when asynq does recover
// it, sees that a newer slice took over (the request's state records the
// newest slice) and ends without doing anything.
//
// A slice that finishes nothing in a few passes (an outage) returns the
// classified error and cancels its watchdog, so that asynq's retries and
// backoff, not the chain, pace the attempts, and the request reaches the
// dead-letter queue once they are spent. A step that fails permanently fails
// the request once everything else is done: the task is dead-lettered with
// the step named, and running it again from there resumes it.
type UserErase struct {
	Exec     *erasure.Executor
	Locks    *userlock.Locker
	Next     Continuer
	Slice    time.Duration
	Watchdog time.Duration
	Now      func() time.Time
}

func (h *UserErase) ProcessTask(ctx context.Context, t *asynq.Task) error {
	p, err := tasks.Decode[tasks.UserErasePayload](t)
	if err != nil {
		return err
	}
	SetSystem(ctx, "erasure")
	if h.Exec == nil || h.Locks == nil || h.Next == nil {
		return errclass.AsPermanent(fmt.Errorf("erasure %s: %w", p.RequestID, ErrNotConfigured))
	}
	r := erasure.RequestFrom(p)
	// A task enqueued without going through erasure.Service (lifecycle
	// enqueue, an older producer) still gets its record and deadline.
	if _, err := h.Exec.Store.Create(ctx, r); err != nil {
		return err
	}
	if idle, err := h.nothingToDo(ctx, p); idle || err != nil {
		return err
	}
	owner := "erase:" + p.RequestID + ":" + strconv.Itoa(p.Slice)
	lock, err := lockUsers(ctx, h.Locks, owner, p.UserID)
	if err != nil {
		return err
	}
	defer lock.Release(context.WithoutCancel(ctx))
	// Again under the lock: a newer slice may have run while we waited.
	if idle, err := h.nothingToDo(ctx, p); idle || err != nil {
		return err
	}

	next := p
	next.Slice++
	if err := h.Next.Schedule(ctx, next, h.watchdog()); err != nil {
		return fmt.Errorf("erasure %s: schedule slice %d: %w", p.RequestID, next.Slice, err)
	}
	out, err := h.Exec.Run(ctx, r, p.Slice, h.now().Add(h.slice()))
	switch {
	case err != nil && ctx.Err() != nil:
		// Shutting down: the watchdog stays, in case this task is not
		// handed back (a kill after the signal).
		return err
	case err == nil && out == erasure.Paused:
		lock.Release(context.WithoutCancel(ctx))
		// Should this fail, the watchdog still runs the next slice, later.
		_ = h.Next.RunNow(context.WithoutCancel(ctx), next)
		return nil
	}
	// Finished, failed, or handed to asynq's retries: no successor. Should
	// the cancel fail, the successor finds the request done or its own
	// slice superseded by this task's retry, and ends at once.
	_ = h.Next.Cancel(context.WithoutCancel(ctx), next)
	return err
}

// nothingToDo reports whether the request needs no work from slice p: it is
// done, joined another request, or a newer slice has taken it over.
func (h *UserErase) nothingToDo(ctx context.Context, p tasks.UserErasePayload) (bool, error) {
	rec, err := h.Exec.Store.Get(ctx, p.RequestID)
	if err != nil {
		return false, err
	}
	return rec.JoinedTo != "" || rec.State.Status == erasure.StatusDone || rec.State.Slice > p.Slice, nil
}

func (h *UserErase) now() time.Time {
	if h.Now == nil {
		return time.Now()
	}
	return h.Now()
}

func (h *UserErase) slice() time.Duration {
	if h.Slice <= 0 {
		return EraseSliceDefault
	}
	return h.Slice
}

func (h *UserErase) watchdog() time.Duration {
	if h.Watchdog <= 0 {
		return EraseWatchdogDefault
	}
	return h.Watchdog
}

// asynqContinuer is Continuer on the Redis that asynq serves.
type asynqContinuer struct {
	client    *tasks.Client
	inspector *asynq.Inspector
}

// NewContinuer returns the Continuer of a worker on rdb.
func NewContinuer(rdb redis.UniversalClient) Continuer {
	return &asynqContinuer{
		client:    tasks.WrapClient(asynq.NewClientFromRedisClient(rdb)),
		inspector: asynq.NewInspectorFromRedisClient(rdb),
	}
}

func (c *asynqContinuer) Schedule(ctx context.Context, p tasks.UserErasePayload, d time.Duration) error {
	_, err := c.client.EnqueueErase(ctx, p, asynq.ProcessIn(d))
	return err
}

func (c *asynqContinuer) RunNow(_ context.Context, p tasks.UserErasePayload) error {
	err := c.inspector.RunTask(tasks.QueueErase, p.TaskID())
	if errors.Is(err, asynq.ErrTaskNotFound) {
		return nil
	}
	return err
}

func (c *asynqContinuer) Cancel(_ context.Context, p tasks.UserErasePayload) error {
	err := c.inspector.DeleteTask(tasks.QueueErase, p.TaskID())
	if errors.Is(err, asynq.ErrTaskNotFound) {
		return nil
	}
	return err
}

// NewUserErase builds the user:erase handler from d. Without Redis (a test
// that registers handlers only) every erasure is dead-lettered as not
// configured.
func NewUserErase(d Deps) *UserErase {
	if d.Redis == nil || d.Identity == nil || d.Locks == nil || d.Store == nil {
		return &UserErase{}
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	store := erasure.NewStore(d.Redis)
	store.Now = d.Now
	ex := &erasure.Executor{
		Store: store, Objects: d.Store,
		Aliases: d.Identity.Aliases, Tombstone: d.Identity.SetTombstone,
		ReceiptKey: d.ReceiptKey, Now: d.Now, Log: d.Log,
	}
	// Assigned one by one: an interface holding a nil client is not nil.
	if d.Artifi != nil {
		ex.Artifi = d.Artifi
	}
	if d.Bigin != nil {
		ex.Bigin = d.Bigin
	}
	if d.BPM != nil {
		ex.BPM = d.BPM
	}
	return &UserErase{Exec: ex, Locks: d.Locks, Next: NewContinuer(d.Redis), Now: d.Now}
}
