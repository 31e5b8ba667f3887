package erasure

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/lifecycle-worker/lifecycle/internal/skeys"
	"github.com/lifecycle-worker/lifecycle/internal/storage"
)

// versionsStep removes what a versioned S3 bucket keeps under an id's
// prefix after its current objects are deleted: earlier versions, delete
// markers, and the parts of unfinished multipart uploads. It runs after the
// prefix step. A file store has none of these: the step is already_absent.
func versionsStep(id string) Step {
	return Step{Key: "storage-versions:" + skeys.UserPrefix(id), System: SystemStorage, Kind: KindStorageVersions, Owner: id, Target: skeys.UserPrefix(id)}
}

// purgeVersions runs a versions step. Versions the bucket's object lock
// keeps (retention, legal hold) are not an error to retry: the step ends
// retained, naming each one, and the request ends in needs_review, since
// only a person can confirm that a legal obligation keeps them (GDPR Art.
// 17(3)).
func (e *Executor) purgeVersions(ctx context.Context, prefix string) (StepResult, error) {
	p, err := storage.PurgePrefix(ctx, e.Objects, prefix)
	if err != nil {
		return StepResult{}, err
	}
	n := p.Versions + p.Uploads
	switch {
	case len(p.Retained) > 0:
		return StepResult{Outcome: Retained, Count: n, Kept: p.Retained, Answer: describeKept(p.Retained)}, nil
	case n == 0:
		return StepResult{Outcome: AlreadyAbsent}, nil
	}
	return StepResult{Outcome: Deleted, Count: n}, nil
}

func describeKept(kept []storage.Retained) string {
	parts := make([]string, len(kept))
	for i, k := range kept {
		var why []string
		switch {
		case k.Mode != "" && !k.Until.IsZero():
			why = append(why, fmt.Sprintf("retention %s until %s", k.Mode, k.Until.UTC().Format(time.RFC3339)))
		case k.Mode != "":
			why = append(why, "retention "+k.Mode)
		}
		if k.LegalHold {
			why = append(why, "legal hold")
		}
		if len(why) == 0 {
			why = append(why, "object lock: "+k.Answer)
		}
		parts[i] = fmt.Sprintf("%s (version %s): %s", k.Key, k.VersionID, strings.Join(why, ", "))
	}
	return "retained by the bucket's object lock (GDPR Art. 17(3) needs a person to confirm the legal obligation): " + strings.Join(parts, "; ")
}

// retainedFindings turns each retained versions step into a finding: the
// request cannot end done while data is kept that nobody confirmed.
func retainedFindings(plan Plan, done map[string]StepResult) []Finding {
	var out []Finding
	for _, s := range plan.Steps {
		if r := done[s.Key]; s.Kind == KindStorageVersions && r.Outcome == Retained {
			out = append(out, Finding{Step: s.Key, System: s.System, Answer: r.Answer})
		}
	}
	return out
}

// notRetained drops from a verification listing of id's prefix the
// versions its versions step recorded as kept by the object lock: they are
// findings (retainedFindings), not remains.
func (e *Executor) notRetained(ctx context.Context, requestID, id string, left []string) ([]string, error) {
	if len(left) == 0 {
		return left, nil
	}
	done, err := e.Store.finished(ctx, requestID)
	if err != nil {
		return nil, err
	}
	kept := done[versionsStep(id).Key].Kept
	if len(kept) == 0 {
		return left, nil
	}
	return slices.DeleteFunc(left, func(entry string) bool {
		return slices.ContainsFunc(kept, func(k storage.Retained) bool { return storage.VersionEntry(k.Key, k.VersionID) == entry })
	}), nil
}
