package skeys_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lifecycle-worker/lifecycle/internal/skeys"
	"github.com/lifecycle-worker/lifecycle/tasks"
)

// The paths are persistent data: each builder is pinned to the exact bytes
// already in storage.
func TestBuilders(t *testing.T) {
	failed := time.Date(2026, 3, 1, 12, 0, 0, 0, time.FixedZone("CET", 3600))
	tests := []struct {
		name string
		got  string
		want string
	}{
		{"Users", skeys.Users(), "users/"},
		{"UserPrefix", skeys.UserPrefix("u-1"), "users/u-1/"},
		{"UserPhotos", skeys.UserPhotos("u-1"), "users/u-1/photos/"},
		{"Receipt", skeys.Receipt("erase-1"), "receipts/erase-1.json"},
		{"QuarantinePrefix", skeys.QuarantinePrefix("s-1"), "quarantine/s-1/"},
		{"Quarantined", skeys.Quarantined("s-1", "users/u-1/a.jpg"), "quarantine/s-1/users/u-1/a.jpg"},
		{"Sweeps", skeys.Sweeps(), "sweeps/"},
		{"SweepReport", skeys.SweepReport("s-1"), "sweeps/s-1/report.json"},
		{"SweepManifest", skeys.SweepManifest("s-1"), "sweeps/s-1/manifest/"},
		{"SweepManifestPart", skeys.SweepManifestPart("s-1", 42), "sweeps/s-1/manifest/000042.jsonl"},
		{"SweepManifestPartWide", skeys.SweepManifestPart("s-1", 1234567), "sweeps/s-1/manifest/1234567.jsonl"},
		{"DeadLetter", skeys.DeadLetter("photo", "t-1", failed), "dead-letters/photo/t-1-1772362800.json"},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, tt.got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.name, diff)
		}
	}
}

func TestOwnerOf(t *testing.T) {
	tests := []struct {
		key  string
		want string
	}{
		{skeys.UserPrefix("u-1") + "a.jpg", "u-1"},
		{skeys.UserPhotos("guest-7") + "1.jpg", "guest-7"},
		{skeys.UserPrefix("u-1") + "deep/er/a", "u-1"},
		// Other shapes: no owner.
		{"users/x", ""},
		{"users/", ""},
		{"", ""},
		{skeys.Receipt("u-1"), ""},
		{skeys.Quarantined("s-1", skeys.UserPrefix("u-1")+"a.jpg"), ""},
		{skeys.SweepReport("s-1"), ""},
		{"user/u-1/a", ""},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, skeys.OwnerOf(tt.key)); diff != "" {
			t.Errorf("OwnerOf(%q) (-want +got):\n%s", tt.key, diff)
		}
	}
}

func TestPhotoID(t *testing.T) {
	type result struct {
		ID string
		OK bool
	}
	tests := []struct {
		key  string
		want result
	}{
		{skeys.UserPhotos("u-1") + "123.jpg", result{"123", true}},
		{"users/u-1/photos/123.jpg", result{"123", true}},
		{"users/u-1/photos/123", result{"123", true}},
		{"users/u-1/photos/123.tar.gz", result{"123", true}},
		{"users/u-1/photos/.jpg", result{}},
		{"users/u-1/photos/sub/123.jpg", result{}},
		{"users/u-1/designs/123.jpg", result{}},
		{"users/photos/123.jpg", result{}},
		{"receipts/u-1/photos/1.jpg", result{}},
		{skeys.Quarantined("s-1", skeys.UserPhotos("u-1")+"1.jpg"), result{}},
	}
	for _, tt := range tests {
		id, ok := skeys.PhotoID(tt.key)
		if diff := cmp.Diff(tt.want, result{id, ok}); diff != "" {
			t.Errorf("PhotoID(%q) (-want +got):\n%s", tt.key, diff)
		}
	}
}

func TestChangeOwner(t *testing.T) {
	type result struct {
		Key string
		OK  bool
	}
	tests := []struct {
		key, from, to string
		want          result
	}{
		{skeys.UserPrefix("guest-1") + "a.jpg", "guest-1", "u-1", result{"users/u-1/a.jpg", true}},
		{skeys.UserPhotos("guest-1") + "9.png", "guest-1", "u-1", result{skeys.UserPhotos("u-1") + "9.png", true}},
		// guest-1's folder is not guest-10's.
		{skeys.UserPrefix("guest-10") + "a.jpg", "guest-1", "u-1", result{}},
		{skeys.Receipt("guest-1"), "guest-1", "u-1", result{}},
		{skeys.Quarantined("s-1", skeys.UserPrefix("guest-1")+"a"), "guest-1", "u-1", result{}},
	}
	for _, tt := range tests {
		key, ok := skeys.ChangeOwner(tt.key, tt.from, tt.to)
		if diff := cmp.Diff(tt.want, result{key, ok}); diff != "" {
			t.Errorf("ChangeOwner(%q, %q, %q) (-want +got):\n%s", tt.key, tt.from, tt.to, diff)
		}
	}
}

func TestSweepIDOfReport(t *testing.T) {
	type result struct {
		ID string
		OK bool
	}
	tests := []struct {
		key  string
		want result
	}{
		{skeys.SweepReport("s-1"), result{"s-1", true}},
		{skeys.SweepReport("2026-03-01T02:00:00Z"), result{"2026-03-01T02:00:00Z", true}},
		{skeys.SweepManifestPart("s-1", 0), result{}},
		{"sweeps/s-1/old/report.json", result{}},
		{"sweeps//report.json", result{}},
		{"sweeps/report.json", result{}},
		{"sweeps/s-1/report.json.bak", result{}},
		{skeys.Quarantined("s-1", skeys.SweepReport("s-2")), result{}},
		{"users/s-1/report.json", result{}},
	}
	for _, tt := range tests {
		id, ok := skeys.SweepIDOfReport(tt.key)
		if diff := cmp.Diff(tt.want, result{id, ok}); diff != "" {
			t.Errorf("SweepIDOfReport(%q) (-want +got):\n%s", tt.key, diff)
		}
	}
}

