package metrics

import (
	"strings"
	"testing"

	promtest "github.com/prometheus/client_golang/prometheus/testutil"
)

// An operator reads the bucket's versioning and object lock from one
// series; a second reading (a restart of the store) replaces the first
// rather than leaving two buckets at 1.
func TestBucketInfo(t *testing.T) {
	r := New(nil)
	r.SetBucket("assets", "Off", false, "")
	r.SetBucket("assets", "Enabled", true, "COMPLIANCE")
	want := `
# HELP lifecycle_storage_bucket_info 1 for the storage bucket read at start, by its versioning (Enabled, Suspended, Off, Unknown), object lock (true, false) and default lock mode.
# TYPE lifecycle_storage_bucket_info gauge
lifecycle_storage_bucket_info{bucket="assets",lock_mode="COMPLIANCE",object_lock="true",versioning="Enabled"} 1
`
	if err := promtest.GatherAndCompare(r, strings.NewReader(want), "lifecycle_storage_bucket_info"); err != nil {
		t.Error(err)
	}
}
