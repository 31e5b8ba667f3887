package storage

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/lifecycle-worker/lifecycle/internal/errclass"
)

// s3Store keeps objects in one bucket of an S3-compatible server.
type s3Store struct {
	client    *minio.Client
	transport *deadlineTransport
	bucket    string
	loc       Location
	timeout   time.Duration // of each request
	// missingBucket, if not nil, is told each time a call finds the bucket
	// missing.
	missingBucket func(bucket string)
	// degraded, if not nil, is told the cause of each call refused for a
	// reason a person fixes (Options.Degraded).
	degraded func(cause string)
	// config is the bucket's versioning and object lock, read at open.
	config BucketConfig
}

var _ Store = (*s3Store)(nil)

// deleteBatch is S3's limit of keys per DeleteObjects request.
const deleteBatch = 1000

// putPartSize bounds the memory of a Put of unknown size: minio-go buffers
// one part, and would otherwise pick parts of ~537 MiB to allow 5 TiB.
// Objects of unknown size are thereby limited to 10,000 parts (160 GiB).
const putPartSize = 16 << 20

// s3Attempts is how often minio-go sends one request before it gives up
// (its MaxRetries counts attempts): once more after a dropped connection,
// and no more, so that a store that does not answer fails the call within
// about two request timeouts and asynq's backoff, not the library's, spaces
// the next attempts. minio-go's default, 10, held a worker slot for 4-6 s
// against a stopped store, and for the task's whole timeout against a
// stalled one.
const s3Attempts = 2

func newS3Client(loc Location, creds Credentials, maxRetries int, timeout time.Duration) (*minio.Client, *deadlineTransport, error) {
	next, err := minio.DefaultTransport(loc.Secure)
	if err != nil {
		return nil, nil, err
	}
	transport := &deadlineTransport{next: next, timeout: timeout, endpoint: loc.Endpoint}
	client, err := minio.New(loc.Endpoint, &minio.Options{
		Creds:      credentials.NewStaticV4(creds.AccessKey, creds.SecretKey, ""),
		Secure:     loc.Secure,
		Region:     loc.Region,
		MaxRetries: maxRetries,
		Transport:  transport,
	})
	return client, transport, err
}

func openS3(ctx context.Context, loc Location, opts Options) (Store, error) {
	timeout := cmp.Or(opts.Timeout, TimeoutDefault)
	client, transport, err := newS3Client(loc, opts.Credentials, s3Attempts, timeout)
	if err != nil {
		return nil, errclass.AsPermanent(fmt.Errorf("storage: %s: %w", loc, err))
	}
	s := &s3Store{client: client, transport: transport, bucket: loc.Bucket, loc: loc, timeout: timeout, missingBucket: opts.MissingBucket, degraded: opts.Degraded}
	// The check uses a client that does not retry, so a wrong endpoint
	// reports its real cause (connection refused, no such host) instead of
	// the timeout that retries would run into.
	check, _, err := newS3Client(loc, opts.Credentials, 1, OpenTimeout)
	if err != nil {
		return nil, errclass.AsPermanent(fmt.Errorf("storage: %s: %w", loc, err))
	}
	if err := checkS3(ctx, check, loc); err != nil {
		return nil, err
	}
	s.config = readBucketConfig(ctx, check, loc.Bucket)
	return s, nil
}

// checkS3 turns each way a store can be misconfigured into one message
// that says what to fix.
func checkS3(ctx context.Context, c *minio.Client, loc Location) error {
	fail := func(format string, args ...any) error {
		return errclass.AsPermanent(fmt.Errorf("storage: %s: "+format, append([]any{loc}, args...)...))
	}
	explain := func(err error) error {
		resp := minio.ToErrorResponse(err)
		switch {
		case resp.Code == "":
			return fail("cannot connect to %s: %w", loc.Endpoint, err)
		case isAuthCode(resp.Code) || resp.StatusCode == http.StatusForbidden:
			return fail("access denied to bucket %q, check LIFECYCLE_S3_ACCESS_KEY and LIFECYCLE_S3_SECRET_KEY: %w", loc.Bucket, err)
		case resp.Code == minio.NoSuchBucket:
			return fail("bucket %q does not exist", loc.Bucket)
		}
		return fail("checking bucket %q: %s (HTTP %d): %w", loc.Bucket, resp.Code, resp.StatusCode, err)
	}
	// A listing of one key proves all three at once: the endpoint answers,
	// the bucket exists, and the credentials may list it (every erasure
	// starts with a listing). A HEAD of the bucket would not do: its
	// answer has no body, and some servers answer 404 to an unknown key.
	for obj := range c.ListObjectsIter(ctx, loc.Bucket, minio.ListObjectsOptions{MaxKeys: 1, Recursive: true}) {
		if obj.Err != nil {
			return explain(obj.Err)
		}
		break
	}
	return nil
}

