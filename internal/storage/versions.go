package storage

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/lifecycle-worker/lifecycle/internal/errclass"
)

// On a bucket with versioning, a DELETE without a version id only adds a
// delete marker: every earlier version stays readable. So on such a bucket
// (versioning Enabled, or Suspended after having been enabled: the old
// versions are still there) Delete and DeleteMany remove every version and
// delete marker of each key, Entries lists them, and PurgePrefix removes
// everything under a prefix, unfinished multipart uploads included. A file
// store has no versions: nothing of this changes it.

// BucketConfig is what the service learned of its bucket at start.
type BucketConfig struct {
	Bucket     string `json:"bucket"`
	Versioning string `json:"versioning"`            // "Enabled", "Suspended", "Off" or "Unknown"
	ObjectLock bool   `json:"object_lock"`           // object lock enabled on the bucket
	LockMode   string `json:"lock_mode,omitempty"`   // default retention mode, if any
	LockPeriod string `json:"lock_period,omitempty"` // default retention period, e.g. "30DAYS"
}

// Versioned reports whether deletes must remove versions one by one. A
// bucket whose versioning could not be read counts as versioned: deleting
// by version id works on any bucket, and guessing "off" would leave
// versions behind unnoticed.
func (c BucketConfig) Versioned() bool { return c.Versioning != "Off" }

// Describe returns the bucket configuration of s, and false for a store
// without one (a file store).
func Describe(s any) (BucketConfig, bool) {
	st := s3Of(s)
	if st == nil {
		return BucketConfig{}, false
	}
	c := st.config
	c.Bucket = st.bucket
	return c, true
}

// s3Of is the S3 store behind s (through its tracing), or nil for another
// store: what only S3 has (versions, uploads, a bucket's configuration)
// is asked of it.
func s3Of(s any) *s3Store {
	switch st := s.(type) {
	case *s3Store:
		return st
	case traced:
		return s3Of(st.s)
	}
	return nil
}

// readBucketConfig asks the server for the bucket's versioning and object
// lock. A server that does not implement one of the calls (NotImplemented)
// has none of it; any other failure leaves it "Unknown" (see Versioned).
func readBucketConfig(ctx context.Context, c *minio.Client, bucket string) BucketConfig {
	cfg := BucketConfig{Versioning: "Off"}
	v, err := c.GetBucketVersioning(ctx, bucket)
	switch {
	case err == nil:
		if v.Status != "" {
			cfg.Versioning = v.Status
		}
	case notConfigured(err):
	default:
		cfg.Versioning = "Unknown"
	}
	enabled, mode, validity, unit, err := c.GetObjectLockConfig(ctx, bucket)
	switch {
	case err == nil:
		cfg.ObjectLock = enabled == "Enabled"
		if mode != nil {
			cfg.LockMode = mode.String()
		}
		if validity != nil && unit != nil {
			cfg.LockPeriod = fmt.Sprintf("%d%s", *validity, unit.String())
		}
	case notConfigured(err):
	}
	return cfg
}

func notConfigured(err error) bool {
	switch minio.ToErrorResponse(err).Code {
	case "ObjectLockConfigurationNotFoundError", "NotImplemented", "VersioningNotConfigured",
		"InvalidBucketState", "MethodNotAllowed":
		return true
	}
	return false
}

// version is one version or delete marker of a key.
type version struct {
	Key, ID      string
	DeleteMarker bool
}

func (v version) String() string {
	if v.DeleteMarker {
		return VersionEntry(v.Key, v.ID) + " (delete marker)"
	}
	return VersionEntry(v.Key, v.ID)
}

// VersionEntry is how Entries names one version of a key.
func VersionEntry(key, versionID string) string { return key + "?versionId=" + versionID }

