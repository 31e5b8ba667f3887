// Package storage is the object store that photo deletion, merges, erasures,
// sweeps and the dead-letter archiver act on; internal/skeys names the paths
// they use in it.
//
// Two backends satisfy one small Store interface with the same semantics,
// proved by the shared conformance suite in storagetest: S3 (any
// S3-compatible server, through minio-go) and a local directory (file:///path)
// for single-machine installs and tests.
//
// Errors carry an errclass class so that callers never decide retries: an
// invalid key, wrong credentials or a missing bucket (ErrBucketMissing) is
// permanent; network failures, 5xx, requests that outlive the store's
// timeout, and denied access or a full quota (reported to Options.Degraded)
// are retryable; a missing object is ErrNotFound, classed "already
// gone", and on S3 only once the bucket is known to exist.
package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/lifecycle-worker/lifecycle/internal/errclass"
)

// Object describes one stored object.
type Object struct {
	Key      string
	Size     int64
	Modified time.Time
}

var (
	// ErrNotFound is returned (wrapped) by Stat, Get, Copy and Move when the
	// object is absent (never when the bucket is: see ErrBucketMissing). It is classed errclass.AlreadyGone: a caller that
	// needs the object present must reclassify it.
	ErrNotFound = errors.New("storage: object not found")

	// ErrBucketMissing is returned (wrapped, classed permanent) when the
	// store's bucket (of a file store, its directory) does not exist:
	// nothing can be stored, found or deleted until it is restored, and a
	// key that is "not found" there is not gone.
	ErrBucketMissing = errors.New("bucket does not exist")

	// ErrInvalidKey is returned (wrapped, classed permanent) for a key or
	// prefix that the store refuses; the message names the problem.
	ErrInvalidKey = errors.New("storage: invalid key")
)

// Store is what the domain needs from an object store. Implementations are
// safe for concurrent use.
type Store interface {
	// Stat describes the object at key.
	Stat(ctx context.Context, key string) (Object, error)

	// List yields every object whose key starts with prefix (a plain string
	// prefix, as in S3: "users/1" also matches "users/10/a"), in lexical
	// order of keys, strictly after startAfter ("" lists from the start).
	// It pages internally and holds a constant amount of memory whatever
	// the number of keys, so a caller can stream millions of keys, delete
	// them as it goes, and resume after a crash from the last key it saw.
	// On failure it yields one error and stops.
	List(ctx context.Context, prefix, startAfter string) iter.Seq2[Object, error]

	// Delete removes the object at key; a missing key is success.
	Delete(ctx context.Context, key string) error

	// DeleteMany removes keys in batches (1,000 per S3 request). Missing
	// keys are success. Keys that fail are listed in a *DeleteError; the
	// others are deleted regardless.
	DeleteMany(ctx context.Context, keys []string) error

	// Copy copies src to dst (server-side on S3), replacing dst.
	Copy(ctx context.Context, src, dst string) error

	// Move copies src to dst, then deletes src. Running it again after a
	// crash halfway is safe: when src is gone and dst is present, the move
	// is complete and Move returns nil.
	Move(ctx context.Context, src, dst string) error

	// Put stores size bytes read from r at key, replacing any object there;
	// size -1 means unknown (read r to EOF). Readers see either the old or
	// the new object, never a partial one.
	Put(ctx context.Context, key string, r io.Reader, size int64) error

	// Get opens the object at key for reading. The caller closes it.
	Get(ctx context.Context, key string) (io.ReadCloser, error)

	// String describes the store for logs, e.g. "s3://bucket@host:9000" or
	// "file:///var/lib/lifecycle"; it never holds keys or secrets.
	String() string

	// Close releases what the store holds (the directory handle of a file
	// store); S3 stores hold nothing that needs closing.
	Close() error
}

// Credentials authenticate to S3. A file store ignores them.
type Credentials struct {
	AccessKey string
	SecretKey string
}

