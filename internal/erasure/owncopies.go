package erasure

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/lifecycle-worker/lifecycle/internal/rkeys"
)

// SystemOwn is this service itself: what it keeps about people besides
// their objects under users/, as receipts and metrics name it.
const SystemOwn = "lifecycle"

// Kinds of step on our own copies.
const (
	// KindOwnTasks: tasks in asynq's pending, scheduled, retry, archived
	// and completed sets, of any queue, whose payload names a subject.
	KindOwnTasks = "tasks"
	// KindOwnDeadLetters: the copies of dead letters in storage.
	KindOwnDeadLetters = "dead_letters"
	// KindOwnQuarantine: what sweeps quarantined of a subject, and the
	// manifest lines naming it.
	KindOwnQuarantine = "quarantine"
	// KindOwnRecords: Redis records keyed by a subject's id.
	KindOwnRecords = "records"
)

// Copies is one place where the service keeps its own copies of people's
// ids. Both calls take every id of the subject at once: each is one pass
// over a whole queue or folder, not one per id.
type Copies interface {
	// Forget removes what names any of ids, and returns how many items it
	// removed. Running it again removes nothing more.
	Forget(ctx context.Context, ids []string) (int, error)
	// Find describes what still names any of ids (verification).
	Find(ctx context.Context, ids []string) ([]string, error)
}

// OwnCopies are the places outside this package that hold the service's
// own copies (wired in cmd/lifecycle; the Redis records keyed by the ids
// are the Store's). The erasure's own tasks and records are never among
// what they forget: they are the record of the request.
type OwnCopies struct {
	// Tasks are asynq's sets (erasuretasks.Copies). The user:erase tasks
	// are left: each is an erasure request's own.
	Tasks Copies
	// DeadLetters are the copies under dead-letters/ (deadletter.Copies).
	DeadLetters Copies
	// Quarantine is the sweeps' quarantine and manifests (sweep.Sweeper).
	Quarantine Copies
}

// ownSteps are the steps on our own copies, one per place for every id of
// the plan together.
func ownSteps() []Step {
	return []Step{
		{Key: "lifecycle:tasks", System: SystemOwn, Kind: KindOwnTasks},
		{Key: "lifecycle:dead-letters", System: SystemOwn, Kind: KindOwnDeadLetters},
		{Key: "lifecycle:quarantine", System: SystemOwn, Kind: KindOwnQuarantine},
		{Key: "lifecycle:records", System: SystemOwn, Kind: KindOwnRecords},
	}
}

// own returns the place a step on our own copies acts on, nil when it is
// not configured on this executor.
func (e *Executor) own(kind string) Copies {
	switch kind {
	case KindOwnTasks:
		return e.Own.Tasks
	case KindOwnDeadLetters:
		return e.Own.DeadLetters
	case KindOwnQuarantine:
		return e.Own.Quarantine
	case KindOwnRecords:
		return records{e.Store}
	}
	return nil
}

// forgetOwn runs a step on our own copies, for every id of r's plan.
func (e *Executor) forgetOwn(ctx context.Context, r Request, s Step) (StepResult, error) {
	plan, ok, err := e.Store.plan(ctx, r.ID)
	if err != nil {
		return StepResult{}, err
	}
	if !ok {
		return StepResult{}, fmt.Errorf("erasure %s: no plan", r.ID)
	}
	n, err := e.own(s.Kind).Forget(ctx, plan.IDs)
	if err != nil {
		return StepResult{}, fmt.Errorf("%s: %w", s.Key, err)
	}
	if n == 0 {
		return StepResult{Outcome: AlreadyAbsent}, nil
	}
	return StepResult{Outcome: Deleted, Count: n}, nil
}

// verifyOwn looks again at each of our own places. A copy found there is
// forgotten once more before it counts as remaining: unlike an upstream's
// data, ours can be written anew while the erasure runs (a photo delete
// enqueued for the user, a dead letter copied since), and the step that
// removed the earlier ones is checkpointed and would not run again.
func (e *Executor) verifyOwn(ctx context.Context, plan Plan) ([]string, error) {
	var remains []string
	// The plan's steps, not ownSteps: a request planned before these
	// existed is verified on what it planned.
	for _, s := range plan.Steps {
		if s.System != SystemOwn {
			continue
		}
		c := e.own(s.Kind)
		if c == nil {
			continue // the step failed as not configured already
		}
		found, err := c.Find(ctx, plan.IDs)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.Key, err)
		}
		if len(found) == 0 {
			continue
		}
		if _, err := c.Forget(ctx, plan.IDs); err != nil {
			return nil, fmt.Errorf("%s: %w", s.Key, err)
		}
		if found, err = c.Find(ctx, plan.IDs); err != nil {
			return nil, fmt.Errorf("%s: %w", s.Key, err)
		}
		for _, f := range found {
			remains = append(remains, SystemOwn+": "+f)
		}
	}
	return remains, nil
}

// records are the Redis records keyed by a subject's id, other than the
// tombstone (kept for good: it refuses later merges into the id) and the
// erasure's own (its request, fence and active marks, closed at the
// receipt). ids[0] is the request's user id (Plan.IDs): its merged-into
// record stays, since it names the living user the id became, whose own
// erasure covers it, and it is what keeps such a request in needs_review
// (mergedFinding).
type records struct{ s *Store }

func (r records) keys(ids []string) []string {
	var keys []string
	for i, id := range ids {
		keys = append(keys, rkeys.Aliases(id), rkeys.MergeProgress(id), rkeys.GuestQuarantined(id))
		if i > 0 {
			keys = append(keys, rkeys.MergedInto(id))
		}
	}
	return keys
}

func (r records) Forget(ctx context.Context, ids []string) (int, error) {
	// One DEL per key: the keys of several ids need not share a slot.
	pipe := r.s.rdb.Pipeline()
	var cmds []*redis.IntCmd
	for _, k := range r.keys(ids) {
		cmds = append(cmds, pipe.Del(ctx, k))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return 0, err
	}
	n := 0
	for _, c := range cmds {
		n += int(c.Val())
	}
	return n, nil
}

func (r records) Find(ctx context.Context, ids []string) ([]string, error) {
	keys := r.keys(ids)
	pipe := r.s.rdb.Pipeline()
	cmds := make([]*redis.IntCmd, len(keys))
	for i, k := range keys {
		cmds[i] = pipe.Exists(ctx, k)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, err
	}
	var out []string
	for i, c := range cmds {
		if c.Val() > 0 {
			out = append(out, "record "+keys[i])
		}
	}
	return out, nil
}
