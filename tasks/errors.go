package tasks

import "strings"

// ValidationError is one problem with one payload field. Validate, NewXTask
// and the Client's Enqueue methods return it (possibly several, joined) so
// that a producer can tell bad input from a Redis failure with errors.As and
// show the field to whoever sent it.
type ValidationError struct {
	Field   string // JSON name of the field, e.g. "photo_id"
	Problem string // e.g. "required"
}

func (e *ValidationError) Error() string { return e.Field + ": " + e.Problem }

// fieldErrors collects every problem of one payload, so a producer learns all
// of them at once instead of fixing one per round trip.
type fieldErrors []error

func (fe fieldErrors) Error() string {
	parts := make([]string, len(fe))
	for i, e := range fe {
		parts[i] = e.Error()
	}
	// One line: these messages end up in logs and CLI output.
	return strings.Join(parts, "; ")
}

func (fe fieldErrors) Unwrap() []error { return fe }

func (fe *fieldErrors) add(field, problem string) {
	*fe = append(*fe, &ValidationError{Field: field, Problem: problem})
}

// err returns nil when there is nothing to report, never a typed nil.
func (fe fieldErrors) err() error {
	if len(fe) == 0 {
		return nil
	}
	return fe
}
