package sweep

import (
	"errors"
	"testing"

	"github.com/lifecycle-worker/lifecycle/internal/errclass"
)

func TestJobOutcome(t *testing.T) {
	tests := []struct {
		name        string
		err         error
		wantClass   errclass.Class
		wantSkipped bool
	}{
		{"done", nil, "", false},
		// Another sweep runs: this firing is skipped, not retried.
		{"busy", &BusyError{Holder: "s-0"}, "", true},
		// ...unless it is this sweep's own crashed attempt: retried once its
		// lease has run out, to resume.
		{"own lock", &BusyError{Holder: "s-1"}, errclass.Retry, false},
		// The safety limit: dead-lettered at once for a person to look at.
		{"tripped", ErrTripped, errclass.Permanent, false},
		{"storage down", errors.New("connection refused"), errclass.Retry, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err, skipped := jobOutcome("s-1", tt.err)
			if got := errclass.Of(err); got != tt.wantClass || skipped != tt.wantSkipped {
				t.Errorf("jobOutcome = %v (class %q), skipped %v; want class %q, skipped %v", err, got, skipped, tt.wantClass, tt.wantSkipped)
			}
		})
	}
	if d, ok := errclass.Delay(func() error { err, _ := jobOutcome("s-1", &BusyError{Holder: "s-1", Wait: 1e9}); return err }()); !ok || d <= 1e9 {
		t.Errorf("own lock retried after %v, want after the lease (1s) has run out", d)
	}
}