// MaxKeyLength is the longest key S3 accepts, in bytes.
const MaxKeyLength = 1024

// tmpPrefix starts the names of the file store's temporary files. Key
// segments may not start with it, on every backend, so that a key means the
// same thing wherever it is stored and a temporary file is never listed.
const tmpPrefix = ".lifecycle-tmp-"

// ValidateKey reports whether key is one the stores accept. The error wraps
// ErrInvalidKey, names the problem and is classed permanent.
func ValidateKey(key string) error {
	if problem := keyProblem(key); problem != "" {
		return errclass.AsPermanent(fmt.Errorf("%w %q: %s", ErrInvalidKey, key, problem))
	}
	return nil
}

func keyProblem(key string) string {
	switch {
	case key == "":
		return "empty key"
	case strings.HasSuffix(key, "/"):
		return "ends with /"
	}
	return pathProblem(key)
}

// validatePrefix is ValidateKey for List prefixes: empty and trailing "/"
// are fine there.
func validatePrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	if problem := pathProblem(strings.TrimSuffix(prefix, "/")); problem != "" {
		return errclass.AsPermanent(fmt.Errorf("%w: prefix %q: %s", ErrInvalidKey, prefix, problem))
	}
	return nil
}

func pathProblem(p string) string {
	switch {
	case len(p) > MaxKeyLength:
		return fmt.Sprintf("longer than %d bytes", MaxKeyLength)
	case strings.HasPrefix(p, "/"):
		return "absolute (starts with /)"
	case strings.ContainsRune(p, 0):
		return "contains a NUL byte"
	case strings.ContainsRune(p, '\\'):
		return "contains a backslash"
	case !utf8.ValidString(p):
		return "not valid UTF-8"
	}
	for seg := range strings.SplitSeq(p, "/") {
		switch {
		case seg == "":
			return "has an empty segment (//)"
		case seg == "." || seg == "..":
			return fmt.Sprintf("has a %q segment", seg)
		case strings.HasPrefix(seg, tmpPrefix):
			return fmt.Sprintf("segment %q uses the reserved prefix %q", seg, tmpPrefix)
		}
	}
	return ""
}

// KeyFailure is why one key of a DeleteMany failed.
type KeyFailure struct {
	Key string
	Err error
}

// DeleteError lists the keys a DeleteMany could not delete. The other keys
// of the call were deleted.
type DeleteError struct {
	Failed []KeyFailure
	Total  int // keys in the call
}

// maxListedFailures bounds the message: a failed batch can hold 1,000 keys.
const maxListedFailures = 5

func (e *DeleteError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "storage: delete failed for %d of %d keys", len(e.Failed), e.Total)
	for i, f := range e.Failed {
		if i == maxListedFailures {
			fmt.Fprintf(&b, "; and %d more", len(e.Failed)-i)
			break
		}
		fmt.Fprintf(&b, "; %q: %v", f.Key, f.Err)
	}
	return b.String()
}

// Unwrap gives errors.Is and errors.As access to every key's failure.
func (e *DeleteError) Unwrap() []error {
	errs := make([]error, len(e.Failed))
	for i, f := range e.Failed {
		errs[i] = f.Err
	}
	return errs
}

// deleteError builds DeleteMany's result. Its class is explicit on the
// outside, because errclass.Of would otherwise take the class of whichever
// key failure errors.As met first: the call is permanent only if every
// failure is, and worth retrying if any one is.
func deleteError(failed []KeyFailure, total int) error {
	if len(failed) == 0 {
		return nil
	}
	e := &DeleteError{Failed: failed, Total: total}
	for _, f := range failed {
		if errclass.Of(f.Err) != errclass.Permanent {
			return errclass.RetryAfter(e, 0)
		}
	}
	return errclass.AsPermanent(e)
}

// notFound is the error for a missing object.
func notFound(op, key string) error {
	return errclass.AsGone(fmt.Errorf("%s %q: %w", op, key, ErrNotFound))
}

