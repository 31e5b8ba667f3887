package storage

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// lockAnswers answers the three questions retained asks of a locked
// version (retention, legal hold, HEAD) as a server of the given kind does.
// Any request for another version than "v1" is a failure of the test: the
// lock of one version must never be read off another.
type lockAnswers struct {
	t         *testing.T
	retention string // body of GET ?retention; "" answers 501
	legalHold string // body of GET ?legal-hold; "" answers 501
	head      http.Header
}

func (a lockAnswers) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if got := r.URL.Query().Get("versionId"); got != "v1" {
		a.t.Errorf("%s %s asks of version %q, want v1", r.Method, r.URL, got)
	}
	reply := func(body string) {
		if body == "" {
			w.WriteHeader(http.StatusNotImplemented)
			w.Write([]byte(`<Error><Code>NotImplemented</Code><Message>not implemented</Message></Error>`))
			return
		}
		w.Write([]byte(body))
	}
	switch q := r.URL.Query(); {
	case r.Method == http.MethodGet && q.Has("retention"):
		reply(a.retention)
	case r.Method == http.MethodGet && q.Has("legal-hold"):
		reply(a.legalHold)
	case r.Method == http.MethodHead && a.head != nil:
		for k, v := range a.head {
			w.Header()[k] = v
		}
		w.Header().Set("Content-Length", "7")
		w.Header().Set("Last-Modified", time.Now().UTC().Format(http.TimeFormat))
		w.Header().Set("ETag", `"x"`)
	default:
		w.WriteHeader(http.StatusNotImplemented)
	}
}

// The retained step names the mode and until-date of the version the lock
// keeps, whichever way the server tells them, and names nothing it was not
// told.
func TestRetainedNamesTheVersionsLock(t *testing.T) {
	until := time.Date(2027, 12, 1, 10, 0, 0, 0, time.UTC)
	refusal := errors.New("AccessDenied: object is WORM protected")
	tests := []struct {
		name string
		a    lockAnswers
		want Retained
	}{
		{"S3 answers the retention", lockAnswers{
			retention: `<Retention xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Mode>COMPLIANCE</Mode><RetainUntilDate>2027-12-01T10:00:00Z</RetainUntilDate></Retention>`,
			legalHold: `<LegalHold xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Status>ON</Status></LegalHold>`,
		}, Retained{Key: "users/u/a.pdf", VersionID: "v1", Mode: "COMPLIANCE", Until: until, LegalHold: true}},
		{"versitygw: retention under another root, lock in the HEAD", lockAnswers{
			retention: `<ObjectLockRetention><Mode>GOVERNANCE</Mode><RetainUntilDate>2027-12-01T10:00:00Z</RetainUntilDate></ObjectLockRetention>`,
			legalHold: `<LegalHold xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Status>OFF</Status></LegalHold>`,
			head:      http.Header{"X-Amz-Object-Lock-Mode": {"GOVERNANCE"}, "X-Amz-Object-Lock-Retain-Until-Date": {"2027-12-01T10:00:00Z"}, "X-Amz-Object-Lock-Legal-Hold": {"OFF"}},
		}, Retained{Key: "users/u/a.pdf", VersionID: "v1", Mode: "GOVERNANCE", Until: until}},
		{"versitygw without the HEAD: its retention answer is not read", lockAnswers{
			retention: `<ObjectLockRetention><Mode>GOVERNANCE</Mode><RetainUntilDate>2027-12-01T10:00:00Z</RetainUntilDate></ObjectLockRetention>`,
			legalHold: `<LegalHold xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Status>OFF</Status></LegalHold>`,
		}, Retained{Key: "users/u/a.pdf", VersionID: "v1"}},
		{"legal hold told only by the HEAD", lockAnswers{
			head: http.Header{"X-Amz-Object-Lock-Legal-Hold": {"ON"}},
		}, Retained{Key: "users/u/a.pdf", VersionID: "v1", LegalHold: true}},
		{"nothing answered: the refusal alone", lockAnswers{}, Retained{Key: "users/u/a.pdf", VersionID: "v1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.a.t = t
			srv := httptest.NewServer(tt.a)
			t.Cleanup(srv.Close)
			loc := Location{Scheme: "s3", Bucket: "bkt", Endpoint: strings.TrimPrefix(srv.URL, "http://"), Region: "us-east-1"}
			client, _, err := newS3Client(loc, Credentials{AccessKey: "k", SecretKey: "s"}, 1, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			s := &s3Store{client: client, bucket: "bkt", loc: loc, timeout: 5 * time.Second}
			got := s.retained(context.Background(), version{Key: "users/u/a.pdf", ID: "v1"}, refusal)
			got.Answer = ""
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("retained (-want +got):\n%s", diff)
			}
		})
	}
}

// The error a photo deletion or a purge ends with names each kept key and
// what keeps it, and nothing it does not know.
func TestRetainedErrorNamesTheLock(t *testing.T) {
	until := time.Date(2027, 12, 1, 10, 0, 0, 0, time.UTC)
	err := &RetainedError{Retained: []Retained{
		{Key: "users/u/a.pdf", VersionID: "v1", Mode: "COMPLIANCE", Until: until},
		{Key: "users/u/b.pdf", VersionID: "v2", LegalHold: true},
		{Key: "users/u/c.pdf", VersionID: "v3"},
	}}
	want := `storage: retained by object lock: 3 versions; "users/u/a.pdf" COMPLIANCE until 2027-12-01T10:00:00Z; "users/u/b.pdf" legal hold; "users/u/c.pdf"`
	if got := err.Error(); got != want {
		t.Errorf("error = %q\nwant    %q", got, want)
	}
	if !errors.Is(err, ErrRetained) {
		t.Error("not ErrRetained")
	}
}
