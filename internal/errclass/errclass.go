// Package errclass is the one place that decides what an upstream or storage
// error means for a task: try again, give up, or treat as done.
//
// Clients wrap the errors they return with Permanent, Gone, RetryAfter or
// Throttled; anything left unwrapped (network errors, timeouts, 5xx) is
// retryable, because an unknown failure is far more often transient than a
// bug, and a wrong "permanent" loses work while a wrong "retry" only costs time.
// The asynq wiring (handlers middleware and the server's RetryDelayFunc and
// IsFailure) reads these classes; the domain never decides retries itself.
package errclass

import (
	"errors"
	"time"
)

// ErrNotConfigured is why work for an upstream system that this worker has
// no client for fails: permanently, so that it waits in the dead-letter queue
// until the system is configured and the task is retried from there.
var ErrNotConfigured = errors.New("system not configured on this worker")

// Class is what a failure means for the task that met it.
type Class string

const (
	// Retry: transient; run the task again later.
	Retry Class = "retry"
	// Permanent: bad input or misconfiguration; retrying cannot help, so the
	// task goes straight to the dead-letter queue with this error as reason.
	Permanent Class = "permanent"
	// AlreadyGone: the thing to delete or move is not there any more; the
	// task succeeded, and is recorded as "already gone".
	AlreadyGone Class = "already_gone"
	// Unconfirmed: the upstream answered something that proves neither
	// success nor absence: an answer no seed documents, or a "gone" that
	// rests on an assumption. Callers retry it a bounded number of times and
	// then surface it for a person; it is never taken as done. A task that
	// meets it fails without silent retries (handlers treat it as permanent).
	Unconfirmed Class = "unconfirmed"
)

type classified struct {
	err       error
	class     Class
	delay     time.Duration // zero: use the default backoff
	throttled bool          // a rate limit, not a failure of ours
}

func (c *classified) Error() string { return c.err.Error() }
func (c *classified) Unwrap() error { return c.err }

// AsPermanent marks err as permanent. It returns nil for a nil err.
func AsPermanent(err error) error { return wrap(err, Permanent, 0, false) }

// AsUnconfirmed marks err as an answer that proves neither success nor
// absence (see Unconfirmed).
func AsUnconfirmed(err error) error { return wrap(err, Unconfirmed, 0, false) }

// AsGone marks err as meaning "the target is already absent".
func AsGone(err error) error { return wrap(err, AlreadyGone, 0, false) }

// RetryAfter marks err as retryable no sooner than d (a 503 with Retry-After,
// say). A non-positive d means the task type's own backoff.
func RetryAfter(err error, d time.Duration) error { return wrap(err, Retry, d, false) }

// Throttled marks err as an upstream rate limit (429): retried after d without
// counting against the task's retry budget, because being told to slow down
// says nothing about whether the task can succeed.
func Throttled(err error, d time.Duration) error { return wrap(err, Retry, d, true) }

func wrap(err error, c Class, d time.Duration, throttled bool) error {
	if err == nil {
		return nil
	}
	return &classified{err: err, class: c, delay: d, throttled: throttled}
}

// Of returns the class of err: the outermost classification wins, and an
// unclassified error is Retry. Of(nil) is "" (no failure).
func Of(err error) Class {
	if err == nil {
		return ""
	}
	var c *classified
	if errors.As(err, &c) {
		return c.class
	}
	return Retry
}

// Delay is the wait the upstream asked for, if any.
func Delay(err error) (time.Duration, bool) {
	var c *classified
	if errors.As(err, &c) && c.delay > 0 {
		return c.delay, true
	}
	return 0, false
}

// IsThrottled reports whether err is an upstream rate limit.
func IsThrottled(err error) bool {
	var c *classified
	return errors.As(err, &c) && c.throttled
}
