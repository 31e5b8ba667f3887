package integration

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/lifecycle-worker/lifecycle/integration/harness"
	"github.com/lifecycle-worker/lifecycle/internal/errclass"
	"github.com/lifecycle-worker/lifecycle/internal/storage"
	"github.com/lifecycle-worker/lifecycle/internal/storage/storagetest"
)

// The S3 backend against a real server that checks SigV4 signatures: each
// subtest of the conformance suite gets a bucket of its own.
func TestS3Conformance(t *testing.T) {
	s3 := harness.StartS3(t)
	creds := storage.Credentials{AccessKey: s3.AccessKey, SecretKey: s3.SecretKey}
	storagetest.Run(t, func(t *testing.T) storage.Store {
		s, err := storage.Open(t.Context(), s3.BucketURL(s3.NewBucket(t)), creds)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return s
	})
}

// A misconfigured store stops the program at start with one message that
// says what to fix.
func TestS3OpenErrors(t *testing.T) {
	s3 := harness.StartS3(t)
	good := storage.Credentials{AccessKey: s3.AccessKey, SecretKey: s3.SecretKey}

	s, err := storage.Open(t.Context(), s3.URL(), good)
	if err != nil {
		t.Fatalf("Open with the right settings: %v", err)
	}
	if want := "s3://lifecycle@" + s3.Endpoint; s.String() != want {
		t.Errorf("String() = %q, want %q", s.String(), want)
	}

	closed := closedPort(t)
	tests := []struct {
		name  string
		url   string
		creds storage.Credentials
		want  string
	}{
		{"WrongEndpoint", "s3://lifecycle?secure=false&endpoint=" + closed, good, "cannot connect to " + closed},
		{"WrongBucket", s3.BucketURL("no-such-bucket"), good, `bucket "no-such-bucket" does not exist`},
		{"WrongSecret", s3.URL(), storage.Credentials{AccessKey: s3.AccessKey, SecretKey: "wrong-secret"},
			"access denied to bucket \"lifecycle\", check LIFECYCLE_S3_ACCESS_KEY and LIFECYCLE_S3_SECRET_KEY"},
		{"WrongAccessKey", s3.URL(), storage.Credentials{AccessKey: "nobody", SecretKey: s3.SecretKey},
			"access denied to bucket \"lifecycle\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := storage.Open(context.Background(), tt.url, tt.creds)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Open = %v, want an error containing %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "wrong-secret") || strings.Contains(err.Error(), s3.SecretKey) {
				t.Errorf("error repeats a secret: %v", err)
			}
			if errclass.Of(err) != errclass.Permanent {
				t.Errorf("class = %q, want permanent", errclass.Of(err))
			}
			t.Logf("%s: %v", tt.name, err)
		})
	}
}

// closedPort is a localhost address where nothing listens.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}
