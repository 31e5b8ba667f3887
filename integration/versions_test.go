package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/minio/minio-go/v7"

	"github.com/lifecycle-worker/lifecycle/integration/harness"
	"github.com/lifecycle-worker/lifecycle/internal/erasure"
	"github.com/lifecycle-worker/lifecycle/internal/identity"
	"github.com/lifecycle-worker/lifecycle/internal/merge"
	"github.com/lifecycle-worker/lifecycle/internal/skeys"
	"github.com/lifecycle-worker/lifecycle/internal/storage"
	"github.com/lifecycle-worker/lifecycle/internal/storage/storagetest"
	"github.com/lifecycle-worker/lifecycle/internal/sweep"
	"github.com/lifecycle-worker/lifecycle/internal/testutil"
	"github.com/lifecycle-worker/lifecycle/tasks"
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
				bucket := s3.NewVersionedBucket(t, lock)
				s, err := storage.Open(t.Context(), s3.BucketURL(bucket), creds)
				if err != nil {
					t.Fatal(err)
				}
				cfg, ok := storage.Describe(s)
				if want := (storage.BucketConfig{Bucket: bucket, Versioning: "Enabled", ObjectLock: lock}); !ok || cfg != want {
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
	// The lock is the invoice's own, read from the server: versitygw's
	// retention answer is not readable by minio-go, its HEAD of the
	// version is.
	lock := "retention COMPLIANCE until " + until.Format(time.RFC3339)
	for _, want := range []string{"users/u-ver/invoices/2026.pdf", lock, "Art. 17(3)"} {
		if !strings.Contains(answer, want) {
			t.Errorf("finding %q does not name %q", answer, want)
		}
	}

	// A person confirms the legal obligation: the request ends done, and
	// the signed receipt names the kept version, its lock and the reason.
	out, code := b.cli(t, "erasure", "resolve", subject.requestID, "--step", step, "--as", "retained", "--reason", "invoices are kept 10 years (HGB 257)")
	if code != 0 || !strings.Contains(out, "status done") {
		t.Fatalf("erasure resolve: status %d:\n%s", code, out)
	}
	obj, err := c.GetObject(ctx, bucket, skeys.Receipt(subject.requestID), minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var rc erasure.Receipt
	if err := json.NewDecoder(obj).Decode(&rc); err != nil {
		t.Fatalf("receipt: %v", err)
	}
	obj.Close()
	j := slices.IndexFunc(rc.Steps, func(s erasure.ReceiptStep) bool { return s.Step == step })
	if j < 0 {
		t.Fatalf("receipt has no step %s: %+v", step, rc.Steps)
	}
	if got := rc.Steps[j]; got.Outcome != erasure.Retained || !strings.Contains(got.Answer, "users/u-ver/invoices/2026.pdf") || !strings.Contains(got.Answer, lock) {
		t.Errorf("receipt step %+v, want retained naming the invoice and %q", got, lock)
	}
	if len(rc.Resolutions) != 1 || !strings.Contains(rc.Resolutions[0].Reason, "HGB 257") {
		t.Errorf("receipt resolutions %+v, want the person's reason", rc.Resolutions)
	}
}

// A photo deletion of our own storage on a versioned bucket removes every
// version and delete marker of that key, even when the current version is
// already a delete marker (Stat then answers "not found", yet the earlier
// versions are readable). A version under retention is not retried and not
// counted deleted: the task is dead-lettered, its reason naming the lock's
// mode and until-date, for a person to decide (GDPR Art. 17(3)). The worker
// tells an operator the bucket's versioning and lock on /readyz and in
// lifecycle_storage_bucket_info.
func TestPhotoDeletionVersionedBucket(t *testing.T) {
	ctx := context.Background()
	s3 := harness.StartS3Versioned(t)
	bucket := s3.NewVersionedBucket(t, true)
	s3.Bucket = bucket
	redis := harness.StartRedis(t, nil)
	c := s3.Client()
	put := func(key, body string, opts minio.PutObjectOptions) {
		t.Helper()
		if _, err := c.PutObject(ctx, bucket, key, strings.NewReader(body), int64(len(body)), opts); err != nil {
			t.Fatalf("put %s: %v", key, err)
		}
	}
	remove := func(key string) {
		t.Helper()
		if err := c.RemoveObject(ctx, bucket, key, minio.RemoveObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	const (
		hidden  = "users/u-ph/photos/a.jpg" // two versions under a delete marker
		current = "users/u-ph/photos/b.jpg" // a version, a marker, a current version
		locked  = "users/u-ph/photos/c.jpg" // a locked version under a current one
		longer  = "users/u-ph/photos/a.jpg2"
	)
	put(hidden, "one", minio.PutObjectOptions{})
	put(hidden, "two", minio.PutObjectOptions{})
	remove(hidden)
	put(current, "one", minio.PutObjectOptions{})
	remove(current)
	put(current, "two", minio.PutObjectOptions{})
	until := time.Now().Add(365 * 24 * time.Hour).UTC().Truncate(time.Second)
	put(locked, "kept by law", minio.PutObjectOptions{Mode: minio.Compliance, RetainUntilDate: until})
	put(locked, "current", minio.PutObjectOptions{})
	put(longer, "another photo", minio.PutObjectOptions{})
	for _, key := range []string{hidden, current, locked} {
		if n := len(exactVersions(t, c, bucket, key)); n < 2 {
			t.Fatalf("%s: %d versions before the deletion, want several", key, n)
		}
	}

	addr := testutil.FreeAddr(t)
	harness.StartProcess(t, harness.WorkerEnv(t, redis.URL(), t.TempDir(), nil,
		"LIFECYCLE_HTTP_ADDR="+addr, "LIFECYCLE_STORAGE="+s3.URL(),
		"LIFECYCLE_S3_ACCESS_KEY="+s3.AccessKey, "LIFECYCLE_S3_SECRET_KEY="+s3.SecretKey), "worker")
	client := tasks.NewClient(redis.Opt())
	defer client.Close()
	ids := map[string]string{}
	for _, key := range []string{hidden, current, locked} {
		res, err := client.EnqueuePhotoDelete(ctx, tasks.PhotoDeletePayload{System: tasks.SystemStorage, UserID: "u-ph", Key: key})
		if err != nil {
			t.Fatal(err)
		}
		ids[key] = res.TaskID
	}
	// What the producer reads on the status route.
	status := func(key string) (st struct{ State, Outcome, Reason string }) {
		t.Helper()
		resp, err := http.Get("http://" + addr + "/v1/photo-deletions/" + ids[key])
		if err != nil {
			return st
		}
		defer resp.Body.Close()
		_ = json.NewDecoder(resp.Body).Decode(&st)
		return st
	}
	for key, want := range map[string]string{hidden: "completed", current: "completed", locked: "dead-lettered"} {
		testutil.Eventually(t, 60*time.Second, func() bool { return status(key).State == want },
			"%s: task %s not %s: %+v", key, ids[key], want, testutil.Later(func() any { return status(key) }))
	}
	for _, key := range []string{hidden, current} {
		if st := status(key); st.Outcome != "succeeded" {
			t.Errorf("%s: outcome %q, want succeeded (earlier versions were there to delete)", key, st.Outcome)
		}
		if left := exactVersions(t, c, bucket, key); len(left) != 0 {
			t.Errorf("%s: versions left after its deletion: %v", key, left)
		}
	}
	if left := exactVersions(t, c, bucket, longer); len(left) != 1 {
		t.Errorf("%s, another key under the same prefix: %v, want its one version", longer, left)
	}
	left := exactVersions(t, c, bucket, locked)
	if len(left) != 1 || left[0].IsLatest && left[0].IsDeleteMarker {
		t.Errorf("%s: left %+v, want the locked version alone", locked, left)
	}
	reason := status(locked).Reason
	for _, want := range []string{locked, "retained by object lock", "COMPLIANCE", "until " + until.Format(time.RFC3339)} {
		if !strings.Contains(reason, want) {
			t.Errorf("dead-letter reason %q does not name %q", reason, want)
		}
	}

	resp, err := http.Get("http://" + addr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := `"storage":{"bucket":"` + bucket + `","versioning":"Enabled","object_lock":true}`; !strings.Contains(string(body), want) {
		t.Errorf("/readyz = %s, want it to contain %s", body, want)
	}
	resp, err = http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := `lifecycle_storage_bucket_info{bucket="` + bucket + `",lock_mode="",object_lock="true",versioning="Enabled"} 1`; !strings.Contains(string(body), want) {
		t.Errorf("/metrics lacks %s", want)
	}
}

// exactVersions lists the versions and delete markers of key itself.
func exactVersions(t *testing.T, c *minio.Client, bucket, key string) []minio.ObjectInfo {
	t.Helper()
	var out []minio.ObjectInfo
	for o := range c.ListObjectsIter(context.Background(), bucket, minio.ListObjectsOptions{Prefix: key, Recursive: true, WithVersions: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		if o.Key == key {
			out = append(out, o)
		}
	}
	return out
}

// What the sweep does to a leftover on a versioned bucket, through the same
// store calls: quarantining it (Move) leaves no version of the user's key,
// and purging the quarantine (DeleteMany of what it lists) leaves none of
// the quarantined one.
func TestQuarantineMoveAndPurgeVersioned(t *testing.T) {
	ctx := context.Background()
	s3 := harness.StartS3Versioned(t)
	bucket := s3.NewVersionedBucket(t, false)
	store := s3.Open(t, bucket)
	c := s3.Client()
	key := "users/u-sw/photos/a.jpg"
	for _, body := range []string{"one", "two", "three"} {
		if _, err := c.PutObject(ctx, bucket, key, strings.NewReader(body), int64(len(body)), minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	to := skeys.Quarantined("sw-1", key)
	if err := store.Move(ctx, key, to); err != nil {
		t.Fatal(err)
	}
	if left := versionsUnder(t, c, bucket, "users/u-sw/"); len(left) != 0 {
		t.Errorf("after the quarantine, versions of the user's key: %v", left)
	}
	var listed []string
	for o, err := range store.List(ctx, skeys.QuarantinePrefix("sw-1"), "") {
		if err != nil {
			t.Fatal(err)
		}
		listed = append(listed, o.Key)
	}
	if len(listed) != 1 {
		t.Fatalf("quarantine lists %v, want %s", listed, to)
	}
	if err := store.DeleteMany(ctx, listed); err != nil {
		t.Fatal(err)
	}
	if left := versionsUnder(t, c, bucket, skeys.QuarantinePrefix("sw-1")); len(left) != 0 {
		t.Errorf("after the purge, versions in quarantine: %v", left)
	}
}

// TestSweepPurgeVersioned: a sweep's purge on a versioned bucket leaves
// nothing of its quarantine, not even versions hidden behind a delete
// marker, which a listing of current objects does not show.
func TestSweepPurgeVersioned(t *testing.T) {
	ctx := context.Background()
	s3 := harness.StartS3Versioned(t)
	bucket := s3.NewVersionedBucket(t, false)
	store := s3.Open(t, bucket)
	_, rdb := testutil.RealRedis(t)
	now := time.Now()
	sw, err := sweep.New(sweep.Params{Store: store, Redis: rdb, Identity: identity.New(rdb), Merges: &merge.Merger{Redis: rdb},
		RestoreWindow: time.Hour, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	c := s3.Client()
	put := func(key, body string) {
		t.Helper()
		if _, err := c.PutObject(ctx, bucket, key, strings.NewReader(body), int64(len(body)), minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// One quarantined key with two versions, and one whose current
	// version is a delete marker (someone deleted it by hand): its two
	// older versions are still readable.
	live, hidden := skeys.Quarantined("sw-v", "users/u-1/a.jpg"), skeys.Quarantined("sw-v", "users/u-2/b.jpg")
	put(live, "one")
	put(live, "two")
	put(hidden, "one")
	put(hidden, "two")
	if err := c.RemoveObject(ctx, bucket, hidden, minio.RemoveObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	report, _ := json.Marshal(sweep.Report{SweepID: "sw-v", Status: sweep.StatusQuarantined, FinishedAt: now.Add(-2 * time.Hour)})
	put(skeys.SweepReport("sw-v"), string(report))

	res, err := sw.Purge(ctx, "test", false)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"sw-v"}, res.Sweeps); diff != "" {
		t.Errorf("purged sweeps (-want +got):\n%s", diff)
	}
	if left := versionsUnder(t, c, bucket, skeys.QuarantinePrefix("sw-v")); len(left) != 0 {
		t.Errorf("after the purge, versions left in quarantine: %v", left)
	}
}
