package handlers

import (
	"errors"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/lifecycle-worker/lifecycle/internal/errclass"
	"github.com/lifecycle-worker/lifecycle/tasks"
)

func TestBackoff(t *testing.T) {
	tests := []struct {
		b      backoff
		n      int
		jitter float64
		want   time.Duration
	}{
		{mergeBackoff, 0, 0, time.Second},
		{mergeBackoff, 3, 0, 8 * time.Second},
		{mergeBackoff, 3, 1, 4 * time.Second}, // jitter takes at most half
		{mergeBackoff, 9, 0, 5 * time.Minute}, // 512 s capped
		{mergeBackoff, 200, 0, 5 * time.Minute},
		{defaultBackoff, 0, 0, 2 * time.Second},
		{defaultBackoff, 19, 0, 6 * time.Hour},
	}
	for _, tt := range tests {
		if got := tt.b.delay(tt.n, tt.jitter); got != tt.want {
			t.Errorf("%+v.delay(%d, %v) = %v, want %v", tt.b, tt.n, tt.jitter, got, tt.want)
		}
	}
	// The whole budget: what an operator can expect before a dead letter.
	total := func(b backoff) (d time.Duration) {
		for n := range 20 {
			d += b.delay(n, 0)
		}
		return d
	}
	if got := total(mergeBackoff); got < time.Hour || got > 90*time.Minute {
		t.Errorf("merge retries span %v, want about 75 minutes", got)
	}
	if got := total(defaultBackoff); got < 40*time.Hour || got > 50*time.Hour {
		t.Errorf("photo retries span %v, want about 45 hours", got)
	}
}

func TestRetryDelayPrefersUpstreamDelay(t *testing.T) {
	merge := asynq.NewTask(tasks.TypeUserMerge, nil)
	if got := RetryDelay(5, errclass.RetryAfter(errors.New("503"), 42*time.Second), merge); got != 42*time.Second {
		t.Errorf("with Retry-After 42s: %v", got)
	}
	if got := RetryDelay(0, errors.New("reset"), merge); got < 500*time.Millisecond || got > time.Second {
		t.Errorf("first merge retry in %v, want 0.5-1 s", got)
	}
}