// versions lists every version and delete marker under prefix; exact keeps
// only those of the key prefix itself.
func (s *s3Store) versions(ctx context.Context, prefix string, exact bool) ([]version, error) {
	var out []version
	for obj := range s.client.ListObjectsIter(ctx, s.bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true, WithVersions: true}) {
		if obj.Err != nil {
			return nil, s.fail(ctx, "list versions", prefix, obj.Err)
		}
		if exact && obj.Key != prefix {
			continue
		}
		out = append(out, version{Key: obj.Key, ID: obj.VersionID, DeleteMarker: obj.IsDeleteMarker})
	}
	return out, nil
}

// Retained is a version that the bucket's object lock keeps: retention
// until a date, or a legal hold, refused its delete.
type Retained struct {
	Key       string    `json:"key"`
	VersionID string    `json:"version_id,omitempty"`
	Mode      string    `json:"mode,omitempty"`   // GOVERNANCE or COMPLIANCE
	Until     time.Time `json:"until,omitzero"`   // retain-until date
	LegalHold bool      `json:"legal_hold"`       // a legal hold is on
	Answer    string    `json:"answer,omitempty"` // the server's refusal
}

// ErrRetained is wrapped by the error (classed permanent) of a delete that
// the bucket's object lock refused (see *RetainedError). Retrying does not
// help: a person decides (GDPR Art. 17(3)).
var ErrRetained = errors.New("storage: retained by object lock")

// RetainedError lists the versions an object lock kept.
type RetainedError struct{ Retained []Retained }

func (e *RetainedError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%v: %d versions", ErrRetained, len(e.Retained))
	for i, r := range e.Retained {
		if i == maxListedFailures {
			fmt.Fprintf(&b, "; and %d more", len(e.Retained)-i)
			break
		}
		fmt.Fprintf(&b, "; %q", r.Key)
		if r.Mode != "" {
			fmt.Fprintf(&b, " %s", r.Mode)
		}
		if !r.Until.IsZero() {
			fmt.Fprintf(&b, " until %s", r.Until.UTC().Format(time.RFC3339))
		}
		if r.LegalHold {
			b.WriteString(" legal hold")
		}
	}
	return b.String()
}

func (e *RetainedError) Unwrap() error { return ErrRetained }

// lockRefusal reports whether err is a refusal to delete a locked version.
// S3 answers AccessDenied with a message about object lock; versitygw and
// MinIO say so the same way.
func lockRefusal(err error) bool {
	resp := minio.ToErrorResponse(err)
	if resp.Code == "ObjectLocked" || resp.Code == "InvalidRequest" && strings.Contains(strings.ToLower(resp.Message), "lock") {
		return true
	}
	msg := strings.ToLower(resp.Message + " " + err.Error())
	return (resp.Code == "AccessDenied" || resp.StatusCode == 403) &&
		(strings.Contains(msg, "object lock") || strings.Contains(msg, "retention") || strings.Contains(msg, "legal hold") || strings.Contains(msg, "worm"))
}

// retained asks why a version is locked. What it records must be true of
// that version: a server that cannot answer GetObjectRetention for it is
// asked with a HEAD of the version, whose lock headers say the same
// (versitygw v1.8.0 answers the retention under a root element minio-go
// does not read, <ObjectLockRetention>, but its HEAD carries the lock). The
// current version's lock is never taken for an older one's; what no answer
// gives stays empty, and the refusal alone is recorded.
func (s *s3Store) retained(ctx context.Context, v version, answer error) Retained {
	r := Retained{Key: v.Key, VersionID: v.ID, Answer: minio.ToErrorResponse(answer).Message}
	mode, until, rerr := s.client.GetObjectRetention(ctx, s.bucket, v.Key, v.ID)
	if rerr == nil {
		if mode != nil {
			r.Mode = mode.String()
		}
		if until != nil {
			r.Until = *until
		}
	}
	hold, herr := s.client.GetObjectLegalHold(ctx, s.bucket, v.Key, minio.GetObjectLegalHoldOptions{VersionID: v.ID})
	if herr == nil && hold != nil {
		r.LegalHold = *hold == minio.LegalHoldEnabled
	}
	if rerr == nil && herr == nil {
		return r
	}
	info, err := s.client.StatObject(ctx, s.bucket, v.Key, minio.StatObjectOptions{VersionID: v.ID})
	if err != nil {
		return r
	}
	if rerr != nil {
		r.Mode = strings.ToUpper(info.Metadata.Get("X-Amz-Object-Lock-Mode"))
		if t, err := time.Parse(time.RFC3339, info.Metadata.Get("X-Amz-Object-Lock-Retain-Until-Date")); err == nil {
			r.Until = t
		}
	}
	if herr != nil {
		r.LegalHold = strings.EqualFold(info.Metadata.Get("X-Amz-Object-Lock-Legal-Hold"), "ON")
	}
	return r
}

