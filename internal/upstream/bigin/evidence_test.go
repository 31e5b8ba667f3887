package bigin_test

import (
	"testing"

	"github.com/lifecycle-worker/lifecycle/internal/upstream"
	"github.com/lifecycle-worker/lifecycle/internal/upstream/bigin"
)

// TestEvidenceCitesTheSeeds checks every row citing seed 002 against the
// testdata copy, and that each row's example is a body the seed shows.
func TestEvidenceCitesTheSeeds(t *testing.T) {
	if bad := upstream.CheckCitations(bigin.Evidence, "../../../testdata/seeds"); len(bad) > 0 {
		t.Fatalf("bad citations:\n%v", bad)
	}
	for _, r := range bigin.Evidence {
		if r.Example != "" && len(bigin.SeedBody(r.Example)) == 0 {
			t.Errorf("%s: empty example %s", r.Code, r.Example)
		}
	}
}
