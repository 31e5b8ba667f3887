package handlers

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hibiken/asynq"
	"github.com/rs/zerolog"

	"github.com/lifecycle-worker/lifecycle/internal/errclass"
	"github.com/lifecycle-worker/lifecycle/internal/sweep"
	"github.com/lifecycle-worker/lifecycle/tasks"
)

// fakeSweeper records calls and returns err.
type fakeSweeper struct {
	calls []string
	err   error
}

var _ Sweeper = (*fakeSweeper)(nil)

func (f *fakeSweeper) Sweep(ctx context.Context, id string, dryRun bool) (sweep.Report, error) {
	f.calls = append(f.calls, "sweep "+id+map[bool]string{true: " dry", false: ""}[dryRun])
	return sweep.Report{SweepID: id}, f.err
}

func (f *fakeSweeper) Purge(ctx context.Context, owner string, dryRun bool) (sweep.PurgeResult, error) {
	f.calls = append(f.calls, "purge "+owner)
	return sweep.PurgeResult{}, f.err
}

func TestAssetsSweepOutcomes(t *testing.T) {
	tests := []struct {
		name      string
		payload   string
		err       error
		wantCalls []string
		wantClass errclass.Class
	}{
		{"sweep", `{"sweep_id":"s-1"}`, nil, []string{"sweep s-1"}, ""},
		{"dry run", `{"sweep_id":"s-1","dry_run":true}`, nil, []string{"sweep s-1 dry"}, ""},
		{"purge", `{"sweep_id":"p-1","mode":"purge"}`, nil, []string{"purge p-1"}, ""},
		// Another sweep runs: this firing is skipped, not retried.
		{"busy", `{"sweep_id":"s-1"}`, &sweep.BusyError{Holder: "s-0"}, []string{"sweep s-1"}, ""},
		// ...unless it is this sweep's own crashed attempt: retried once its
		// lease has run out, to resume.
		{"own lock", `{"sweep_id":"s-1"}`, &sweep.BusyError{Holder: "s-1"}, []string{"sweep s-1"}, errclass.Retry},
		// The safety limit: dead-lettered at once for a person to look at.
		{"tripped", `{"sweep_id":"s-1"}`, sweep.ErrTripped, []string{"sweep s-1"}, errclass.Permanent},
		{"storage down", `{"sweep_id":"s-1"}`, errors.New("connection refused"), []string{"sweep s-1"}, errclass.Retry},
		{"bad mode", `{"sweep_id":"s-1","mode":"nuke"}`, nil, nil, errclass.Permanent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeSweeper{err: tt.err}
			h := &AssetsSweep{Sweeper: f, Log: zerolog.Nop()}
			err := h.ProcessTask(t.Context(), asynq.NewTask(tasks.TypeAssetsSweep, []byte(tt.payload)))
			if diff := cmp.Diff(tt.wantCalls, f.calls); diff != "" {
				t.Errorf("calls (-want +got):\n%s", diff)
			}
			if got := classOf(err); got != tt.wantClass {
				t.Errorf("error %v classed %q, want %q", err, got, tt.wantClass)
			}
		})
	}
}

func TestSweepIDFromTaskID(t *testing.T) {
	if got, want := SweepIDFromTaskID("periodic:assets-sweep:1764298800"), "periodic-assets-sweep-1764298800"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if err := (tasks.AssetsSweepPayload{SweepID: SweepIDFromTaskID("periodic:assets-sweep:1764298800")}).Validate(); err != nil {
		t.Errorf("derived id is not a valid sweep_id: %v", err)
	}
}
