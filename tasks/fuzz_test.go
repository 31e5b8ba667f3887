package tasks_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/hibiken/asynq"

	"github.com/lifecycle-worker/lifecycle/tasks"
)

// The fuzz targets of the producer contract. Seeds are in
// testdata/fuzz/<target>; `make test-fuzz` runs each for a few seconds, and
// `go test` runs the seeds as ordinary tests.

// fuzzDecode checks that whatever a payload holds, Decode either refuses it
// (never retried) or returns a payload that is valid, that builds its task,
// and that reads back the same.
//
// build may complete p (as the scheduler does) before building the task.
func fuzzDecode[P any, PP interface {
	*P
	tasks.Validator
}](t *testing.T, typ string, payload []byte, build func(*P) (*asynq.Task, error)) {
	p, err := tasks.Decode[P, PP](asynq.NewTask(typ, payload))
	if err != nil {
		if !strings.Contains(err.Error(), "skip retry") {
			t.Fatalf("Decode refused %q without SkipRetry: %v", payload, err)
		}
		return
	}
	if err := PP(&p).Validate(); err != nil {
		t.Fatalf("Decode accepted %q, Validate refuses it: %v", payload, err)
	}
	task, err := build(&p)
	if err != nil {
		t.Fatalf("Decode accepted %q, its task cannot be built: %v", payload, err)
	}
	again, err := tasks.Decode[P, PP](task)
	if err != nil {
		t.Fatalf("the task built from %q does not decode: %v", payload, err)
	}
	// An empty list and an absent one mean the same (no Bigin records, say);
	// the encoding leaves empty lists out.
	if diff := cmp.Diff(p, again, cmpopts.EquateEmpty()); diff != "" {
		t.Fatalf("round trip of %q (-first +again):\n%s", payload, diff)
	}
}

func FuzzDecodePhotoDelete(f *testing.F) {
	f.Add([]byte(`{"system":"storage","user_id":"u-1","key":"users/u-1/a.jpg"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		fuzzDecode[tasks.PhotoDeletePayload](t, tasks.TypePhotoDelete, b, func(p *tasks.PhotoDeletePayload) (*asynq.Task, error) {
			return tasks.NewPhotoDeleteTask(*p)
		})
	})
}

func FuzzDecodeUserMerge(f *testing.F) {
	f.Add([]byte(`{"guest_id":"g-1","user_id":"u-1"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		fuzzDecode[tasks.UserMergePayload](t, tasks.TypeUserMerge, b, func(p *tasks.UserMergePayload) (*asynq.Task, error) {
			return tasks.NewUserMergeTask(*p)
		})
	})
}

func FuzzDecodeUserErase(f *testing.F) {
	f.Add([]byte(`{"request_id":"gdpr-1","user_id":"u-1","filed_by":"dpo-1","filed_at":"2026-11-20T09:00:00Z"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		fuzzDecode[tasks.UserErasePayload](t, tasks.TypeUserErase, b, func(p *tasks.UserErasePayload) (*asynq.Task, error) {
			if p.Slice < 0 || p.Slice > tasks.MaxSlice {
				t.Fatalf("slice %d accepted", p.Slice)
			}
			return tasks.NewUserEraseTask(*p)
		})
	})
}

func FuzzDecodeAssetsSweep(f *testing.F) {
	f.Add([]byte(`{"sweep_id":"manual-1","mode":"purge","dry_run":true}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		fuzzDecode[tasks.AssetsSweepPayload](t, tasks.TypeAssetsSweep, b, func(p *tasks.AssetsSweepPayload) (*asynq.Task, error) {
			if p.SweepID == "" {
				p.SweepID = "scheduled" // the scheduler's case: no id in the payload
			}
			return tasks.NewAssetsSweepTask(*p)
		})
	})
}
