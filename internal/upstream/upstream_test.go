package upstream

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/lifecycle-worker/lifecycle/internal/errclass"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"7", 7 * time.Second},
		{"-1", 0},
		{"soon", 0},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0},
	}
	for _, tt := range tests {
		if got := ParseRetryAfter(tt.in, now); got != tt.want {
			t.Errorf("ParseRetryAfter(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestClassifyStatus(t *testing.T) {
	base := errors.New("upstream said no")
	tests := []struct {
		status     int
		retryAfter string
		class      errclass.Class
		delay      time.Duration
		throttled  bool
	}{
		{429, "3", errclass.Retry, 3 * time.Second, true},
		{503, "5", errclass.Retry, 5 * time.Second, false},
		{500, "", errclass.Retry, 0, false},
		{408, "", errclass.Retry, 0, false},
		{400, "", errclass.Permanent, 0, false},
		{404, "", errclass.Permanent, 0, false},
	}
	for _, tt := range tests {
		resp := &http.Response{StatusCode: tt.status, Header: http.Header{}}
		if tt.retryAfter != "" {
			resp.Header.Set("Retry-After", tt.retryAfter)
		}
		err := ClassifyStatus(base, resp, time.Now())
		d, _ := errclass.Delay(err)
		if errclass.Of(err) != tt.class || d != tt.delay || errclass.IsThrottled(err) != tt.throttled {
			t.Errorf("status %d: class %s delay %v throttled %v, want %s %v %v",
				tt.status, errclass.Of(err), d, errclass.IsThrottled(err), tt.class, tt.delay, tt.throttled)
		}
	}
}
