package artifisim

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/lifecycle-worker/lifecycle/internal/sim/faults"
)

func TestStartOnRefusesNonLoopback(t *testing.T) {
	s := New(Options{WebsiteID: 1, ClientKey: "k"})
	for _, addr := range []string{"0.0.0.0:0", ":0", "192.0.2.1:0", "example.com:0"} {
		if _, err := s.StartOn(addr); err == nil {
			s.Close()
			t.Errorf("StartOn(%q) succeeded, want a refusal", addr)
		}
	}
}

func TestAdminEndpoints(t *testing.T) {
	// Every API request is reset: the admin paths must still answer.
	s := New(Options{WebsiteID: 1, ClientKey: "k", Faults: faults.Config{ResetRate: 1}})
	url, err := s.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.AddPhotos("u1", 2)
	s.AddDesigns("u1", 1)
	s.AddCartItems("g1", 3)

	resp, err := http.Get(url + "/_sim/state")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st struct {
		Users map[string]map[string]int `json:"users"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string]int{
		"u1": {"photos": 2, "designs": 1, "cart_items": 0},
		"g1": {"photos": 0, "designs": 0, "cart_items": 3},
	}
	if diff := cmp.Diff(want, st.Users); diff != "" {
		t.Errorf("/_sim/state users (-want +got):\n%s", diff)
	}

	req, _ := http.NewRequest(http.MethodPut, url+"/_sim/faults", strings.NewReader(`{"reset_rate":0}`))
	resp2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp2.Body.Close()
	if resp2.StatusCode != 200 || s.Faults().Config().ResetRate != 0 {
		t.Errorf("PUT /_sim/faults: %d, reset rate %v", resp2.StatusCode, s.Faults().Config().ResetRate)
	}

	// ASP.NET answers a wrong method with 405 and no body.
	resp3, err := http.Post(url+"/api/4/User/UpdateUserId", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp3.Body.Close()
	if resp3.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST UpdateUserId: %d, want 405", resp3.StatusCode)
	}
}

// TestCallCountsTellLostReplies: the per-item counters the fault suite
// checks repeats against count a call whose reply was dropped as a call and
// as lost, and an UpdateUserId as applied only once per old id.
func TestCallCountsTellLostReplies(t *testing.T) {
	s := New(Options{WebsiteID: 1, ClientKey: "k", Faults: faults.Config{DropReplyRate: 1}})
	url, err := s.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	photo := s.AddPhotos("u1", 1)[0]
	s.AddPhotos("g1", 1)
	call := func(method, path string) {
		req, _ := http.NewRequest(method, url+path, nil)
		req.Header.Set("websiteId", "1")
		req.Header.Set("webApiClientKey", "k")
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}
	del := "/api/4/UploadImage/DeleteUserPhoto?userId=u1&photoId=" + photo
	merge := "/api/4/User/UpdateUserId?oldUserId=g1&newUserId=u1&isGuest=true"
	call(http.MethodGet, del)
	call(http.MethodPut, merge)
	s.Faults().Set(faults.Config{})
	call(http.MethodGet, del)
	call(http.MethodPut, merge)

	if c, l := s.DeleteCount(photo), s.DeleteLost(photo); c != 2 || l != 1 {
		t.Errorf("delete: %d calls, %d lost; want 2, 1", c, l)
	}
	if c, l, a := s.MergeCalls("g1"); c != 2 || l != 1 || a != 1 {
		t.Errorf("merge: %d calls, %d lost, %d applied; want 2, 1, 1", c, l, a)
	}
}