func isAuthCode(code string) bool {
	switch code {
	case "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken",
		"ExpiredToken", "AuthorizationHeaderMalformed", "AllAccessDisabled",
		"XAdminUserNotFound": // versitygw's answer to an unknown access key (HTTP 404)
		return true
	}
	return false
}

// isCredentialCode reports whether code says the configured key or secret
// is wrong (not merely without a permission): that needs a new
// configuration and a restart, so retrying cannot help.
func isCredentialCode(code string) bool {
	switch code {
	case "InvalidAccessKeyId", "SignatureDoesNotMatch", "AuthorizationHeaderMalformed", "XAdminUserNotFound":
		return true
	}
	return false
}

// isQuotaCode reports whether code says the store has no room for now.
func isQuotaCode(code string) bool {
	switch code {
	case "QuotaExceeded", "XMinioAdminBucketQuotaExceeded", "XMinioStorageFull", "InsufficientStorage",
		"ServiceQuotaExceeded":
		return true
	}
	return false
}

func (s *s3Store) String() string { return s.loc.String() }

func (s *s3Store) Close() error { return nil }

// refused is the error of a call that is not sent: the store is stalled and
// its probe is out (see deadlineTransport). Failing here rather than in the
// transport spares the call minio-go's retry and the sleep before it.
func (s *s3Store) refused(op, key string) error {
	if s.transport == nil {
		return nil
	}
	if err := s.transport.refusal(); err != nil {
		return fmt.Errorf("storage: %s %q: %w", op, key, err)
	}
	return nil
}

// fail is classify for a call made with ctx, with two answers made
// precise. A request that outlived the store's timeout says so. A "not
// found" counts only once the bucket is known to exist: S3 answers a HEAD
// (Stat) of a key in a missing bucket with a 404 that has no body, which
// minio-go reads as NoSuchKey, and every deletion would then be recorded as
// already gone while nothing was deleted.
func (s *s3Store) fail(ctx context.Context, op, key string, err error) error {
	if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
		return fmt.Errorf("storage: %s %q: %s did not answer within %v: %w", op, key, s.loc, s.timeout, err)
	}
	err = s.classify(op, key, err)
	if errors.Is(err, ErrNotFound) {
		if berr := s.confirmBucket(ctx, op, key); berr != nil {
			return report(s.degraded, berr)
		}
	}
	return report(s.degraded, err)
}

// confirmBucket reports whether the bucket exists: nil if it does, an error
// wrapping ErrBucketMissing (permanent) if it does not, and the failure of
// the check otherwise. It asks with a listing, whose answer has a body that
// names a missing bucket (as checkS3 does at start).
func (s *s3Store) confirmBucket(ctx context.Context, op, key string) error {
	for obj := range s.client.ListObjectsIter(ctx, s.bucket, minio.ListObjectsOptions{Prefix: key, MaxKeys: 1, Recursive: true}) {
		if obj.Err == nil {
			break
		}
		if minio.ToErrorResponse(obj.Err).Code == minio.NoSuchBucket {
			if s.missingBucket != nil {
				s.missingBucket(s.bucket)
			}
			return errclass.AsPermanent(fmt.Errorf("storage: %s %q: %w: %q on %s", op, key, ErrBucketMissing, s.bucket, s.loc.Endpoint))
		}
		err := s.classify("check bucket", s.bucket, obj.Err)
		if errors.Is(err, ErrNotFound) { // not a "gone" we could trust
			return errclass.RetryAfter(fmt.Errorf("storage: %s %q: not found, and bucket %q not confirmed: %w", op, key, s.bucket, obj.Err), 0)
		}
		return err
	}
	return nil
}