// removeVersions deletes the given versions in batches; it returns the
// count deleted, those the object lock kept, and the other failures.
func (s *s3Store) removeVersions(ctx context.Context, vs []version) (deleted int, kept []Retained, failed []KeyFailure) {
	for chunk := range slices.Chunk(vs, deleteBatch) {
		if err := s.refused("delete", chunk[0].Key); err != nil {
			for _, v := range chunk {
				failed = append(failed, KeyFailure{Key: v.Key, Err: err})
			}
			continue
		}
		objs := make([]minio.ObjectInfo, len(chunk))
		byID := make(map[[2]string]version, len(chunk))
		for i, v := range chunk {
			objs[i] = minio.ObjectInfo{Key: v.Key, VersionID: v.ID}
			byID[[2]string{v.Key, v.ID}] = v
		}
		results, err := s.client.RemoveObjectsWithIter(ctx, s.bucket, slices.Values(objs), minio.RemoveObjectsOptions{})
		if err != nil {
			err = s.fail(ctx, "delete", chunk[0].Key, err)
			for _, v := range chunk {
				failed = append(failed, KeyFailure{Key: v.Key, Err: err})
			}
			continue
		}
		errs := 0
		for res := range results {
			if res.Err == nil {
				continue
			}
			errs++
			v := byID[[2]string{res.ObjectName, res.ObjectVersionID}]
			if v.Key == "" {
				v = version{Key: res.ObjectName, ID: res.ObjectVersionID}
			}
			switch {
			case lockRefusal(res.Err):
				kept = append(kept, s.retained(ctx, v, res.Err))
			case errors.Is(s.classify("delete", res.ObjectName, res.Err), ErrNotFound):
				// deleted meanwhile
			default:
				failed = append(failed, KeyFailure{Key: v.String(), Err: s.fail(ctx, "delete", res.ObjectName, res.Err)})
			}
		}
		if ctx.Err() != nil {
			for _, v := range chunk {
				failed = append(failed, KeyFailure{Key: v.Key, Err: ctx.Err()})
			}
			continue
		}
		deleted += len(chunk) - errs
	}
	return deleted, kept, failed
}

// deleteAllVersions is DeleteMany on a versioned bucket.
func (s *s3Store) deleteAllVersions(ctx context.Context, keys []string) error {
	var failed []KeyFailure
	var all []version
	for _, key := range keys {
		if err := ValidateKey(key); err != nil {
			failed = append(failed, KeyFailure{Key: key, Err: err})
			continue
		}
		vs, err := s.versions(ctx, key, true)
		if err != nil {
			failed = append(failed, KeyFailure{Key: key, Err: err})
			continue
		}
		all = append(all, vs...)
	}
	_, kept, more := s.removeVersions(ctx, all)
	failed = append(failed, more...)
	if len(failed) > 0 {
		return deleteError(failed, len(keys))
	}
	if len(kept) > 0 {
		// Permanent: the lock holds until its date or until someone lifts
		// the hold; retrying meanwhile only loops.
		return errclass.AsPermanent(&RetainedError{Retained: kept})
	}
	return nil
}

