package sweep_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/lifecycle-worker/lifecycle/internal/identity"
	"github.com/lifecycle-worker/lifecycle/internal/merge"
	"github.com/lifecycle-worker/lifecycle/internal/sim/artifisim"
	"github.com/lifecycle-worker/lifecycle/internal/sim/faults"
	"github.com/lifecycle-worker/lifecycle/internal/skeys"
	"github.com/lifecycle-worker/lifecycle/internal/sweep"
	"github.com/lifecycle-worker/lifecycle/internal/testutil"
	"github.com/lifecycle-worker/lifecycle/internal/upstream/artifi"
)

// TestLyingUpstreamsSweep sweeps the stored photos of a user who still has
// every one of them in Artifi (three listing pages), plus one photo Artifi
// no longer has, while Artifi lies. No object of a photo the owner still has
// upstream may be quarantined. With no lie, the one deleted upstream is
// quarantined and nothing else, so the test can fail.
func TestLyingUpstreamsSweep(t *testing.T) {
	_, rdb := testutil.RealRedis(t)
	modes := []string{"", artifisim.LieUnknownCode, artifisim.LieGoneForExisting, artifisim.LieListNoTotal, artifisim.LieListDropPage}
	var live int64
	for n, mode := range modes {
		t.Run(fmt.Sprintf("mode=%q", mode), func(t *testing.T) {
			ctx := context.Background()
			sim := artifisim.New(artifisim.Options{WebsiteID: 5, ClientKey: "k"})
			url, err := sim.Start()
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(sim.Close)
			ac, err := artifi.New(artifi.Config{BaseURL: url, WebsiteID: 5, ClientKey: "k"})
			if err != nil {
				t.Fatal(err)
			}
			store, _ := testutil.FileStore(t)
			user := fmt.Sprintf("u-%d", n)
			photos := sim.AddPhotos(user, 2*artifi.PageSizeDefault+9)
			for _, p := range photos {
				testutil.PutObjects(t, store, skeys.UserPhotos(user)+p+".jpg")
			}
			testutil.PutObjects(t, store, skeys.UserPhotos(user)+"1.jpg") // deleted upstream
			sim.Faults().Set(faults.Config{Lies: []string{mode}})
			s, err := sweep.New(sweep.Params{Store: store, Redis: rdb, Identity: identity.New(rdb), Merges: &merge.Merger{Redis: rdb},
				Photos: ac, MaxShare: 1, Now: func() time.Time { return time.Now().Add(48 * time.Hour) }, Log: zerolog.Nop()})
			if err != nil {
				t.Fatal(err)
			}
			r, err := s.Sweep(ctx, fmt.Sprintf("sweep-%d", n), false)
			moved := testutil.Keys(t, store, skeys.QuarantinePrefix(fmt.Sprintf("sweep-%d", n)))
			for _, k := range moved {
				if k != skeys.Quarantined(fmt.Sprintf("sweep-%d", n), skeys.UserPhotos(user)+"1.jpg") {
					live++
					t.Errorf("quarantined %s, whose photo Artifi still has", k)
				}
			}
			if mode == "" && (err != nil || r.Moved != 1 || len(moved) != 1) {
				t.Errorf("honest Artifi: sweep = %v, moved %d (%v); want the one deleted upstream", err, r.Moved, moved)
			}
		})
	}
	fmt.Printf("lying upstreams (sweep): %d modes + control, %d quarantines of live objects\n", len(modes)-1, live)
}
