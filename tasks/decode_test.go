package tasks_test

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hibiken/asynq"

	"github.com/lifecycle-worker/lifecycle/tasks"
)

func TestDecodeRoundTrip(t *testing.T) {
	t.Parallel()
	pt, err := tasks.NewPhotoDeleteTask(photoPayload)
	if err != nil {
		t.Fatal(err)
	}
	gotPhoto, err := tasks.Decode[tasks.PhotoDeletePayload](pt)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(photoPayload, gotPhoto); diff != "" {
		t.Errorf("photo (-want, +got):\n%s", diff)
	}
	mt, err := tasks.NewUserMergeTask(mergePayload)
	if err != nil {
		t.Fatal(err)
	}
	gotMerge, err := tasks.Decode[tasks.UserMergePayload](mt)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(mergePayload, gotMerge); diff != "" {
		t.Errorf("merge (-want, +got):\n%s", diff)
	}
}

func TestDecodeUnknownFieldsAccepted(t *testing.T) {
	t.Parallel()
	// A newer producer's optional field must not archive the task.
	task := asynq.NewTask(tasks.TypeUserMerge, []byte(`{"guest_id":"g","user_id":"u","added_later":true}`))
	got, err := tasks.Decode[tasks.UserMergePayload](task)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(tasks.UserMergePayload{GuestID: "g", UserID: "u"}, got); diff != "" {
		t.Errorf("(-want, +got):\n%s", diff)
	}
}

func TestDecodePoisonSkipsRetry(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		payload       string
		wantProblems  []tasks.ValidationError
		wantErrString string
	}{
		{"empty", ``, nil, "user:merge: decode payload: unexpected end of JSON input: skip retry for the task"},
		{"not json", `garbage`, nil, "user:merge: decode payload: invalid character 'g' looking for beginning of value: skip retry for the task"},
		{"trailing data", `{"guest_id":"g","user_id":"u"} x`, nil, "user:merge: decode payload: invalid character 'x' after top-level value: skip retry for the task"},
		{"wrong type", `{"guest_id":1,"user_id":"u"}`, nil, "user:merge: decode payload: json: cannot unmarshal number into Go struct field UserMergePayload.guest_id of type string: skip retry for the task"},
		{"null", `null`, ve("guest_id", "required", "user_id", "required"), "user:merge: invalid payload: guest_id: required; user_id: required: skip retry for the task"},
		{"invalid", `{"guest_id":"x","user_id":"x"}`, ve("user_id", "must differ from guest_id"), "user:merge: invalid payload: user_id: must differ from guest_id: skip retry for the task"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := tasks.Decode[tasks.UserMergePayload](asynq.NewTask(tasks.TypeUserMerge, []byte(tt.payload)))
			if !errors.Is(err, asynq.SkipRetry) {
				t.Fatalf("err = %v, want it to wrap asynq.SkipRetry", err)
			}
			if diff := cmp.Diff(tt.wantErrString, err.Error()); diff != "" {
				t.Errorf("message (-want, +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantProblems, problems(err)); diff != "" {
				t.Errorf("problems (-want, +got):\n%s", diff)
			}
			if diff := cmp.Diff(tasks.UserMergePayload{}, got); diff != "" {
				t.Errorf("payload on error should be zero (-want, +got):\n%s", diff)
			}
		})
	}
}
