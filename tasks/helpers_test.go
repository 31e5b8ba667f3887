package tasks_test

import (
	"github.com/lifecycle-worker/lifecycle/tasks"
)

// problems flattens every *ValidationError inside err, in order.
func problems(err error) []tasks.ValidationError {
	var out []tasks.ValidationError
	var walk func(error)
	walk = func(e error) {
		if ve, ok := e.(*tasks.ValidationError); ok {
			out = append(out, *ve)
			return
		}
		switch u := e.(type) {
		case interface{ Unwrap() []error }:
			for _, x := range u.Unwrap() {
				walk(x)
			}
		case interface{ Unwrap() error }:
			if x := u.Unwrap(); x != nil {
				walk(x)
			}
		}
	}
	if err != nil {
		walk(err)
	}
	return out
}

// ve is shorthand for a table's expected problems.
func ve(fieldProblem ...string) []tasks.ValidationError {
	var out []tasks.ValidationError
	for i := 0; i+1 < len(fieldProblem); i += 2 {
		out = append(out, tasks.ValidationError{Field: fieldProblem[i], Problem: fieldProblem[i+1]})
	}
	return out
}

// Payloads that several tests send.
var (
	photoPayload = tasks.PhotoDeletePayload{System: tasks.SystemBigin, UserID: "u-1", Module: tasks.BiginContacts, RecordID: "42", RequestID: "r-1"}
	mergePayload = tasks.UserMergePayload{GuestID: "g-1", UserID: "u-1", RequestID: "order-9"}
)
