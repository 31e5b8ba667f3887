package tasks

import "time"

// Policy is how the worker and the scheduler treat one task type: where its
// tasks queue, how often and how soon a failed one is retried, how long an
// attempt may run, and how long a finished task keeps its id (the dedup
// window). Each type file states its policy, with the reasons for its
// numbers, in its spec.
type Policy struct {
	Queue     string
	MaxRetry  int
	Timeout   time.Duration
	Retention time.Duration
	Backoff   Backoff
}

// Backoff spaces the retries of a failed task: Base doubling per retry up to
// Cap. asynq's own (Sidekiq's n^4+15s) waits 15-45 s before the first retry,
// too long for a customer waiting on a merge, and grows to days.
type Backoff struct{ Base, Cap time.Duration }

// Delay is the wait before retry n (from 0): Base*2^n capped at Cap, then
// jittered down by up to a half (jitter in [0, 1)) so that tasks failed
// together do not retry together.
func (b Backoff) Delay(n int, jitter float64) time.Duration {
	d := b.Cap
	if n < 40 && b.Base<<n < b.Cap && b.Base<<n > 0 {
		d = b.Base << n
	}
	return d - time.Duration(float64(d)/2*jitter)
}

// backoffDefault rides out long upstream outages without hammering the
// upstream: 2 s doubling to 6 h. It is the backoff of every type whose spec
// does not need a faster one, and of a type that has no spec.
var backoffDefault = Backoff{Base: 2 * time.Second, Cap: 6 * time.Hour}

// specs lists every task type's spec: a type missing here has no policy.
var specs = []spec{photoDeleteSpec, userMergeSpec, userEraseSpec, assetsSweepSpec, deadLetterArchiveSpec, webhookDeliverSpec, erasureAuditSpec}

// PolicyFor returns the policy of task type typ, and false for a type this
// package does not define.
func PolicyFor(typ string) (Policy, bool) {
	for _, s := range specs {
		if s.typ == typ {
			return s.Policy, true
		}
	}
	return Policy{}, false
}

// RetryDelay is the wait before retry n (from 0) of a task of type typ, by
// its policy's backoff, or by the default backoff for a type without one
// (a task that a schedule file names, say). jitter is as for Backoff.Delay.
func RetryDelay(n int, typ string, jitter float64) time.Duration {
	b := backoffDefault
	if p, ok := PolicyFor(typ); ok {
		b = p.Backoff
	}
	return b.Delay(n, jitter)
}