// classify wraps an S3 error with the operation and key, classed: the
// server's refusals (4xx) are permanent, except a rate limit, and denied
// access or a full quota, which are retried and marked degraded (see
// degrade: a policy or quota is restored without touching the task, while
// wrong credentials are not and stay permanent); the rest (network, 5xx,
// SlowDown) is retryable.
func (s *s3Store) classify(op, key string, err error) error {
	resp := minio.ToErrorResponse(err)
	// NoSuchVersion: on a versioned bucket (versitygw) a copy from a key
	// whose latest version is a delete marker, or that never existed; we
	// never name versions but in deletes, where it means gone as well.
	if resp.Code == "NoSuchKey" || resp.Code == "NotFound" || resp.Code == "NoSuchVersion" {
		return notFound(op, key)
	}
	err = fmt.Errorf("storage: %s %q: %w", op, key, err)
	switch {
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		return err
	case resp.Code == minio.NoSuchBucket:
		if s.missingBucket != nil {
			s.missingBucket(s.bucket)
		}
		return errclass.AsPermanent(fmt.Errorf("%w: %q: %w", ErrBucketMissing, s.bucket, err))
	case isCredentialCode(resp.Code):
		return errclass.AsPermanent(err)
	case isQuotaCode(resp.Code) || resp.StatusCode == http.StatusInsufficientStorage:
		return degrade(CauseQuota, err)
	case isAuthCode(resp.Code) || resp.StatusCode == http.StatusForbidden:
		return degrade(CausePermission, err)
	case resp.Code == "SlowDown" || resp.StatusCode == http.StatusServiceUnavailable:
		return err
	case resp.StatusCode == http.StatusTooManyRequests:
		return errclass.Throttled(err, 0)
	case resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != http.StatusRequestTimeout:
		return errclass.AsPermanent(err)
	case resp.StatusCode == 0 && resp.Code != "":
		// minio-go's own argument checks (a key it refuses, say).
		return errclass.AsPermanent(err)
	}
	return err
}

func (s *s3Store) Stat(ctx context.Context, key string) (Object, error) {
	if err := ValidateKey(key); err != nil {
		return Object{}, err
	}
	if err := s.refused("stat", key); err != nil {
		return Object{}, err
	}
	info, err := s.client.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{})
	if err != nil {
		return Object{}, s.fail(ctx, "stat", key, err)
	}
	return Object{Key: key, Size: info.Size, Modified: info.LastModified}, nil
}

func (s *s3Store) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := ValidateKey(key); err != nil {
		return nil, err
	}
	if err := s.refused("get", key); err != nil {
		return nil, err
	}
	obj, err := s.client.GetObject(ctx, s.bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, s.fail(ctx, "get", key, err)
	}
	// GetObject is lazy; Stat sends the GET (whose body Read then uses), so
	// a missing key fails here rather than at the first Read.
	if _, err := obj.Stat(); err != nil {
		obj.Close()
		return nil, s.fail(ctx, "get", key, err)
	}
	return obj, nil
}

func (s *s3Store) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	if err := ValidateKey(key); err != nil {
		return err
	}
	if err := s.refused("put", key); err != nil {
		return err
	}
	opts := minio.PutObjectOptions{ContentType: "application/octet-stream"}
	if size < 0 {
		opts.PartSize = putPartSize
	}
	if _, err := s.client.PutObject(ctx, s.bucket, key, r, size, opts); err != nil {
		return s.fail(ctx, "put", key, err)
	}
	return nil
}

func (s *s3Store) Delete(ctx context.Context, key string) error {
	if err := ValidateKey(key); err != nil {
		return err
	}
	if err := s.refused("delete", key); err != nil {
		return err
	}
	if s.config.Versioned() {
		return s.deleteAllVersions(ctx, []string{key})
	}
	err := s.client.RemoveObject(ctx, s.bucket, key, minio.RemoveObjectOptions{})
	if err == nil {
		return nil
	}
	// S3 answers 204 for a missing key; some servers say NoSuchKey.
	if err := s.fail(ctx, "delete", key, err); !errors.Is(err, ErrNotFound) {
		return err
	}
	return nil
}

