package storage

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/minio/minio-go/v7"

	"github.com/lifecycle-worker/lifecycle/internal/errclass"
)

// What the S3 server says decides whether the task retries; a wrong
// "permanent" loses an erasure, a wrong "retry" loops on a dead bucket.
func TestS3ErrorClasses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want errclass.Class
	}{
		{"NoSuchKey", minio.ErrorResponse{Code: "NoSuchKey", StatusCode: 404}, errclass.AlreadyGone},
		{"AccessDenied", minio.ErrorResponse{Code: "AccessDenied", StatusCode: 403}, errclass.Permanent},
		{"BadSignature", minio.ErrorResponse{Code: "SignatureDoesNotMatch", StatusCode: 403}, errclass.Permanent},
		{"NoSuchBucket", minio.ErrorResponse{Code: "NoSuchBucket", StatusCode: 404}, errclass.Permanent},
		{"OtherClientError", minio.ErrorResponse{Code: "InvalidRequest", StatusCode: 400}, errclass.Permanent},
		{"SlowDown", minio.ErrorResponse{Code: "SlowDown", StatusCode: 503}, errclass.Retry},
		{"InternalError", minio.ErrorResponse{Code: "InternalError", StatusCode: 500}, errclass.Retry},
		{"RequestTimeout", minio.ErrorResponse{Code: "RequestTimeout", StatusCode: 408}, errclass.Retry},
		{"TooManyRequests", minio.ErrorResponse{Code: "TooManyRequests", StatusCode: 429}, errclass.Retry},
		{"ConnectionRefused", &net.OpError{Op: "dial", Err: errors.New("connection refused")}, errclass.Retry},
		{"Canceled", fmt.Errorf("put: %w", context.Canceled), errclass.Retry},
	}
	s := &s3Store{}
	got := map[string]errclass.Class{}
	want := map[string]errclass.Class{}
	for _, tt := range tests {
		got[tt.name] = errclass.Of(s.classify("stat", "users/1/a", tt.err))
		want[tt.name] = tt.want
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("classes (-want +got):\n%s", diff)
	}
	if !errclass.IsThrottled(s.classify("get", "k", minio.ErrorResponse{Code: "TooManyRequests", StatusCode: 429})) {
		t.Error("a 429 is not marked throttled")
	}
	if err := s.classify("stat", "users/1/a", minio.ErrorResponse{Code: "NoSuchKey", StatusCode: 404}); !errors.Is(err, ErrNotFound) {
		t.Errorf("NoSuchKey = %v, want ErrNotFound", err)
	}
}

// A DeleteMany is permanent only when every key failed permanently: one
// retryable failure means the retry can still delete something.
func TestDeleteErrorClass(t *testing.T) {
	t.Parallel()
	permanent := errclass.AsPermanent(errors.New("access denied"))
	transient := errors.New("connection reset")
	tests := []struct {
		name   string
		failed []KeyFailure
		want   errclass.Class
	}{
		{"None", nil, ""},
		{"AllPermanent", []KeyFailure{{"a", permanent}, {"b", permanent}}, errclass.Permanent},
		{"PermanentFirst", []KeyFailure{{"a", permanent}, {"b", transient}}, errclass.Retry},
		{"TransientFirst", []KeyFailure{{"a", transient}, {"b", permanent}}, errclass.Retry},
	}
	for _, tt := range tests {
		if got := errclass.Of(deleteError(tt.failed, 10)); got != tt.want {
			t.Errorf("%s: class %q, want %q", tt.name, got, tt.want)
		}
	}
	many := make([]KeyFailure, 1000)
	for i := range many {
		many[i] = KeyFailure{Key: fmt.Sprintf("users/1/%d", i), Err: transient}
	}
	want := `storage: delete failed for 1000 of 1000 keys; "users/1/0": connection reset; "users/1/1": connection reset; ` +
		`"users/1/2": connection reset; "users/1/3": connection reset; "users/1/4": connection reset; and 995 more`
	if diff := cmp.Diff(want, deleteError(many, 1000).Error()); diff != "" {
		t.Errorf("message of a failed batch (-want +got):\n%s", diff)
	}
}
