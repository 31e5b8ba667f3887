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
// "permanent" loses an erasure, a wrong "retry" loops on a dead bucket. A
// refusal a person must fix (a policy, a quota) is retried and reported as
// degraded, so that a fault of a minute does not dead-letter every task.
func TestS3ErrorClasses(t *testing.T) {
	t.Parallel()
	type result struct {
		Class errclass.Class
		Cause string // Degradation: what Options.Degraded is told
	}
	tests := []struct {
		name string
		err  error
		want result
	}{
		{"NoSuchKey", minio.ErrorResponse{Code: "NoSuchKey", StatusCode: 404}, result{errclass.AlreadyGone, ""}},
		{"AccessDenied", minio.ErrorResponse{Code: "AccessDenied", StatusCode: 403}, result{errclass.Retry, CausePermission}},
		{"AllAccessDisabled", minio.ErrorResponse{Code: "AllAccessDisabled", StatusCode: 403}, result{errclass.Retry, CausePermission}},
		{"ExpiredToken", minio.ErrorResponse{Code: "ExpiredToken", StatusCode: 400}, result{errclass.Retry, CausePermission}},
		{"Other403", minio.ErrorResponse{Code: "Forbidden", StatusCode: 403}, result{errclass.Retry, CausePermission}},
		{"BadSignature", minio.ErrorResponse{Code: "SignatureDoesNotMatch", StatusCode: 403}, result{errclass.Permanent, ""}},
		{"UnknownAccessKey", minio.ErrorResponse{Code: "InvalidAccessKeyId", StatusCode: 403}, result{errclass.Permanent, ""}},
		{"QuotaExceeded", minio.ErrorResponse{Code: "QuotaExceeded", StatusCode: 403}, result{errclass.Retry, CauseQuota}},
		{"MinioBucketQuota", minio.ErrorResponse{Code: "XMinioAdminBucketQuotaExceeded", StatusCode: 400}, result{errclass.Retry, CauseQuota}},
		{"MinioStorageFull", minio.ErrorResponse{Code: "XMinioStorageFull", StatusCode: 507}, result{errclass.Retry, CauseQuota}},
		{"NoSuchBucket", minio.ErrorResponse{Code: "NoSuchBucket", StatusCode: 404}, result{errclass.Permanent, ""}},
		{"InvalidKey", minio.ErrorResponse{Code: "KeyTooLongError", StatusCode: 400}, result{errclass.Permanent, ""}},
		{"OtherClientError", minio.ErrorResponse{Code: "InvalidRequest", StatusCode: 400}, result{errclass.Permanent, ""}},
		{"SlowDown", minio.ErrorResponse{Code: "SlowDown", StatusCode: 503}, result{errclass.Retry, ""}},
		{"InternalError", minio.ErrorResponse{Code: "InternalError", StatusCode: 500}, result{errclass.Retry, ""}},
		{"RequestTimeout", minio.ErrorResponse{Code: "RequestTimeout", StatusCode: 408}, result{errclass.Retry, ""}},
		{"TooManyRequests", minio.ErrorResponse{Code: "TooManyRequests", StatusCode: 429}, result{errclass.Retry, ""}},
		{"ConnectionRefused", &net.OpError{Op: "dial", Err: errors.New("connection refused")}, result{errclass.Retry, ""}},
		{"Canceled", fmt.Errorf("put: %w", context.Canceled), result{errclass.Retry, ""}},
	}
	s := &s3Store{}
	got := map[string]result{}
	want := map[string]result{}
	for _, tt := range tests {
		err := s.classify("stat", "users/1/a", tt.err)
		got[tt.name] = result{errclass.Of(err), Degradation(err)}
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

// A call refused for a degraded store tells Options.Degraded once, with its
// cause; other failures do not.
func TestS3DegradedIsReported(t *testing.T) {
	t.Parallel()
	var causes []string
	s := &s3Store{degraded: func(c string) { causes = append(causes, c) }}
	ctx := context.Background()
	_ = s.fail(ctx, "put", "users/1/a", minio.ErrorResponse{Code: "AccessDenied", StatusCode: 403})
	_ = s.fail(ctx, "put", "users/1/a", minio.ErrorResponse{Code: "InternalError", StatusCode: 500})
	_ = s.fail(ctx, "put", "users/1/a", minio.ErrorResponse{Code: "XMinioStorageFull", StatusCode: 507})
	if diff := cmp.Diff([]string{CausePermission, CauseQuota}, causes); diff != "" {
		t.Errorf("reported causes (-want +got):\n%s", diff)
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
