package sim_test

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/lifecycle-worker/lifecycle/internal/sim"
	"github.com/lifecycle-worker/lifecycle/internal/testutil"
	"github.com/lifecycle-worker/lifecycle/internal/upstream/artifi"
	"github.com/lifecycle-worker/lifecycle/internal/upstream/bigin"
	"github.com/lifecycle-worker/lifecycle/internal/upstream/ibmbpm"
)

// The Set's URLs and credentials are enough to configure the three clients,
// and the demo data gives each something to delete.
func TestStartServesTheThreeSystems(t *testing.T) {
	ctx := context.Background()
	set, err := sim.Start(ctx, sim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	cr, demo := set.Credentials, set.Demo

	ac, err := artifi.New(artifi.Config{BaseURL: set.ArtifiURL, WebsiteID: cr.ArtifiWebsiteID, ClientKey: cr.ArtifiClientKey})
	if err != nil {
		t.Fatal(err)
	}
	user := demo.ArtifiUsers[0]
	photo := demo.ArtifiPhotos[user][0]
	if err := ac.DeleteUserPhotoV4(ctx, user, photo); err != nil {
		t.Errorf("Artifi: delete demo photo: %v", err)
	}
	if got := set.Artifi.DeleteCount(photo); got != 1 {
		t.Errorf("Artifi counted %d deletes of %s, want 1", got, photo)
	}

	_, rdb := testutil.Redis(t)
	bc, err := bigin.New(bigin.Config{AccountsURL: set.BiginURL, APIDomain: set.BiginURL,
		ClientID: cr.BiginClientID, ClientSecret: cr.BiginClientSecret, RefreshToken: cr.BiginRefreshToken, Redis: rdb})
	if err != nil {
		t.Fatal(err)
	}
	rec := demo.BiginRecords[0]
	if err := bc.DeleteRecordPhoto(ctx, rec.Module, rec.ID); err != nil {
		t.Errorf("Bigin: delete demo photo: %v", err)
	}
	if set.Bigin.HasPhoto(rec.Module, rec.ID) {
		t.Errorf("Bigin record %s still has its photo", rec.ID)
	}

	pc, err := ibmbpm.New(ibmbpm.Config{BaseURL: set.BPMURL, Username: cr.BPMUsername, Password: cr.BPMPassword})
	if err != nil {
		t.Fatal(err)
	}
	bu := demo.BPMUsers[0]
	if err := pc.DeleteAvatar(ctx, bu.Name); err != nil {
		t.Errorf("BPM: delete demo avatar: %v", err)
	}
	if !set.BPM.AvatarIsDefault(bu.Name) {
		t.Errorf("BPM user %s still has a custom avatar", bu.Name)
	}
}

// Fixed ports are honoured; ending ctx stops every simulator and frees them.
func TestFixedPortsAndContextEnd(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ports := freePorts(t, 3)
	ctx, cancel := context.WithCancel(context.Background())
	set, err := sim.Start(ctx, sim.Options{
		ArtifiAddr: "127.0.0.1:" + ports[0], BiginAddr: "127.0.0.1:" + ports[1], BPMAddr: "127.0.0.1:" + ports[2],
		NoDemoData: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	urls := []string{set.ArtifiURL, set.BiginURL, set.BPMURL}
	for i, u := range urls {
		if want := "http://127.0.0.1:" + ports[i]; u != want {
			t.Errorf("URL %s, want %s", u, want)
		}
	}
	cancel()
	for _, u := range urls {
		testutil.Eventually(t, 5*time.Second, func() bool {
			c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
			resp, err := c.Get(u + "/_sim/faults")
			if err != nil {
				return true
			}
			resp.Body.Close()
			return false
		}, "%s still serves after ctx ended", u)
	}
	if err := set.Close(); err != nil { // a second close is harmless
		t.Error(err)
	}
}

func TestStartRefusesNonLoopback(t *testing.T) {
	_, err := sim.Start(context.Background(), sim.Options{BiginAddr: "0.0.0.0:0"})
	want := `simulate: Options.BiginAddr: "0.0.0.0:0" is not a loopback address: the simulators accept test credentials`
	if err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
}

func freePorts(t *testing.T, n int) []string {
	t.Helper()
	var ports []string
	var lns []net.Listener
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		ports = append(ports, strconv.Itoa(ln.Addr().(*net.TCPAddr).Port))
	}
	for _, ln := range lns {
		ln.Close()
	}
	return ports
}
