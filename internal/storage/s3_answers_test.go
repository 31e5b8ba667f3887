package storage

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lifecycle-worker/lifecycle/internal/errclass"
)

// fakeS3 answers like an S3 server whose bucket "bkt" holds no objects, or,
// once removed, does not exist: a HEAD of a key then gets a 404 without a
// body either way, as S3 answers it; only a listing names the bucket. While
// held, it answers nothing, as a paused server: requests wait until the
// hold is released or the client gives up.
type fakeS3 struct {
	removed atomic.Bool
	held    atomic.Pointer[chan struct{}]
	arrived atomic.Int64 // requests received
}

func (f *fakeS3) hold() func() {
	c := make(chan struct{})
	f.held.Store(&c)
	return func() { f.held.Store(nil); close(c) }
}

const (
	emptyListing = `<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>bkt</Name><KeyCount>0</KeyCount><MaxKeys>1</MaxKeys><IsTruncated>false</IsTruncated></ListBucketResult>`
	noSuchBucket = `<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>NoSuchBucket</Code><Message>The specified bucket does not exist</Message><BucketName>bkt</BucketName></Error>`
)

func (f *fakeS3) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.arrived.Add(1)
	if c := f.held.Load(); c != nil {
		select {
		case <-*c:
		case <-r.Context().Done():
			return
		}
	}
	switch {
	case r.Method == http.MethodHead:
		w.WriteHeader(http.StatusNotFound)
	case r.Method == http.MethodGet && (r.URL.Path == "/bkt/" || r.URL.Path == "/bkt"):
		if f.removed.Load() {
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(noSuchBucket))
			return
		}
		w.Write([]byte(emptyListing))
	default:
		http.Error(w, "unexpected request", http.StatusNotImplemented)
	}
}

func openFake(t *testing.T, f *fakeS3, opts Options) Store {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	loc := Location{Scheme: "s3", Bucket: "bkt", Endpoint: strings.TrimPrefix(srv.URL, "http://"), Region: "us-east-1"}
	s, err := openS3(t.Context(), loc, opts)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return s
}

// A key that is not found is gone only while the bucket exists: once the
// bucket is removed, the same answer to a Stat is a permanent failure that
// names the bucket, and the process is told, so that it can alert.
func TestS3NotFoundCountsOnlyInAnExistingBucket(t *testing.T) {
	t.Parallel()
	f := &fakeS3{}
	var alerts []string
	s := openFake(t, f, Options{MissingBucket: func(b string) { alerts = append(alerts, b) }})

	type answer struct {
		NotFound, BucketMissing bool
		Class                   errclass.Class
	}
	look := func() answer {
		_, err := s.Stat(t.Context(), "users/1/a.jpg")
		return answer{errors.Is(err, ErrNotFound), errors.Is(err, ErrBucketMissing), errclass.Of(err)}
	}
	got := map[string]answer{"bucket present": look()}
	f.removed.Store(true)
	got["bucket removed"] = look()
	_, err := s.Stat(t.Context(), "users/1/a.jpg")

	want := map[string]answer{
		"bucket present": {NotFound: true, Class: errclass.AlreadyGone},
		"bucket removed": {BucketMissing: true, Class: errclass.Permanent},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Stat of a key not found (-want +got):\n%s", diff)
	}
	if !strings.Contains(err.Error(), `"bkt"`) {
		t.Errorf("error does not name the bucket: %v", err)
	}
	if diff := cmp.Diff([]string{"bkt", "bkt"}, alerts); diff != "" {
		t.Errorf("alerts (-want +got):\n%s", diff)
	}
}

// A store that stops answering fails the call, retryably and saying so,
// instead of holding the caller until its own deadline. Until it answers
// again, one request at a time asks it; the other calls fail at once, so
// that they do not hold worker slots either.
func TestS3StalledStoreFailsTheCall(t *testing.T) {
	t.Parallel()
	f := &fakeS3{}
	s := openFake(t, f, Options{Timeout: time.Second})
	release := f.hold()

	ctx, cancel := context.WithTimeout(t.Context(), time.Minute) // the task's
	defer cancel()
	_, err := s.Stat(ctx, "users/1/a.jpg")
	if err == nil || !strings.Contains(err.Error(), "did not answer within 1s") {
		t.Fatalf("Stat of a stalled store = %v, want it to say it did not answer", err)
	}
	if errclass.Of(err) != errclass.Retry || ctx.Err() != nil {
		t.Errorf("class %q with the task's context ended: %v; want retry, before it", errclass.Of(err), ctx.Err())
	}

	probe := make(chan error)
	before := f.arrived.Load()
	go func() {
		_, err := s.Stat(ctx, "users/1/b.jpg")
		probe <- err
	}()
	for f.arrived.Load() == before { // the probe is at the server
		time.Sleep(time.Millisecond)
	}
	_, err = s.Stat(ctx, "users/1/c.jpg")
	if !errors.Is(err, ErrStalled) || errclass.Of(err) != errclass.Retry {
		t.Errorf("Stat while the probe is out = %v (class %q), want ErrStalled, retry", err, errclass.Of(err))
	}
	if n := f.arrived.Load() - before; n != 1 {
		t.Errorf("%d requests reached the stalled server, want the probe alone", n)
	}

	release()
	if err := <-probe; !errors.Is(err, ErrNotFound) {
		t.Errorf("probe answered = %v, want ErrNotFound", err)
	}
	if _, err := s.Stat(ctx, "users/1/c.jpg"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Stat once the store answers again = %v, want ErrNotFound", err)
	}
}
