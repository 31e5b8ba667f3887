package handlers

import (
	"errors"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/lifecycle-worker/lifecycle/internal/errclass"
	"github.com/lifecycle-worker/lifecycle/tasks"
)

func TestRetryDelay(t *testing.T) {
	reset := errors.New("reset")
	tests := []struct {
		name     string
		typ      string
		n        int
		err      error
		min, max time.Duration
	}{
		{"Retry-After wins over the policy", tasks.TypeUserMerge, 5, errclass.RetryAfter(errors.New("503"), 42*time.Second), 42 * time.Second, 42 * time.Second},
		{"merge backoff", tasks.TypeUserMerge, 0, reset, 500 * time.Millisecond, time.Second},
		{"photo backoff", tasks.TypePhotoDelete, 0, reset, time.Second, 2 * time.Second},
		{"no policy: default backoff", "photo:undelete", 0, reset, time.Second, 2 * time.Second},
	}
	for _, tt := range tests {
		got := RetryDelay(tt.n, tt.err, asynq.NewTask(tt.typ, nil))
		if got < tt.min || got > tt.max {
			t.Errorf("%s: RetryDelay(%d) = %v, want %v-%v", tt.name, tt.n, got, tt.min, tt.max)
		}
	}
}
