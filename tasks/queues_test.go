package tasks_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/lifecycle-worker/lifecycle/tasks"
)

func TestQueues(t *testing.T) {
	t.Parallel()
	want := map[string]int{"merge": 6, "photo": 3, "erase": 2, "sweep": 1, "webhook": 1}
	got := tasks.QueueWeights()
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("QueueWeights() (-want, +got):\n%s", diff)
	}
	got["merge"] = 0 // a caller's change must not leak into the next call
	if diff := cmp.Diff(want, tasks.QueueWeights()); diff != "" {
		t.Errorf("QueueWeights() after a caller changed its copy (-want, +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"merge", "photo", "erase", "sweep", "webhook"}, tasks.Queues()); diff != "" {
		t.Errorf("Queues() (-want, +got):\n%s", diff)
	}
}

// The type strings are a wire contract: this test is the alarm for a rename.
func TestTypeNamesAreStable(t *testing.T) {
	t.Parallel()
	got := []string{tasks.TypePhotoDelete, tasks.TypeUserMerge, tasks.TypeUserErase, tasks.TypeAssetsSweep}
	want := []string{"photo:delete", "user:merge", "user:erase", "assets:sweep"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("type names changed (-want, +got):\n%s", diff)
	}
}
