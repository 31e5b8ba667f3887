package artifi

import (
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/lifecycle-worker/lifecycle/internal/errclass"
	"github.com/lifecycle-worker/lifecycle/internal/upstream"
)

// TestEvidenceCitesTheSeeds checks every row that cites a seed against the
// testdata copy of that seed, and decodes each seed example through the
// client: it must come out as the row's effective class.
func TestEvidenceCitesTheSeeds(t *testing.T) {
	if bad := upstream.CheckCitations(Evidence, "../../../testdata/seeds"); len(bad) > 0 {
		t.Fatalf("bad citations:\n%v", bad)
	}
	c, err := New(Config{BaseURL: "http://artifi.invalid", WebsiteID: 1, ClientKey: "k"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]errclass.Class{
		upstream.ClassDone: "", upstream.ClassGone: errclass.AlreadyGone, upstream.ClassUnconfirmed: errclass.Unconfirmed,
		upstream.ClassPermanent: errclass.Permanent, upstream.ClassRetry: errclass.Retry,
	}
	for _, r := range Evidence {
		if r.Example == "" {
			continue
		}
		_, err := c.decode(r.Op, &http.Response{StatusCode: r.Status, Header: http.Header{}}, DocumentedBody(r.Example))
		if diff := cmp.Diff(want[r.Effective()], errclass.Of(err)); diff != "" {
			t.Errorf("%s %s (%s): class (-row +client):\n%s", r.Op, r.Example, r.Source, diff)
		}
	}
}

// TestCodesCountOnlyForTheVersionThatDocumentsThem: 227 is absence on v3
// (seed 000), 327 on v4 (seed 001); the other way round, and every code of
// the undocumented listing, is unconfirmed. An unknown code on a 200 is
// unconfirmed, not a retry.
func TestCodesCountOnlyForTheVersionThatDocumentsThem(t *testing.T) {
	c, err := New(Config{BaseURL: "http://artifi.invalid", WebsiteID: 1, ClientKey: "k"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		op, code string
		want     errclass.Class
	}{
		{opDeleteV3, "227", errclass.AlreadyGone},
		{opDeleteV3, "327", errclass.Unconfirmed},
		{opDeleteV4, "327", errclass.AlreadyGone},
		{opDeleteV4, "227", errclass.Unconfirmed},
		{opDeleteV4, "261", errclass.Unconfirmed},
		{opList, "261", errclass.Unconfirmed},
		{opList, "227", errclass.Unconfirmed},
		{opDeleteDesigns, "227", errclass.Unconfirmed},
		{opUpdateUserID, "232", errclass.AlreadyGone},
		{opDeleteV4, "999", errclass.Unconfirmed},
		{opDeleteV4, "500", errclass.Retry},
	}
	for _, tt := range tests {
		body := []byte(`{"Response":"Error","Message":"x","Data":null,"ErrorCode":"` + tt.code + `"}`)
		_, err := c.decode(tt.op, &http.Response{StatusCode: 200, Header: http.Header{}}, body)
		if got := errclass.Of(err); got != tt.want {
			t.Errorf("%s code %s: class %q, want %q", tt.op, tt.code, got, tt.want)
		}
	}
}
