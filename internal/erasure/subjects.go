package erasure

import (
	"context"
	"fmt"

	"github.com/lifecycle-worker/lifecycle/internal/errclass"
	"github.com/lifecycle-worker/lifecycle/internal/identity"
)

// KindArtifiCartActivity: an id's Artifi cart items and activity. Seed 003
// (line 21) says they move with UpdateUserId, and no seed documents a way
// to delete them, so the step calls nothing and is recorded unconfirmed with
// that reason: the receipt says what was not erased instead of staying
// silent. It does not hold a request in review (no person can settle it
// either); the receipt's summary counts it unconfirmed.
const KindArtifiCartActivity = "cart_activity"

// CartActivityAnswer is the reason every cart-and-activity step carries.
const CartActivityAnswer = "not erased: Artifi cart items and activity move with UpdateUserId (seed 003) and no deletion endpoint is documented"

// cartActivitySteps are the cart-and-activity steps of every id of a plan.
func cartActivitySteps(ids []string) []Step {
	out := make([]Step, len(ids))
	for i, id := range ids {
		out[i] = Step{Key: "artifi:cart_activity:" + id, System: SystemArtifi, Kind: KindArtifiCartActivity, Owner: id}
	}
	return out
}

// MergedIDStep is the finding of an erasure whose subject is a guest id
// merged into a registered user.
const MergedIDStep = "identity:merged_into"

// Subjects fences a request's ids and settles who its subject is. It is
// what an Executor needs of internal/identity; nil fences nothing.
type Subjects struct {
	Identity *identity.Store
	// RefuseMerged: an erasure of a merged guest id fails at once
	// ("guest G is now user U: erase U"); otherwise it erases what the
	// guest id holds and ends needs_review naming U.
	RefuseMerged bool
}

// mergedError is the reason an erasure of a merged id cannot be done.
func mergedError(guest, user string) error {
	return fmt.Errorf("guest %s is now user %s: erase %s", guest, user, user)
}

// admit runs under the user lock before planning: it refuses the erasure of
// a merged id when so configured, and fences the user id, so that no merge
// moves data into or out of it until the receipt (between slices, after a
// crash) while the stored plan would not cover it. A merge of a guest into
// the user that is under way holds the user lock, so it cannot be half done
// here.
func (e *Executor) admit(ctx context.Context, r Request) error {
	if e.Subjects == nil || e.Subjects.Identity == nil {
		return nil
	}
	ids := e.Subjects.Identity
	if into, merged, err := ids.MergedInto(ctx, r.UserID); err != nil {
		return err
	} else if merged && e.Subjects.RefuseMerged {
		return errclass.AsPermanent(mergedError(r.UserID, into))
	}
	return ids.Fence(ctx, r.ID, r.UserID)
}

// fence extends the fence to every id of the plan (guests merged into the
// user before it was planned).
func (e *Executor) fence(ctx context.Context, r Request, p Plan) error {
	if e.Subjects == nil || e.Subjects.Identity == nil {
		return nil
	}
	return e.Subjects.Identity.Fence(ctx, r.ID, p.IDs...)
}

// unfence lifts the request's fences once its receipt is written.
func (e *Executor) unfence(ctx context.Context, r Request, p Plan) error {
	if e.Subjects == nil || e.Subjects.Identity == nil {
		return nil
	}
	return e.Subjects.Identity.Unfence(ctx, r.ID, append([]string{r.UserID}, p.IDs...)...)
}

// mergedFinding is the finding that keeps the erasure of a merged guest id
// from ending done: the person's data lives on under the user it became.
// Checked when the request would finish, under the user lock.
func (e *Executor) mergedFinding(ctx context.Context, r Request) ([]Finding, error) {
	if e.Subjects == nil || e.Subjects.Identity == nil {
		return nil, nil
	}
	into, merged, err := e.Subjects.Identity.MergedInto(ctx, r.UserID)
	if err != nil || !merged {
		return nil, err
	}
	return []Finding{{Step: MergedIDStep, System: "identity", Answer: mergedError(r.UserID, into).Error()}}, nil
}
