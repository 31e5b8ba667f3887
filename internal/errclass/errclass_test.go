package errclass

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestOf(t *testing.T) {
	base := errors.New("boom")
	tests := []struct {
		name      string
		err       error
		class     Class
		delay     time.Duration
		throttled bool
	}{
		{"nil is no failure", nil, "", 0, false},
		{"unclassified retries", base, Retry, 0, false},
		{"deadline retries", context.DeadlineExceeded, Retry, 0, false},
		{"permanent", AsPermanent(base), Permanent, 0, false},
		{"gone", AsGone(base), AlreadyGone, 0, false},
		{"retry after", RetryAfter(base, 3*time.Second), Retry, 3 * time.Second, false},
		{"throttled", Throttled(base, time.Second), Retry, time.Second, true},
		{"survives wrapping", fmt.Errorf("step: %w", AsPermanent(base)), Permanent, 0, false},
		{"outermost wins", AsPermanent(AsGone(base)), Permanent, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Of(tt.err); got != tt.class {
				t.Errorf("Of = %q, want %q", got, tt.class)
			}
			d, _ := Delay(tt.err)
			if d != tt.delay {
				t.Errorf("Delay = %v, want %v", d, tt.delay)
			}
			if got := IsThrottled(tt.err); got != tt.throttled {
				t.Errorf("IsThrottled = %v, want %v", got, tt.throttled)
			}
			if tt.err != nil && !errors.Is(tt.err, base) && tt.err != context.DeadlineExceeded {
				t.Errorf("classification hides the cause: %v", tt.err)
			}
		})
	}
	if AsPermanent(nil) != nil || AsGone(nil) != nil {
		t.Error("wrapping nil must stay nil")
	}
}
