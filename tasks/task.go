package tasks

import (
	"encoding/json"
	"fmt"

	"github.com/hibiken/asynq"
)

// invalid wraps a payload's validation errors with the task type, keeping
// them reachable with errors.As(err, new(*ValidationError)).
func invalid(typ string, err error) error {
	return fmt.Errorf("%s: invalid payload: %w", typ, err)
}

// newTask builds a task from an already validated payload, with an empty
// headers map that Client fills (see WithHeaders).
func newTask(s spec, id string, payload any, opts []asynq.Option) (*asynq.Task, error) {
	b, err := json.Marshal(payload)
	if err != nil {
		return nil, fmt.Errorf("%s: encode payload: %w", s.typ, err)
	}
	return asynq.NewTaskWithHeaders(s.typ, b, map[string]string{}, append(s.options(id), opts...)...), nil
}
