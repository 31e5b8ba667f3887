package erasure

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/lifecycle-worker/lifecycle/internal/errclass"
	"github.com/lifecycle-worker/lifecycle/internal/skeys"
	"github.com/lifecycle-worker/lifecycle/internal/upstream"
)

// The systems a step acts on, as receipts and metrics name them.
const (
	SystemArtifi  = "artifi"
	SystemBigin   = "bigin"
	SystemIBMBPM  = "ibmbpm"
	SystemStorage = "storage"
)

// Kinds of step.
const (
	KindArtifiPhoto   = "photo"
	KindArtifiDesigns = "designs"
	// KindArtifiUnlisted: the photos of an id whose listing proved nothing
	// when the request was planned (listed again when the step runs).
	KindArtifiUnlisted = "unlisted_photos"
	KindBiginPhoto     = "record_photo"
	KindBPMAvatar      = "avatar"
	KindStoragePrefix  = "prefix"
	// KindStorageVersions: what S3 keeps under a prefix besides current
	// objects, every version and delete marker and unfinished multipart
	// uploads (see versions.go).
	KindStorageVersions = "versions"
)

// Step is one deletion of the plan. Key is its checkpoint name:
//
//	artifi:photo:{owner id}:{photo id}   one Artifi photo
//	artifi:designs:{id}                  all designs of one id
//	bigin:{module}:{record id}           one record's photo
//	ibmbpm:avatar                        the BPM avatar (the user name is
//	                                     personal data, so not in the key)
//	storage:users/{id}/                  every object under one id's prefix
//	storage-versions:users/{id}/         its other versions and uploads
//	lifecycle:tasks                      our tasks naming any id (owncopies.go)
//	lifecycle:dead-letters               our dead-letter copies naming any id
//	lifecycle:quarantine                 sweeps' quarantine and manifest lines
//	lifecycle:records                    Redis records keyed by an id
type Step struct {
	Key    string `json:"key"`
	System string `json:"system"`
	Kind   string `json:"kind"`
	// Owner is the user or guest id the step acts for.
	Owner string `json:"owner,omitempty"`
	// Target is what the call names: a photo id, "Module/record", a BPM user
	// name or a storage prefix.
	Target string `json:"target,omitempty"`
}

// Plan is everything one request deletes.
type Plan struct {
	// IDs is the subject: the user id and every guest id merged into it.
	IDs   []string `json:"ids"`
	Steps []Step   `json:"steps"`
}

// plan builds the plan of r. Listing Artifi photos is the only upstream call;
// a failure there fails planning as a whole (retried), since an erasure must
// not proceed on a partial list.
func (e *Executor) plan(ctx context.Context, r Request) (Plan, error) {
	aliases, err := e.Aliases(ctx, r.UserID)
	if err != nil {
		return Plan{}, err
	}
	p := Plan{IDs: append([]string{r.UserID}, aliases...)}
	for _, id := range p.IDs {
		if e.Artifi != nil {
			photos, err := e.listPhotos(ctx, id)
			if errclass.Of(err) == errclass.Unconfirmed {
				// Not a reason to stop: the step lists again, and the
				// request cannot end done while it proves nothing.
				p.Steps = append(p.Steps, Step{Key: "artifi:unlisted:" + id, System: SystemArtifi, Kind: KindArtifiUnlisted, Owner: id})
				err, photos = nil, nil
			}
			if err != nil {
				return Plan{}, fmt.Errorf("plan: list Artifi photos of %s: %w", id, err)
			}
			for _, ph := range photos {
				p.Steps = append(p.Steps, Step{Key: "artifi:photo:" + id + ":" + ph, System: SystemArtifi, Kind: KindArtifiPhoto, Owner: id, Target: ph})
			}
			p.Steps = append(p.Steps, Step{Key: "artifi:designs:" + id, System: SystemArtifi, Kind: KindArtifiDesigns, Owner: id})
		}
		p.Steps = append(p.Steps, Step{Key: "storage:" + skeys.UserPrefix(id), System: SystemStorage, Kind: KindStoragePrefix, Owner: id, Target: skeys.UserPrefix(id)})
		p.Steps = append(p.Steps, versionsStep(id))
	}
	// Steps of systems not configured on this worker are planned anyway:
	// they fail as "not configured", so the request cannot finish claiming an
	// erasure it never attempted.
	if e.Artifi == nil {
		for _, id := range p.IDs {
			p.Steps = append(p.Steps, Step{Key: "artifi:photos-of:" + id, System: SystemArtifi, Kind: KindArtifiPhoto, Owner: id})
		}
	}
	for _, b := range r.Bigin {
		p.Steps = append(p.Steps, Step{Key: "bigin:" + b.Module + ":" + b.RecordID, System: SystemBigin, Kind: KindBiginPhoto, Owner: r.UserID, Target: b.Module + "/" + b.RecordID})
	}
	if r.BPMUser != "" {
		p.Steps = append(p.Steps, Step{Key: "ibmbpm:avatar", System: SystemIBMBPM, Kind: KindBPMAvatar, Owner: r.UserID, Target: r.BPMUser})
	}
	p.Steps = append(p.Steps, cartActivitySteps(p.IDs)...)
	// What we keep ourselves is planned like any system's data, and
	// whether or not the places are configured (see do).
	p.Steps = append(p.Steps, ownSteps()...)
	slices.SortStableFunc(p.Steps, func(a, b Step) int { return cmp.Compare(a.System, b.System) })
	return p, nil
}

// loadOrPlan returns the stored plan of r, building and storing it the first
// time.
func (e *Executor) loadOrPlan(ctx context.Context, r Request) (Plan, error) {
	if p, ok, err := e.Store.plan(ctx, r.ID); ok || err != nil {
		return p, err
	}
	p, err := e.plan(ctx, r)
	if err != nil {
		return Plan{}, err
	}
	if err := e.Store.savePlan(ctx, r.ID, p); err != nil {
		return Plan{}, err
	}
	return e.loadOrPlan(ctx, r)
}

// PhotoPager reads one page of a user's Artifi photos
// (artifi.Client.ListUserPhotos). When the Artifi client has it, listings
// are read page by page, each page re-read on its own after a transient
// failure; otherwise the whole listing is re-read.
type PhotoPager interface {
	ListUserPhotos(ctx context.Context, userID string, pageIndex, pageSize int) (upstream.PhotoPage, error)
}

// listPhotos returns every photo id of userID, proven complete by
// upstream.AllPages; each page is re-read on its own after a transient
// failure. Without a pager the whole listing is re-read.
func (e *Executor) listPhotos(ctx context.Context, userID string) ([]string, error) {
	pager, ok := e.Artifi.(PhotoPager)
	if !ok {
		return readRetry(ctx, func() ([]string, error) { return e.Artifi.AllUserPhotoIDs(ctx, userID) })
	}
	return upstream.AllPages(ctx, "artifi listing of "+userID, func(ctx context.Context, page int) (upstream.PhotoPage, error) {
		return readRetry(ctx, func() (upstream.PhotoPage, error) {
			return pager.ListUserPhotos(ctx, userID, page, upstream.PhotoPageSizeDefault)
		})
	})
}