func (s *s3Store) DeleteMany(ctx context.Context, keys []string) error {
	if s.config.Versioned() {
		return s.deleteAllVersions(ctx, keys)
	}
	var failed []KeyFailure
	batch := make([]minio.ObjectInfo, 0, min(len(keys), deleteBatch))
	flush := func() {
		if len(batch) == 0 {
			return
		}
		if err := s.refused("delete", fmt.Sprintf("%d keys from %s", len(batch), batch[0].Key)); err != nil {
			for _, o := range batch {
				failed = append(failed, KeyFailure{Key: o.Key, Err: err})
			}
			batch = batch[:0]
			return
		}
		// One request per call: minio-go gives up on the keys after a
		// batch whose request failed, and we want every batch tried.
		results, err := s.client.RemoveObjectsWithIter(ctx, s.bucket, slices.Values(batch), minio.RemoveObjectsOptions{})
		if err != nil {
			err = s.fail(ctx, "delete", fmt.Sprintf("%d keys from %s", len(batch), batch[0].Key), err)
			for _, o := range batch {
				failed = append(failed, KeyFailure{Key: o.Key, Err: err})
			}
			batch = batch[:0]
			return
		}
		reported := 0
		var gone []string // answered "not found": gone, if the bucket exists
		for res := range results {
			reported++
			if res.Err == nil {
				continue
			}
			if errors.Is(s.classify("delete", res.ObjectName, res.Err), ErrNotFound) {
				gone = append(gone, res.ObjectName)
				continue
			}
			failed = append(failed, KeyFailure{Key: res.ObjectName, Err: s.fail(ctx, "delete", res.ObjectName, res.Err)})
		}
		if len(gone) > 0 {
			if err := s.confirmBucket(ctx, "delete", gone[0]); err != nil {
				for _, key := range gone {
					failed = append(failed, KeyFailure{Key: key, Err: err})
				}
			}
		}
		if reported == 0 && ctx.Err() != nil {
			// Stopped before the request: nothing was reported.
			for _, o := range batch {
				failed = append(failed, KeyFailure{Key: o.Key, Err: ctx.Err()})
			}
		}
		batch = batch[:0]
	}
	for _, key := range keys {
		if err := ValidateKey(key); err != nil {
			failed = append(failed, KeyFailure{Key: key, Err: err})
			continue
		}
		batch = append(batch, minio.ObjectInfo{Key: key})
		if len(batch) == deleteBatch {
			flush()
		}
	}
	flush()
	return deleteError(failed, len(keys))
}

func (s *s3Store) Copy(ctx context.Context, src, dst string) error {
	if err := validatePair(src, dst); err != nil {
		return err
	}
	if src == dst {
		// S3 refuses a copy onto itself that changes nothing.
		_, err := s.Stat(ctx, src)
		return err
	}
	if err := s.refused("copy", src); err != nil {
		return err
	}
	_, err := s.client.CopyObject(ctx,
		minio.CopyDestOptions{Bucket: s.bucket, Object: dst},
		minio.CopySrcOptions{Bucket: s.bucket, Object: src})
	if err != nil {
		return s.fail(ctx, "copy", src, err)
	}
	return nil
}

func (s *s3Store) Move(ctx context.Context, src, dst string) error {
	if err := validatePair(src, dst); err != nil {
		return err
	}
	if src == dst {
		// Copy then delete would destroy the object.
		_, err := s.Stat(ctx, src)
		return err
	}
	if err := s.Copy(ctx, src, dst); err != nil {
		if errors.Is(err, ErrNotFound) {
			return moveDone(ctx, s, src, dst)
		}
		return err
	}
	return s.Delete(ctx, src)
}

func (s *s3Store) List(ctx context.Context, prefix, startAfter string) iter.Seq2[Object, error] {
	if err := validatePrefix(prefix); err != nil {
		return errorSeq(err)
	}
	if err := s.refused("list", prefix); err != nil {
		return errorSeq(err)
	}
	fetchOwner := false
	opts := minio.ListObjectsOptions{
		Prefix:     prefix,
		StartAfter: startAfter,
		Recursive:  true,
		MaxKeys:    deleteBatch,
		FetchOwner: &fetchOwner,
	}
	return func(yield func(Object, error) bool) {
		// ListObjectsIter pages with continuation tokens and stops its
		// requests when we stop pulling: memory is one page.
		for obj := range s.client.ListObjectsIter(ctx, s.bucket, opts) {
			if obj.Err != nil {
				yield(Object{}, s.fail(ctx, "list", prefix, obj.Err))
				return
			}
			// Directory markers, made by other tools: no key of ours ends in
			// "/", and the file store has no such objects.
			if strings.HasSuffix(obj.Key, "/") {
				continue
			}
			if !yield(Object{Key: obj.Key, Size: obj.Size, Modified: obj.LastModified}, nil) {
				return
			}
		}
	}
}
