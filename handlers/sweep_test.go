package handlers

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hibiken/asynq"

	"github.com/lifecycle-worker/lifecycle/internal/errclass"
	"github.com/lifecycle-worker/lifecycle/internal/sweep"
	"github.com/lifecycle-worker/lifecycle/tasks"
)

// fakeSweeper records the jobs it is given.
type fakeSweeper struct{ jobs []sweep.Job }

func (f *fakeSweeper) Do(_ context.Context, j sweep.Job) error {
	f.jobs = append(f.jobs, j)
	return nil
}

func TestAssetsSweepJobs(t *testing.T) {
	tests := []struct {
		name      string
		payload   string
		wantJobs  []sweep.Job
		wantClass errclass.Class
	}{
		{"sweep", `{"sweep_id":"s-1"}`, []sweep.Job{{ID: "s-1"}}, ""},
		{"dry run", `{"sweep_id":"s-1","dry_run":true}`, []sweep.Job{{ID: "s-1", DryRun: true}}, ""},
		{"purge", `{"sweep_id":"p-1","mode":"purge"}`, []sweep.Job{{ID: "p-1", Purge: true}}, ""},
		{"bad mode", `{"sweep_id":"s-1","mode":"nuke"}`, nil, errclass.Permanent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeSweeper{}
			h := &AssetsSweep{Sweeper: f}
			err := h.ProcessTask(t.Context(), asynq.NewTask(tasks.TypeAssetsSweep, []byte(tt.payload)))
			if diff := cmp.Diff(tt.wantJobs, f.jobs); diff != "" {
				t.Errorf("jobs (-want +got):\n%s", diff)
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
