package storage

import (
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strconv"

	"github.com/minio/minio-go/v7/pkg/s3utils"

	"github.com/lifecycle-worker/lifecycle/internal/errclass"
)

// Location is a parsed store URL.
type Location struct {
	Scheme string // "file" or "s3"

	Path string // file: the absolute directory

	Bucket   string // s3
	Endpoint string // s3: host:port
	Region   string // s3: "" lets the client ask the server
	Secure   bool   // s3: HTTPS
}

// DefaultS3Endpoint is used when an s3 URL names no endpoint.
const DefaultS3Endpoint = "s3.amazonaws.com"

// String is the form for logs: no secrets, no query.
func (l Location) String() string {
	if l.Scheme == "file" {
		return (&url.URL{Scheme: "file", Path: l.Path}).String()
	}
	return "s3://" + l.Bucket + "@" + l.Endpoint
}

// ParseURL checks a store URL without connecting, so that configuration can
// be validated up front; the error names the part of the URL that is wrong.
//
//	file:///abs/path
//	s3://bucket?endpoint=host:port&region=us-east-1&secure=false
//
// For s3, endpoint defaults to DefaultS3Endpoint and secure to true.
// Credentials never go in the URL, which ends up in logs.
func ParseURL(raw string) (Location, error) {
	loc, err := parseURL(raw)
	if err != nil {
		// The raw URL is not repeated: it may hold credentials by mistake.
		return Location{}, errclass.AsPermanent(fmt.Errorf("storage: bad store URL: %w", err))
	}
	return loc, nil
}

func parseURL(raw string) (Location, error) {
	if raw == "" {
		return Location{}, fmt.Errorf("empty; want file:///path or s3://bucket?endpoint=host:port")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return Location{}, fmt.Errorf("cannot parse: %v", errorWithoutURL(err))
	}
	if u.User != nil {
		return Location{}, fmt.Errorf("user info: credentials do not belong in the URL; set LIFECYCLE_S3_ACCESS_KEY and LIFECYCLE_S3_SECRET_KEY")
	}
	switch u.Scheme {
	case "file":
		return parseFileURL(u)
	case "s3":
		return parseS3URL(u)
	case "":
		return Location{}, fmt.Errorf("no scheme; want file:///path or s3://bucket?endpoint=host:port")
	default:
		return Location{}, fmt.Errorf("unknown scheme %q; want file or s3", u.Scheme)
	}
}

func errorWithoutURL(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}

func parseFileURL(u *url.URL) (Location, error) {
	switch {
	case u.Opaque != "":
		return Location{}, fmt.Errorf("file path %q is not absolute; want file:///abs/path", u.Opaque)
	case u.Host != "":
		return Location{}, fmt.Errorf("file host %q: a file URL has no host; want file:///abs/path", u.Host)
	case u.Path == "" || !filepath.IsAbs(u.Path):
		return Location{}, fmt.Errorf("file path %q is not absolute; want file:///abs/path", u.Path)
	case u.RawQuery != "":
		return Location{}, fmt.Errorf("file query %q: a file URL takes no parameters", u.RawQuery)
	}
	return Location{Scheme: "file", Path: filepath.Clean(u.Path)}, nil
}

func parseS3URL(u *url.URL) (Location, error) {
	loc := Location{Scheme: "s3", Bucket: u.Host, Endpoint: DefaultS3Endpoint, Secure: true}
	if loc.Bucket == "" {
		return Location{}, fmt.Errorf("missing bucket; want s3://bucket?endpoint=host:port")
	}
	if err := s3utils.CheckValidBucketNameStrict(loc.Bucket); err != nil {
		return Location{}, fmt.Errorf("bucket %q: %v", loc.Bucket, err)
	}
	if u.Path != "" && u.Path != "/" {
		return Location{}, fmt.Errorf("path %q: an s3 URL names a bucket only", u.Path)
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return Location{}, fmt.Errorf("query: %v", err)
	}
	for name, vals := range q {
		if len(vals) != 1 {
			return Location{}, fmt.Errorf("parameter %q given %d times", name, len(vals))
		}
		v := vals[0]
		switch name {
		case "endpoint":
			if _, _, err := net.SplitHostPort(v); err != nil && v != DefaultS3Endpoint {
				return Location{}, fmt.Errorf("endpoint %q: want host:port", v)
			}
			loc.Endpoint = v
		case "region":
			loc.Region = v
		case "secure":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return Location{}, fmt.Errorf("secure %q: want true or false", v)
			}
			loc.Secure = b
		default:
			return Location{}, fmt.Errorf("unknown parameter %q; want endpoint, region or secure", name)
		}
	}
	return loc, nil
}
