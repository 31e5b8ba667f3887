package storage_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/lifecycle-worker/lifecycle/internal/errclass"
	"github.com/lifecycle-worker/lifecycle/internal/storage"
)

func TestParseURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		raw  string
		want storage.Location
		log  string // String()
	}{
		{"file:///var/lib/lifecycle", storage.Location{Scheme: "file", Path: "/var/lib/lifecycle"}, "file:///var/lib/lifecycle"},
		{"file:///var/lib/lifecycle/", storage.Location{Scheme: "file", Path: "/var/lib/lifecycle"}, "file:///var/lib/lifecycle"},
		{"s3://photos?endpoint=localhost:7070&secure=false&region=eu-west-1",
			storage.Location{Scheme: "s3", Bucket: "photos", Endpoint: "localhost:7070", Region: "eu-west-1"},
			"s3://photos@localhost:7070"},
		{"s3://photos", storage.Location{Scheme: "s3", Bucket: "photos", Endpoint: storage.DefaultS3Endpoint, Secure: true},
			"s3://photos@s3.amazonaws.com"},
	}
	for _, tt := range tests {
		got, err := storage.ParseURL(tt.raw)
		if err != nil {
			t.Errorf("ParseURL(%q): %v", tt.raw, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("ParseURL(%q) (-want +got):\n%s", tt.raw, diff)
		}
		if diff := cmp.Diff(tt.log, got.String()); diff != "" {
			t.Errorf("ParseURL(%q).String() (-want +got):\n%s", tt.raw, diff)
		}
	}
}

// Each mistake is named, so that a wrong setting is fixed from the message.
func TestParseURLErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		raw  string
		want string
	}{
		{"", "empty"},
		{"/var/lib", "no scheme"},
		{"gs://bucket", `unknown scheme "gs"`},
		{"file:relative/dir", "not absolute"},
		{"file://host/dir", `file host "host"`},
		{"file:///dir?x=1", "takes no parameters"},
		{"s3://", "missing bucket"},
		{"s3://?endpoint=localhost:7070", "missing bucket"},
		{"s3://Bad_Bucket", `bucket "Bad_Bucket"`},
		{"s3://bkt/some/path", `path "/some/path"`},
		{"s3://bkt?endpoint=localhost", `endpoint "localhost": want host:port`},
		{"s3://bkt?endpoint=localhost:7070&secure=maybe", `secure "maybe"`},
		{"s3://bkt?endpont=localhost:7070", `unknown parameter "endpont"`},
		{"s3://bkt?region=a&region=b", `"region" given 2 times`},
		{"s3://AKIA:topsecret@bkt", "credentials do not belong in the URL"},
	}
	for _, tt := range tests {
		_, err := storage.ParseURL(tt.raw)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseURL(%q) = %v, want an error containing %q", tt.raw, err, tt.want)
			continue
		}
		if strings.Contains(err.Error(), "topsecret") {
			t.Errorf("ParseURL(%q) error repeats the secret: %v", tt.raw, err)
		}
		if errclass.Of(err) != errclass.Permanent {
			t.Errorf("ParseURL(%q) class = %q, want permanent", tt.raw, errclass.Of(err))
		}
	}
}
