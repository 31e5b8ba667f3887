package integration

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/minio/minio-go/v7"

	"github.com/lifecycle-worker/lifecycle/integration/harness"
	"github.com/lifecycle-worker/lifecycle/internal/erasure"
	"github.com/lifecycle-worker/lifecycle/internal/identity"
	"github.com/lifecycle-worker/lifecycle/internal/skeys"
	"github.com/lifecycle-worker/lifecycle/internal/storage"
	"github.com/lifecycle-worker/lifecycle/internal/storage/storagetest"
	"github.com/lifecycle-worker/lifecycle/internal/testutil"
)

// The conformance suite holds on a versioned bucket and on one with object
// lock too: there every delete removes versions one by one.
func TestS3ConformanceVersioned(t *testing.T) {
	t.Parallel()
	s3 := harness.StartS3Versioned(t)
	creds := storage.Credentials{AccessKey: s3.AccessKey, SecretKey: s3.SecretKey}
	for _, lock := range []bool{false, true} {
		name := "versioning"
		if lock {
			name = "object-lock"
		}
		t.Run(name, func(t *testing.T) {
			storagetest.Run(t, func(t *testing.T) storage.Store {
				s, err := storage.Open(t.Context(), s3.BucketURL(s3.NewVersionedBucket(t, lock)), creds)
				if err != nil {
					t.Fatal(err)
				}
				cfg, ok := storage.Describe(s)
				if want := (storage.BucketConfig{Versioning: "Enabled", ObjectLock: lock}); !ok || cfg != want {
					t.Fatalf("bucket config %+v, want %+v", cfg, want)
				}
				return s
			})
		})
	}
}

// versionsUnder lists every version, delete marker and unfinished upload
// under prefix, as the server reports them.
func versionsUnder(t *testing.T, c *minio.Client, bucket, prefix string) []string {
	t.Helper()
	var out []string
	for o := range c.ListObjectsIter(context.Background(), bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true, WithVersions: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		out = append(out, o.Key)
	}
	for u := range c.ListIncompleteUploads(context.Background(), bucket, prefix, true) {
		if u.Err != nil {
			t.Fatal(u.Err)
		}
		out = append(out, "upload:"+u.Key)
	}
	return out
}

// An erasure on a versioned bucket with object lock removes every version,
// delete marker and unfinished upload of the subject's objects; the one
// object under retention stays, is recorded retained with its lock, the
// request waits for a person, and once they confirm it the receipt names it.
func TestEraseVersionedBucket(t *testing.T) {
	ctx := context.Background()
	s3 := harness.StartS3Versioned(t)
	bucket := s3.NewVersionedBucket(t, true)
	s3.Bucket = bucket
	subject := eraseSubject{user: "u-ver", guest: "g-ver", photos: 2, guestPhotos: 1, bpmUser: "ver.user", requestID: "gdpr-ver-1"}
	b := &eraseBundle{redis: harness.StartRedis(t, nil), s: subject, s3: &s3}
	b.rdb = testutil.Client(t, b.redis.Addr)
	b.es = erasure.NewStore(b.rdb)
	b.set = harness.StartSimulators(t)
	b.set.Artifi.AddPhotos(subject.user, subject.photos)
	b.set.Artifi.AddPhotos(subject.guest, subject.guestPhotos)
	b.set.BPM.AddUser(subject.bpmUser, 4343, true)
	if err := identity.New(b.rdb).RecordMerge(ctx, subject.guest, subject.user); err != nil {
		t.Fatal(err)
	}
	c := s3.Client()
	put := func(key, body string, opts minio.PutObjectOptions) {
		t.Helper()
		if _, err := c.PutObject(ctx, bucket, key, strings.NewReader(body), int64(len(body)), opts); err != nil {
			t.Fatalf("put %s: %v", key, err)
		}
	}
	// Three versions of a photo; another photo deleted before (a delete
	// marker over its only version); a guest's photo in two versions.
	for i := range 3 {
		put("users/u-ver/photos/a.jpg", "version "+string(rune('0'+i)), minio.PutObjectOptions{})
	}
	put("users/u-ver/photos/b.jpg", "deleted before", minio.PutObjectOptions{})
	if err := c.RemoveObject(ctx, bucket, "users/u-ver/photos/b.jpg", minio.RemoveObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	put("users/g-ver/photos/c.jpg", "one", minio.PutObjectOptions{})
	put("users/g-ver/photos/c.jpg", "two", minio.PutObjectOptions{})
	// An upload that never finished: its part holds data.
	core := minio.Core{Client: c}
	uploadID, err := core.NewMultipartUpload(ctx, bucket, "users/u-ver/photos/big.jpg", minio.PutObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	part := bytes.Repeat([]byte("x"), 5<<20)
	if _, err := core.PutObjectPart(ctx, bucket, "users/u-ver/photos/big.jpg", uploadID, 1, bytes.NewReader(part), int64(len(part)), minio.PutObjectPartOptions{}); err != nil {
		t.Fatal(err)
	}
	// An invoice kept by law: retention until next year.
	until := time.Now().Add(365 * 24 * time.Hour).UTC().Truncate(time.Second)
	put("users/u-ver/invoices/2026.pdf", "invoice", minio.PutObjectOptions{Mode: minio.Compliance, RetainUntilDate: until})
	// Another user's photo survives.
	put("users/u-ver0/photos/keep.jpg", "neighbour", minio.PutObjectOptions{})

	b.worker(t)
	b.file(t)
	rec := b.waitFor(t, 90*time.Second, "needs_review", func(r erasure.Record) bool { return r.State.Status == erasure.StatusNeedsReview })

	left := append(versionsUnder(t, c, bucket, skeys.UserPrefix(subject.user)), versionsUnder(t, c, bucket, skeys.UserPrefix(subject.guest))...)
	if diff := cmp.Diff([]string{"users/u-ver/invoices/2026.pdf"}, left); diff != "" {
		t.Errorf("versions and uploads left under the subject's prefixes (-want +got):\n%s", diff)
	}
	if got := versionsUnder(t, c, bucket, "users/u-ver0/"); len(got) != 1 {
		t.Errorf("neighbour's versions: %v, want its one photo", got)
	}
	step := "storage-versions:users/u-ver/"
	i := slices.IndexFunc(rec.State.Unconfirmed, func(f erasure.Finding) bool { return f.Step == step })
	if i < 0 || len(rec.State.Unconfirmed) != 1 {
		t.Fatalf("findings %+v, want only %s", rec.State.Unconfirmed, step)
	}
	answer := rec.State.Unconfirmed[i].Answer
	// The lock's mode and until-date are asked of the server
	// (GetObjectRetention); versitygw v1.8.0's answer is not read yet, so
	// only the key and the refusal are checked here.
	for _, want := range []string{"users/u-ver/invoices/2026.pdf", "object lock", "Art. 17(3)"} {
		if !strings.Contains(answer, want) {
			t.Errorf("finding %q does not name %q", answer, want)
		}
	}

	// Resolving it (erasure resolve) is left to the erasure tests: the
	// finding above is what the person reads.
}