// errorSeq is a List result that yields err alone.
func errorSeq(err error) iter.Seq2[Object, error] {
	return func(yield func(Object, error) bool) { yield(Object{}, err) }
}

// Open connects to the store rawURL names and checks that it works, so that
// a misconfiguration stops the program at start with one clear error rather
// than failing every task later:
//
//	file:///abs/path                          created if missing; must be writable
//	s3://bucket?endpoint=host:port&region=r&secure=false
//
// See ParseURL for the URL's parts.
func Open(ctx context.Context, rawURL string, creds Credentials) (Store, error) {
	return OpenWith(ctx, rawURL, Options{Credentials: creds})
}

// Options tune the store Open connects to. A file store uses MissingBucket
// alone, for its directory.
type Options struct {
	Credentials

	// Timeout bounds each request to S3 (one object, one page of a listing,
	// one batch of deletions, one part of an upload): a store that does not
	// answer within it fails the call, retryably, instead of holding the
	// worker slot until the task's own timeout. Zero means TimeoutDefault.
	Timeout time.Duration

	// MissingBucket, if not nil, is called each time a call finds the
	// bucket (of a file store, the directory) missing, so that the process
	// can alert: every storage task fails, permanently, until it is
	// restored.
	MissingBucket func(bucket string)

	// Degraded, if not nil, is called with the cause (CausePermission,
	// CauseQuota) each time a call is refused for a reason a person must
	// fix but that passes without touching the task: such calls are
	// retried with backoff, not dead-lettered, so this is how the process
	// alerts while tasks wait in retry.
	Degraded func(cause string)
}

// Causes of a degraded store (Options.Degraded).
const (
	// CausePermission: access denied (a file or directory's mode or owner,
	// a read-only mount, an S3 policy or an expired token).
	CausePermission = "permission"
	// CauseQuota: no room (a full disk or quota, an S3 storage quota).
	CauseQuota = "quota"
)

// degradedError marks a refusal a person must fix (see Options.Degraded).
type degradedError struct {
	cause string
	err   error
}

func (e *degradedError) Error() string { return e.err.Error() }
func (e *degradedError) Unwrap() error { return e.err }

// degrade marks err as a refusal for cause, classed retry: permission and
// quota problems are states of the store that an operator ends (a chmod, a
// policy restored, space freed) without any change to the task, so
// dead-lettering at the first attempt would leave every task of a short
// fault for a person to retry by hand; backoff outlasts the fault, and the
// alert (Options.Degraded) tells a person it is there. A wrong policy that
// stays wrong still dead-letters, once the task's retries run out.
func degrade(cause string, err error) error {
	return errclass.RetryAfter(&degradedError{cause: cause, err: err}, 0)
}

// Degradation returns the cause (CausePermission, CauseQuota) of err if it is
// a refusal a person must fix, and "" otherwise.
func Degradation(err error) string {
	var d *degradedError
	if errors.As(err, &d) {
		return d.cause
	}
	return ""
}

// report tells notify (Options.Degraded, may be nil) the cause of err if it
// has one, and returns err.
func report(notify func(string), err error) error {
	if notify != nil {
		if cause := Degradation(err); cause != "" {
			notify(cause)
		}
	}
	return err
}

// TimeoutDefault is the default Options.Timeout: far above what one S3
// request takes, well below the shortest task timeout that uses storage
// (a merge's 30 s), even with the one retry a request gets.
const TimeoutDefault = 10 * time.Second

// OpenWith is Open with options beyond the credentials.
func OpenWith(ctx context.Context, rawURL string, opts Options) (Store, error) {
	loc, err := ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, OpenTimeout)
	defer cancel()
	switch loc.Scheme {
	case "file":
		return openFile(loc.Path, opts)
	default:
		return openS3(ctx, loc, opts)
	}
}

// OpenTimeout bounds Open's check of the store.
const OpenTimeout = 5 * time.Second
