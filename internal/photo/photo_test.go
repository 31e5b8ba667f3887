package photo_test

import (
	"context"
	"errors"
	"testing"

	"github.com/lifecycle-worker/lifecycle/internal/errclass"
	"github.com/lifecycle-worker/lifecycle/internal/photo"
	"github.com/lifecycle-worker/lifecycle/internal/testutil"
)

// calls records what reached each upstream.
type calls []string

func (c *calls) DeleteUserPhotoV3(_ context.Context, u, p string) error {
	*c = append(*c, "v3 "+u+" "+p)
	return nil
}
func (c *calls) DeleteUserPhotoV4(_ context.Context, u, p string) error {
	*c = append(*c, "v4 "+u+" "+p)
	return nil
}
func (c *calls) DeleteRecordPhoto(_ context.Context, m, r string) error {
	*c = append(*c, "bigin "+m+" "+r)
	return nil
}
func (c *calls) DeleteAvatar(_ context.Context, u string) error {
	*c = append(*c, "bpm "+u)
	return nil
}

func TestDeleter(t *testing.T) {
	ctx := context.Background()
	store, _ := testutil.FileStore(t)
	testutil.PutObjects(t, store, "users/u-1/photos/1.jpg")
	var got calls
	configured := &photo.Deleter{Artifi: &got, Bigin: &got, BPM: &got, Objects: store}
	bare := &photo.Deleter{Objects: store}

	tests := []struct {
		name      string
		d         *photo.Deleter
		del       func(d *photo.Deleter) error
		wantClass errclass.Class
		wantCall  string
	}{
		{"artifi v3", configured, func(d *photo.Deleter) error { return d.ArtifiV3(ctx, "u-1", "7") }, "", "v3 u-1 7"},
		{"artifi v4", configured, func(d *photo.Deleter) error { return d.ArtifiV4(ctx, "u-1", "8") }, "", "v4 u-1 8"},
		{"bigin", configured, func(d *photo.Deleter) error { return d.BiginRecordPhoto(ctx, "Contacts", "9") }, "", "bigin Contacts 9"},
		{"bpm", configured, func(d *photo.Deleter) error { return d.BPMAvatar(ctx, "jdoe") }, "", "bpm jdoe"},
		{"stored object", configured, func(d *photo.Deleter) error { return d.StoredObject(ctx, "users/u-1/photos/1.jpg") }, "", ""},
		// Now gone: the second delete says so rather than claiming a delete.
		{"stored object again", configured, func(d *photo.Deleter) error { return d.StoredObject(ctx, "users/u-1/photos/1.jpg") }, errclass.AlreadyGone, ""},
		{"artifi not configured", bare, func(d *photo.Deleter) error { return d.ArtifiV4(ctx, "u-1", "8") }, errclass.Permanent, ""},
		{"bigin not configured", bare, func(d *photo.Deleter) error { return d.BiginRecordPhoto(ctx, "Contacts", "9") }, errclass.Permanent, ""},
		{"bpm not configured", bare, func(d *photo.Deleter) error { return d.BPMAvatar(ctx, "jdoe") }, errclass.Permanent, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got = nil
			err := tt.del(tt.d)
			if errclass.Of(err) != tt.wantClass {
				t.Fatalf("err = %v (class %q), want class %q", err, errclass.Of(err), tt.wantClass)
			}
			if tt.wantClass == errclass.Permanent && !errors.Is(err, errclass.ErrNotConfigured) {
				t.Errorf("err = %v, want it to say the system is not configured", err)
			}
			if want := tt.wantCall; (want == "" && len(got) > 0) || (want != "" && (len(got) != 1 || got[0] != want)) {
				t.Errorf("upstream calls %q, want %q", got, want)
			}
		})
	}
}
