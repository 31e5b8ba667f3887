package tasks_test

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/lifecycle-worker/lifecycle/tasks"
)

func TestAssetsSweepPayloadValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		p    tasks.AssetsSweepPayload
		want []tasks.ValidationError
		// wantTaskErr: NewAssetsSweepTask also requires a sweep id.
		wantTaskErr bool
	}{
		{"scheduled (id from the firing)", tasks.AssetsSweepPayload{}, nil, true},
		{"manual", tasks.AssetsSweepPayload{SweepID: "manual-1", DryRun: true}, nil, false},
		{"purge", tasks.AssetsSweepPayload{SweepID: "p-1", Mode: "purge"}, nil, false},
		{"unknown mode", tasks.AssetsSweepPayload{SweepID: "s", Mode: "nuke"},
			ve("mode", `unknown "nuke" (want quarantine, purge)`), true},
		{"id with a slash", tasks.AssetsSweepPayload{SweepID: "a/b"},
			ve("sweep_id", `invalid character '/' at byte 1 (allowed: A-Z a-z 0-9 . _ @ -)`), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if diff := cmp.Diff(tt.want, problems(tt.p.Validate())); diff != "" {
				t.Errorf("Validate() problems (-want, +got):\n%s", diff)
			}
			_, err := tasks.NewAssetsSweepTask(tt.p)
			if (err != nil) != tt.wantTaskErr {
				t.Errorf("NewAssetsSweepTask() error = %v, want an error: %v", err, tt.wantTaskErr)
			}
		})
	}
}

func ExampleNewAssetsSweepTask() {
	task, err := tasks.NewAssetsSweepTask(tasks.AssetsSweepPayload{SweepID: "before-migration", DryRun: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(task.Type(), string(task.Payload()))
	// Output: assets:sweep {"sweep_id":"before-migration","dry_run":true}
}