func TestManifestPartOf(t *testing.T) {
	type result struct {
		Part int
		OK   bool
	}
	tests := []struct {
		id, key string
		want    result
	}{
		{"s-1", skeys.SweepManifestPart("s-1", 0), result{0, true}},
		{"s-1", skeys.SweepManifestPart("s-1", 42), result{42, true}},
		{"s-1", skeys.SweepManifestPart("s-1", 999_999), result{999_999, true}},
		{"s-1", skeys.SweepManifestPart("s-1", 1_000_000), result{1_000_000, true}},
		// Another sweep's part.
		{"s-1", skeys.SweepManifestPart("s-10", 1), result{}},
		// Not what the builder writes.
		{"s-1", "sweeps/s-1/manifest/1.jsonl", result{}},
		{"s-1", "sweeps/s-1/manifest/+00001.jsonl", result{}},
		{"s-1", "sweeps/s-1/manifest/-00001.jsonl", result{}},
		{"s-1", "sweeps/s-1/manifest/000001.jsonl.tmp", result{}},
		{"s-1", "sweeps/s-1/manifest/000001.json", result{}},
		{"s-1", "sweeps/s-1/manifest/x.jsonl", result{}},
		{"s-1", skeys.SweepReport("s-1"), result{}},
	}
	for _, tt := range tests {
		part, ok := skeys.ManifestPartOf(tt.id, tt.key)
		if diff := cmp.Diff(tt.want, result{part, ok}); diff != "" {
			t.Errorf("ManifestPartOf(%q, %q) (-want +got):\n%s", tt.id, tt.key, diff)
		}
	}
}

// tasks is the producer contract: it imports nothing of ours, so that a
// producer depends on it alone, and therefore states the layout of a user's
// folder on its own when it confines a storage photo delete to it. This test
// keeps that statement and UserPrefix in step: a key in the user's folder as
// skeys builds it is accepted, any other is refused on the key field.
func TestUserPrefixAgreesWithPhotoDeleteContract(t *testing.T) {
	tests := []struct {
		name   string
		key    string
		wantOK bool
	}{
		{"OwnFolder", skeys.UserPrefix("u-1") + "x.jpg", true},
		{"OwnPhotos", skeys.UserPhotos("u-1") + "123.jpg", true},
		{"AnotherUser", skeys.UserPrefix("u-10") + "x.jpg", false},
		{"Receipt", skeys.Receipt("u-1"), false},
		{"Quarantined", skeys.Quarantined("s-1", skeys.UserPrefix("u-1")+"x.jpg"), false},
		{"DeadLetter", skeys.DeadLetter("photo", "u-1", time.Unix(0, 0)), false},
	}
	for _, tt := range tests {
		p := tasks.PhotoDeletePayload{System: tasks.SystemStorage, UserID: "u-1", Key: tt.key}
		err := p.Validate()
		var ve *tasks.ValidationError
		switch {
		case tt.wantOK && err != nil:
			t.Errorf("%s: key %q refused: %v", tt.name, tt.key, err)
		case !tt.wantOK && !errors.As(err, &ve):
			t.Errorf("%s: key %q accepted, want a validation error", tt.name, tt.key)
		case !tt.wantOK && ve.Field != "key":
			t.Errorf("%s: key %q refused on field %q, want key: %v", tt.name, tt.key, ve.Field, err)
		}
	}
}

func TestUnquarantined(t *testing.T) {
	type result struct {
		Key string
		OK  bool
	}
	tests := []struct {
		sweep, key string
		want       result
	}{
		{"s-1", skeys.Quarantined("s-1", "users/g-1/a.jpg"), result{"users/g-1/a.jpg", true}},
		// s-1's quarantine is not s-10's.
		{"s-1", skeys.Quarantined("s-10", "users/g-1/a.jpg"), result{}},
		{"s-1", skeys.QuarantinePrefix("s-1"), result{}},
		{"s-1", "users/g-1/a.jpg", result{}},
	}
	for _, tt := range tests {
		key, ok := skeys.Unquarantined(tt.sweep, tt.key)
		if diff := cmp.Diff(tt.want, result{key, ok}); diff != "" {
			t.Errorf("Unquarantined(%q, %q) (-want +got):\n%s", tt.sweep, tt.key, diff)
		}
	}
}

func TestSweepIDOf(t *testing.T) {
	for key, want := range map[string]string{
		skeys.SweepReport("s-1"):                        "s-1",
		skeys.SweepManifestPart("s-2", 3):               "s-2",
		"sweeps/":                                       "",
		"sweeps/x":                                      "",
		skeys.Quarantined("s-1", "users/a"):             "",
		skeys.DeadLetter("photo", "t", time.Unix(1, 0)): "",
	} {
		got, ok := skeys.SweepIDOf(key)
		if got != want || ok != (want != "") {
			t.Errorf("SweepIDOf(%q) = %q, %v; want %q", key, got, ok, want)
		}
	}
	if k := skeys.DeadLetter("photo", "t", time.Unix(1, 0)); k[:len(skeys.DeadLetters())] != skeys.DeadLetters() {
		t.Errorf("a dead letter's copy %s is outside %s", k, skeys.DeadLetters())
	}
}
