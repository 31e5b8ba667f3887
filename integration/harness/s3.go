package harness

import (
	"context"
	"fmt"
	"net/url"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/lifecycle-worker/lifecycle/internal/storage"
)

// S3Image is the locally built versitygw image (deploy/images/build.sh).
const S3Image = "lifecycle-s3:dev"

// S3 is a running S3 server (versitygw, which checks SigV4 signatures) with
// one empty bucket.
type S3 struct {
	Endpoint  string // host:port on localhost
	AccessKey string
	SecretKey string
	Bucket    string

	client    *minio.Client
	container testcontainers.Container
}

// URL is the store URL that storage.Open takes for s.Bucket.
func (s S3) URL() string { return s.BucketURL(s.Bucket) }

// BucketURL is the store URL of another bucket on the same server.
func (s S3) BucketURL(bucket string) string {
	q := url.Values{"endpoint": {s.Endpoint}, "secure": {"false"}, "region": {"us-east-1"}}
	return "s3://" + bucket + "?" + q.Encode()
}

// Open opens our storage on bucket of this server, as the service would.
func (s S3) Open(t testing.TB, bucket string) storage.Store {
	t.Helper()
	st, err := storage.Open(t.Context(), s.BucketURL(bucket), storage.Credentials{AccessKey: s.AccessKey, SecretKey: s.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// Client is a minio-go client for seeding and inspecting the server.
func (s S3) Client() *minio.Client { return s.client }

// Pause freezes the server (docker pause): its port still accepts
// connections, but nothing answers, as a stalled store. Unpause ends it.
func (s S3) Pause(t testing.TB) { s.docker(t, "pause") }

// Unpause lets a paused server answer again.
func (s S3) Unpause(t testing.TB) { s.docker(t, "unpause") }

func (s S3) docker(t testing.TB, verb string) {
	t.Helper()
	if out, err := exec.Command("docker", verb, s.container.GetContainerID()).CombinedOutput(); err != nil {
		t.Fatalf("docker %s: %v: %s", verb, err, out)
	}
}

var bucketSeq atomic.Int64

// NewBucket creates an empty bucket, for a test that needs a store of its
// own, and returns its name.
func (s S3) NewBucket(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("test-%d-%d", time.Now().UnixNano()%1e9, bucketSeq.Add(1))
	if err := s.client.MakeBucket(context.Background(), name, minio.MakeBucketOptions{Region: "us-east-1"}); err != nil {
		t.Fatalf("creating bucket %s: %v", name, err)
	}
	return name
}

// StartS3 starts the S3 image for the test (stopped at its end) and creates
// a bucket in it. The image must be built locally: nothing can be pulled
// here, so a missing image fails at once instead of waiting on a pull.
func StartS3(t testing.TB) S3 { return startS3(t, nil) }

// StartS3Versioned is StartS3 with versitygw's posix versioning on (its
// versions live in a directory of their own): buckets then take
// versioning and object lock, as on AWS.
func StartS3Versioned(t testing.TB) S3 {
	return startS3(t, map[string]string{"VGW_VERSIONING_DIR": versionsDir})
}

// versionsDir is made by copying a file into it: the image, FROM scratch,
// has no mkdir.
const versionsDir = "/tmp/versions"

// NewVersionedBucket creates a bucket with versioning enabled, and with
// object lock if lock is set, and returns its name.
func (s S3) NewVersionedBucket(t testing.TB, lock bool) string {
	t.Helper()
	ctx := context.Background()
	name := fmt.Sprintf("test-v-%d-%d", time.Now().UnixNano()%1e9, bucketSeq.Add(1))
	if err := s.client.MakeBucket(ctx, name, minio.MakeBucketOptions{Region: "us-east-1", ObjectLocking: lock}); err != nil {
		t.Fatalf("creating bucket %s: %v", name, err)
	}
	if err := s.client.EnableVersioning(ctx, name); err != nil {
		t.Fatalf("enabling versioning on %s: %v", name, err)
	}
	return name
}

func startS3(t testing.TB, env map[string]string) S3 {
	t.Helper()
	ctx := context.Background()
	checkImage(t, S3Image)

	s := S3{AccessKey: "lifecycle-test", SecretKey: "lifecycle-test-secret", Bucket: "lifecycle"}
	c, err := testcontainers.GenericContainer(ctx, testcontainers.GenericContainerRequest{
		ContainerRequest: testcontainers.ContainerRequest{
			Image:        S3Image,
			ExposedPorts: []string{"7070/tcp"},
			Env:          s3Env(s, env),
			Files:        s3Files(env),
			WaitingFor:   wait.ForHTTP("/health").WithPort("7070/tcp").WithStartupTimeout(30 * time.Second),
		},
		Started: true,
	})
	testcontainers.CleanupContainer(t, c)
	if err != nil {
		t.Fatalf("starting %s: %v", S3Image, err)
	}
	s.container = c
	t.Cleanup(func() { _ = exec.Command("docker", "unpause", c.GetContainerID()).Run() }) // a paused container does not stop
	s.Endpoint, err = c.PortEndpoint(ctx, "7070/tcp", "")
	if err != nil {
		t.Fatalf("%s port: %v", S3Image, err)
	}
	s.client, err = minio.New(s.Endpoint, &minio.Options{
		Creds:  credentials.NewStaticV4(s.AccessKey, s.SecretKey, ""),
		Region: "us-east-1",
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.client.MakeBucket(ctx, s.Bucket, minio.MakeBucketOptions{Region: "us-east-1"}); err != nil {
		t.Fatalf("creating bucket %s: %v", s.Bucket, err)
	}
	return s
}

func checkImage(t testing.TB, image string) {
	t.Helper()
	cli, err := testcontainers.NewDockerClientWithOpts(context.Background())
	if err != nil {
		t.Fatalf("docker: %v", err)
	}
	defer cli.Close()
	if _, err := cli.ImageInspect(context.Background(), image); err != nil {
		if errdefs.IsNotFound(err) || strings.Contains(err.Error(), "No such image") {
			t.Fatalf("image %s not found: run `make images`", image)
		}
		t.Fatalf("inspecting image %s: %v", image, err)
	}
}

func s3Env(s S3, extra map[string]string) map[string]string {
	env := map[string]string{"ROOT_ACCESS_KEY": s.AccessKey, "ROOT_SECRET_KEY": s.SecretKey}
	for k, v := range extra {
		env[k] = v
	}
	return env
}

func s3Files(env map[string]string) []testcontainers.ContainerFile {
	if env["VGW_VERSIONING_DIR"] == "" {
		return nil
	}
	return []testcontainers.ContainerFile{{Reader: strings.NewReader(""), ContainerFilePath: versionsDir + "/.keep", FileMode: 0o644}}
}
