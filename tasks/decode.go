package tasks

import (
	"encoding/json"
	"fmt"

	"github.com/hibiken/asynq"
)

// Validator is implemented by every payload type of this package.
type Validator interface {
	Validate() error
}

// Decode is the worker side of the contract: it unmarshals t's payload into a
// P and validates it. Both failures are wrapped with asynq.SkipRetry, because
// a payload that is garbage now is garbage on every retry: the task goes
// straight to the archive (asynq's dead-letter queue) with the reason, instead
// of burning its retries. Validation errors stay reachable with errors.As.
//
// P is a payload type, not a pointer: Decode[tasks.PhotoDeletePayload](t).
//
// Unknown JSON fields are accepted, not rejected. Producers and the worker
// are deployed separately; if a newer producer adds an optional field before
// the worker knows it, rejecting would archive valid deletions. Strictness
// lives on the producer side instead (typed structs and Validate), and a
// field that must not be ignored comes with a new type name.
func Decode[P any, PP interface {
	*P
	Validator
}](t *asynq.Task) (P, error) {
	var p P
	if err := json.Unmarshal(t.Payload(), &p); err != nil {
		var zero P
		return zero, fmt.Errorf("%s: decode payload: %w: %w", t.Type(), err, asynq.SkipRetry)
	}
	if err := PP(&p).Validate(); err != nil {
		var zero P
		return zero, fmt.Errorf("%s: invalid payload: %w: %w", t.Type(), err, asynq.SkipRetry)
	}
	return p, nil
}