// Held reports whether s holds anything of key: the object, or on a
// versioned bucket any version or delete marker of it. A key whose current
// version is a delete marker answers "not found" to Stat, yet its earlier
// versions are readable: a deletion that trusted Stat would call it already
// gone and leave them.
func Held(ctx context.Context, s interface {
	Stat(ctx context.Context, key string) (Object, error)
}, key string) (bool, error) {
	if st := s3Of(s); st != nil && st.config.Versioned() {
		if err := ValidateKey(key); err != nil {
			return false, err
		}
		vs, err := st.versions(ctx, key, true)
		return len(vs) > 0, err
	}
	_, err := s.Stat(ctx, key)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// Purge is the result of PurgePrefix.
type Purge struct {
	Versions int        // versions and delete markers removed
	Uploads  int        // unfinished multipart uploads aborted
	Retained []Retained // kept by the object lock
}

// PurgePrefix removes everything under prefix that S3 keeps besides the
// current objects: every version and delete marker, and the parts of
// unfinished multipart uploads. On a file store (no versions, no uploads)
// it does nothing. Running it again is safe.
func PurgePrefix(ctx context.Context, s any, prefix string) (Purge, error) {
	if st := s3Of(s); st != nil {
		return st.purgePrefix(ctx, prefix)
	}
	return Purge{}, nil
}

func (s *s3Store) purgePrefix(ctx context.Context, prefix string) (Purge, error) {
	var p Purge
	if err := validatePrefix(prefix); err != nil || prefix == "" {
		return p, cmpErr(err, fmt.Errorf("%w: PurgePrefix needs a prefix", ErrInvalidKey))
	}
	uploads, err := s.uploads(ctx, prefix)
	if err != nil {
		return p, err
	}
	for _, key := range uploads {
		if err := s.client.RemoveIncompleteUpload(ctx, s.bucket, key); err != nil {
			if err := s.fail(ctx, "abort upload", key, err); !errors.Is(err, ErrNotFound) {
				return p, err
			}
		}
		p.Uploads++
	}
	if !s.config.Versioned() {
		return p, nil
	}
	vs, err := s.versions(ctx, prefix, false)
	if err != nil {
		return p, err
	}
	deleted, kept, failed := s.removeVersions(ctx, vs)
	p.Versions, p.Retained = deleted, kept
	if len(failed) > 0 {
		return p, deleteError(failed, len(vs))
	}
	return p, nil
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// uploads names the keys of unfinished multipart uploads under prefix.
func (s *s3Store) uploads(ctx context.Context, prefix string) ([]string, error) {
	var keys []string
	for u := range s.client.ListIncompleteUploads(ctx, s.bucket, prefix, true) {
		if u.Err != nil {
			return nil, s.fail(ctx, "list uploads", prefix, u.Err)
		}
		if len(keys) == 0 || keys[len(keys)-1] != u.Key {
			keys = append(keys, u.Key)
		}
	}
	return keys, nil
}

// Entries names everything under prefix that holds data: current objects,
// and on a versioned bucket every other version and delete marker, and
// unfinished multipart uploads. An erasure verifies with it.
func (s *s3Store) Entries(ctx context.Context, prefix string) ([]string, error) {
	var out []string
	if s.config.Versioned() {
		vs, err := s.versions(ctx, prefix, false)
		if err != nil {
			return nil, err
		}
		for _, v := range vs {
			out = append(out, v.String())
		}
	} else {
		for o, err := range s.List(ctx, prefix, "") {
			if err != nil {
				return nil, err
			}
			out = append(out, o.Key)
		}
	}
	uploads, err := s.uploads(ctx, prefix)
	if err != nil {
		return nil, err
	}
	for _, key := range uploads {
		out = append(out, key+" (unfinished upload)")
	}
	return out, nil
}
