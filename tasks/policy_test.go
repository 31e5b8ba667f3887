package tasks_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lifecycle-worker/lifecycle/tasks"
)

// The policy table is what the worker and the scheduler run with: this test
// is the alarm for a number changed by accident.
func TestPolicies(t *testing.T) {
	t.Parallel()
	merge := tasks.Backoff{Base: time.Second, Cap: 5 * time.Minute}
	outage := tasks.Backoff{Base: 2 * time.Second, Cap: 6 * time.Hour}
	want := map[string]tasks.Policy{
		"photo:delete":        {Queue: "photo", MaxRetry: 20, Timeout: 2 * time.Minute, Retention: 24 * time.Hour, Backoff: outage},
		"user:merge":          {Queue: "merge", MaxRetry: 20, Timeout: 30 * time.Second, Retention: 24 * time.Hour, Backoff: merge},
		"user:erase":          {Queue: "erase", MaxRetry: 20, Timeout: 5 * time.Minute, Retention: 7 * 24 * time.Hour, Backoff: outage},
		"assets:sweep":        {Queue: "sweep", MaxRetry: 5, Timeout: 6 * time.Hour, Retention: 24 * time.Hour, Backoff: outage},
		"deadletters:archive": {Queue: "sweep", MaxRetry: 25, Timeout: 30 * time.Minute, Retention: time.Hour, Backoff: outage},
	}
	got := map[string]tasks.Policy{}
	for _, typ := range []string{tasks.TypePhotoDelete, tasks.TypeUserMerge, tasks.TypeUserErase, tasks.TypeAssetsSweep, tasks.TypeDeadLetterArchive} {
		p, ok := tasks.PolicyFor(typ)
		if !ok {
			t.Errorf("PolicyFor(%q): no policy", typ)
		}
		got[typ] = p
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("policies (-want, +got):\n%s", diff)
	}
	if p, ok := tasks.PolicyFor("photo:undelete"); ok {
		t.Errorf("PolicyFor of an unknown type = %+v, true; want false", p)
	}
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	policy := func(typ string) tasks.Policy {
		p, _ := tasks.PolicyFor(typ)
		return p
	}
	mergeBackoff := policy(tasks.TypeUserMerge).Backoff
	defaultBackoff := policy(tasks.TypePhotoDelete).Backoff
	tests := []struct {
		b      tasks.Backoff
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
		if got := tt.b.Delay(tt.n, tt.jitter); got != tt.want {
			t.Errorf("%+v.Delay(%d, %v) = %v, want %v", tt.b, tt.n, tt.jitter, got, tt.want)
		}
	}
	// The whole budget: what an operator can expect before a dead letter.
	total := func(p tasks.Policy) (d time.Duration) {
		for n := range p.MaxRetry {
			d += p.Backoff.Delay(n, 0)
		}
		return d
	}
	if got := total(policy(tasks.TypeUserMerge)); got < time.Hour || got > 90*time.Minute {
		t.Errorf("merge retries span %v, want about an hour", got)
	}
	if got := total(policy(tasks.TypePhotoDelete)); got < 40*time.Hour || got > 50*time.Hour {
		t.Errorf("photo retries span %v, want about 45 hours", got)
	}
}

func TestRetryDelay(t *testing.T) {
	t.Parallel()
	tests := []struct {
		typ  string
		n    int
		want time.Duration
	}{
		{tasks.TypeUserMerge, 0, time.Second},
		{tasks.TypeUserMerge, 9, 5 * time.Minute},
		{tasks.TypePhotoDelete, 0, 2 * time.Second},
		{tasks.TypeAssetsSweep, 19, 6 * time.Hour},
		{"photo:undelete", 0, 2 * time.Second}, // no policy: the default backoff
		{"photo:undelete", 19, 6 * time.Hour},
	}
	for _, tt := range tests {
		if got := tasks.RetryDelay(tt.n, tt.typ, 0); got != tt.want {
			t.Errorf("RetryDelay(%d, %q, 0) = %v, want %v", tt.n, tt.typ, got, tt.want)
		}
	}
}
