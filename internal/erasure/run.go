package erasure

import (
	"cmp"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"iter"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"golang.org/x/sync/errgroup"

	"github.com/lifecycle-worker/lifecycle/internal/errclass"
	"github.com/lifecycle-worker/lifecycle/internal/skeys"
	"github.com/lifecycle-worker/lifecycle/internal/storage"
	"github.com/lifecycle-worker/lifecycle/internal/userlock"
	"github.com/lifecycle-worker/lifecycle/tasks"
)

// Artifi is what an erasure needs of Artifi.
type Artifi interface {
	AllUserPhotoIDs(ctx context.Context, userID string) ([]string, error)
	DeleteUserPhotoV4(ctx context.Context, userID, photoID string) error
	DeleteDesignsByUserID(ctx context.Context, userID string) error
}

// Bigin is what an erasure needs of Zoho Bigin.
type Bigin interface {
	DeleteRecordPhoto(ctx context.Context, module, recordID string) error
	HasRecordPhoto(ctx context.Context, module, recordID string) (bool, error)
}

// BPM is what an erasure needs of IBM BPM.
type BPM interface {
	DeleteAvatar(ctx context.Context, userNameOrID string) error
	AvatarIsDefault(ctx context.Context, userNameOrID string) (bool, error)
}

// Objects is what an erasure needs of our storage.
type Objects interface {
	List(ctx context.Context, prefix, startAfter string) iter.Seq2[storage.Object, error]
	DeleteMany(ctx context.Context, keys []string) error
	Put(ctx context.Context, key string, r io.Reader, size int64) error
}

// Limits bound how many calls one erasure makes to each system at once, on
// top of the clients' own semaphores shared by every worker: one erasure of
// a user with thousands of photos must not take every Artifi slot.
var LimitsDefault = map[string]int{SystemArtifi: 8, SystemBigin: 2, SystemIBMBPM: 1, SystemStorage: 1, SystemOwn: 1}

// StorageBatchDefault is how many keys a storage step deletes between two
// checkpoints: a crash repeats at most one batch of our own (idempotent)
// deletes. It is S3's limit of keys per DeleteObjects request, so that a
// batch is one request.
const StorageBatchDefault = 1000

// maxIdlePasses is how many passes in a row may finish nothing before the
// slice hands the error to asynq, whose backoff then spaces the attempts: a
// pass that finished something is progress, and going on at once is the
// cheapest way through a fault rate; a system that fails every call is an
// outage, which asynq's retries are for.
const maxIdlePasses = 5

// Executor carries out erasure requests.
type Executor struct {
	Store *Store
	// Locks keep a merge of the user, or another erasure, out meanwhile.
	Locks *userlock.Locker
	// Queue carries the slices (see RunSlice).
	Queue Queue
	// SliceBudget and Watchdog pace the slices; zero takes the defaults.
	SliceBudget time.Duration
	Watchdog    time.Duration
	// Stopping is closed when the worker begins to shut down. A slice then
	// starts no new call and pauses at its checkpoint as if its budget were
	// spent, so the calls in flight finish rather than being cancelled at
	// the shutdown timeout, which would leave an upstream having applied a
	// delete we never recorded (repeated by the next slice). Nil: never.
	Stopping <-chan struct{}

	Artifi  Artifi // nil: not configured
	Bigin   Bigin
	BPM     BPM
	Objects Objects
	// Own are the places holding our own copies of people's ids (tasks,
	// dead letters, quarantine); a place left nil fails its step as not
	// configured.
	Own OwnCopies
	// Aliases returns the guest ids merged into a user (identity.Aliases).
	Aliases func(ctx context.Context, userID string) ([]string, error)
	// Tombstone marks erased ids (identity.SetTombstone).
	Tombstone func(ctx context.Context, requestID string, at time.Time, ids ...string) error
	// Subjects fences the request's ids from planning to receipt and
	// settles the erasure of a merged guest id; nil does neither.
	Subjects *Subjects
	// ReceiptKey signs receipts (Ed25519). Empty: erasures fail
	// permanently before doing anything, since they could not leave proof.
	ReceiptKey   ed25519.PrivateKey
	Limits       map[string]int
	StorageBatch int
	Now          func() time.Time
	Log          zerolog.Logger
	// Notify enqueues a webhook notification of event (tasks.Webhook*)
	// about a request; nil sends none.
	Notify func(ctx context.Context, event, requestID string) error
	// ScheduleAudit enqueues the re-audit of a request that finished at
	// finishedAt (see audit.go); nil schedules none.
	ScheduleAudit func(ctx context.Context, requestID string, finishedAt time.Time) error
	// AuditFindings counts audit findings by system
	// (metrics.Registry.ErasureAuditFindings); nil counts none.
	AuditFindings *prometheus.CounterVec
}

// notify sends a notification; a failure to enqueue it is logged, never
// the erasure's failure.
func (e *Executor) notify(ctx context.Context, event, id string) {
	if e.Notify == nil {
		return
	}
	if err := e.Notify(context.WithoutCancel(ctx), event, id); err != nil {
		e.Log.Warn().Ctx(ctx).Err(err).Str("request_id", id).Str("event", event).Msg("webhook notification not enqueued")
	}
}

// RunOutcome is how one slice of a request ended without error.
type RunOutcome string

const (
	// Finished: the request is done (this slice finished it, or found it so).
	Finished RunOutcome = "finished"
	// Paused: the slice's time budget ran out with work left.
	Paused RunOutcome = "paused"
	// Skipped: a newer slice has taken the request over, or it joined another.
	Skipped RunOutcome = "skipped"
	// NeedsReview: every step ran and nothing was found remaining, but some
	// answers prove nothing; the request waits for a person (Resolve).
	NeedsReview RunOutcome = "needs_review"
)

// unconfirmedAttempts is how often a step is tried while its upstream
// answers something that proves nothing, before that answer is recorded and
// left to a person: a few tries ride out a glitch, and an upstream that keeps
// saying it cannot be made to mean more by 45 hours of retries.
const unconfirmedAttempts = 3

// ErrReceiptKey means no receipt key is configured.
var ErrReceiptKey = errors.New("erasure: no receipt signing key configured (LIFECYCLE_RECEIPT_SIGNING_KEY): an erasure must leave a signed receipt")

// Run works on r as slice number slice until it is done, fails, or deadline
// passes. Errors are classified (errclass): a step failing permanently fails
// the request as a whole once every other step is done.
func (e *Executor) Run(ctx context.Context, r Request, slice int, deadline time.Time) (RunOutcome, error) {
	if len(e.ReceiptKey) == 0 {
		return "", errclass.AsPermanent(ErrReceiptKey)
	}
	rec, err := e.Store.Get(ctx, r.ID)
	if err != nil {
		return "", err
	}
	switch {
	case rec.JoinedTo != "":
		return Skipped, nil
	case rec.State.Status == StatusDone:
		return Finished, nil
	case rec.State.Status == StatusNeedsReview:
		return NeedsReview, nil
	case rec.State.Slice > slice:
		return Skipped, nil
	}
	if rec.AtRisk && rec.State.Status != StatusFailed {
		e.notify(ctx, tasks.WebhookErasureAtRisk, r.ID)
	}
	st := rec.State
	st.Slice = slice
	if st.StartedAt.IsZero() {
		st.StartedAt = e.now().UTC()
	}
	if st.Status == StatusFailed {
		// Run again after a failure (from the dead-letter queue, once the
		// cause is fixed): the failed steps get a new chance, the finished
		// ones stay finished.
		if err := e.Store.clearFailures(ctx, r.ID); err != nil {
			return "", err
		}
		st.Failing, st.Remains, st.Error = nil, nil, ""
		e.Log.Info().Ctx(ctx).Str("request_id", r.ID).Msg("erasure resumed after failure")
	}
	if err := e.admit(ctx, r); err != nil {
		if errclass.Of(err) == errclass.Permanent {
			st.Status, st.Error = StatusFailed, err.Error()
			if serr := e.Store.SetState(context.WithoutCancel(ctx), r.ID, st); serr != nil {
				return "", serr
			}
			e.Log.Error().Ctx(ctx).Str("request_id", r.ID).Err(err).Msg("erasure refused: its subject was merged into a user")
			e.notify(ctx, tasks.WebhookErasureFailed, r.ID)
		}
		return "", err
	}
	if st.StepsTotal == 0 {
		st.Status = StatusPlanning
		if err := e.Store.SetState(ctx, r.ID, st); err != nil {
			return "", err
		}
	}
	plan, err := e.loadOrPlan(ctx, r)
	if err != nil {
		st.Error = err.Error()
		_ = e.Store.SetState(context.WithoutCancel(ctx), r.ID, st)
		return "", err
	}
	if err := e.fence(ctx, r, plan); err != nil {
		return "", err
	}
	st.Status, st.StepsTotal, st.Error = StatusRunning, len(plan.Steps), ""
	if err := e.Store.SetState(ctx, r.ID, st); err != nil {
		return "", err
	}

	res, err := e.execute(ctx, r, plan, deadline)
	if err != nil {
		return "", err
	}
	fails, ferr := e.Store.failures(ctx, r.ID)
	if ferr != nil {
		return "", ferr
	}
	st.Failing = fails
	switch {
	case res.paused:
		return Paused, e.Store.SetState(ctx, r.ID, st)
	case res.retry != nil:
		if err := e.Store.SetState(ctx, r.ID, st); err != nil {
			return "", err
		}
		return "", fmt.Errorf("erasure %s: %d steps left, last failure: %w", r.ID, res.left, res.retry)
	case len(res.permanent) > 0:
		st.Status = StatusFailed
		if err := e.Store.SetState(ctx, r.ID, st); err != nil {
			return "", err
		}
		e.Log.Error().Ctx(ctx).Str("request_id", r.ID).Strs("failing_steps", res.permanent).Msg("erasure failed: steps fail permanently; the rest is done")
		e.notify(ctx, tasks.WebhookErasureFailed, r.ID)
		return "", errclass.AsPermanent(fmt.Errorf("erasure %s failed: steps %s fail permanently (the rest is done; run it again once fixed)", r.ID, strings.Join(res.permanent, ", ")))
	}

	st.Status = StatusVerifying
	if err := e.Store.SetState(ctx, r.ID, st); err != nil {
		return "", err
	}
	remains, findings, err := e.verify(ctx, r, plan)
	if err = redact(err, r); err != nil {
		return "", fmt.Errorf("erasure %s: verify: %w", r.ID, err)
	}
	if len(remains) > 0 {
		st.Status, st.Remains = StatusFailed, remains
		if err := e.Store.SetState(ctx, r.ID, st); err != nil {
			return "", err
		}
		e.Log.Error().Ctx(ctx).Str("request_id", r.ID).Strs("remains", remains).Msg("erasure failed verification: data remains")
		e.notify(ctx, tasks.WebhookErasureFailed, r.ID)
		return "", errclass.AsPermanent(fmt.Errorf("erasure %s failed verification: still present: %s", r.ID, strings.Join(remains, "; ")))
	}
	done, err := e.Store.finished(ctx, r.ID)
	if err != nil {
		return "", err
	}
	findings = append(append(uncoveredSteps(plan, done), retainedFindings(plan, done)...), findings...)
	merged, err := e.mergedFinding(ctx, r)
	if err != nil {
		return "", err
	}
	findings = append(findings, merged...)
	if len(findings) > 0 {
		rec, err := e.Store.Reopen(ctx, r.ID, nil)
		if err != nil {
			return "", err
		}
		st = rec.State
		st.Unconfirmed = findings
		if err := e.Store.SetState(ctx, r.ID, st); err != nil {
			return "", err
		}
		if len(unresolved(findings, rec.Resolutions)) == 0 {
			// Every finding was resolved before (a re-run after Resolve).
			return Finished, e.finish(ctx, r, plan, st)
		}
		steps := make([]string, len(findings))
		for i, f := range findings {
			steps[i] = f.Step
		}
		e.Log.Warn().Ctx(ctx).Str("request_id", r.ID).Strs("unconfirmed", steps).Msg("erasure needs review: upstream answers prove neither deletion nor absence")
		e.notify(ctx, tasks.WebhookErasureNeedsReview, r.ID)
		return NeedsReview, nil
	}
	if err := e.finish(ctx, r, plan, st); err != nil {
		return "", err
	}
	e.notify(ctx, tasks.WebhookErasureDone, r.ID)
	return Finished, nil
}

// uncoveredSteps are the unconfirmed steps that no verification check reads
// again: only Artifi's designs (no read path exists). An unconfirmed delete
// of a photo, a record photo, an avatar or an object is settled by the
// check that reads that system afterwards, which either finds the data
// (failed) or not; a check whose answer proves nothing is a finding itself.
func uncoveredSteps(plan Plan, done map[string]StepResult) []Finding {
	var out []Finding
	for _, s := range plan.Steps {
		if r := done[s.Key]; r.Outcome == Unconfirmed && s.Kind == KindArtifiDesigns {
			out = append(out, Finding{Step: s.Key, System: s.System, Answer: r.Answer})
		}
	}
	return out
}

// unresolved returns the findings without a resolution.
func unresolved(fs []Finding, res []Resolution) []Finding {
	var out []Finding
	for _, f := range fs {
		if !slices.ContainsFunc(res, func(r Resolution) bool { return r.Step == f.Step }) {
			out = append(out, f)
		}
	}
	return out
}

// Resolve records a person's decision on one unconfirmed step or check of a
// request in needs_review: as Deleted (they checked, the data is gone) or
// Retained (it is kept, for the reason given). Once every finding is
// resolved the request finishes: receipt (naming each resolution, who and
// why), tombstones, done.
func (e *Executor) Resolve(ctx context.Context, id, step string, as Outcome, reason, by string) (Record, error) {
	reason, by = strings.TrimSpace(reason), strings.TrimSpace(by)
	switch {
	case as != Deleted && as != Retained:
		return Record{}, fmt.Errorf("erasure: --as must be %q or %q, got %q", Deleted, Retained, as)
	case reason == "":
		return Record{}, errors.New("erasure: a resolution needs a reason")
	case by == "":
		return Record{}, errors.New("erasure: a resolution needs the name of who resolves it")
	}
	rec, err := e.Store.Get(ctx, id)
	if err != nil {
		return Record{}, err
	}
	if rec.JoinedTo != "" {
		return Record{}, fmt.Errorf("erasure: %s joined %s: resolve that one", id, rec.JoinedTo)
	}
	i := slices.IndexFunc(rec.State.Unconfirmed, func(f Finding) bool { return f.Step == step })
	if rec.State.Status != StatusNeedsReview || i < 0 {
		return Record{}, fmt.Errorf("%w: request %s (status %s) has no unconfirmed step %q", ErrNotInReview, id, rec.State.Status, step)
	}
	res := Resolution{Step: step, As: as, Reason: reason, By: by, At: e.now().UTC(), Answer: rec.State.Unconfirmed[i].Answer}
	all, err := e.Store.addResolution(ctx, id, res)
	if err != nil {
		return Record{}, err
	}
	e.Log.Info().Ctx(ctx).Str("request_id", id).Str("step", step).Str("as", string(as)).Str("by", by).Msg("erasure finding resolved")
	if len(unresolved(rec.State.Unconfirmed, all)) > 0 {
		return e.Store.Get(ctx, id)
	}
	if len(e.ReceiptKey) == 0 {
		return Record{}, ErrReceiptKey
	}
	plan, ok, err := e.Store.plan(ctx, id)
	if err != nil {
		return Record{}, err
	}
	if !ok {
		return Record{}, fmt.Errorf("erasure: %s has no plan", id)
	}
	if err := e.finish(ctx, rec.Request, plan, rec.State); err != nil {
		return Record{}, err
	}
	return e.Store.Get(ctx, id)
}

func (e *Executor) now() time.Time {
	if e.Now == nil {
		return time.Now()
	}
	return e.Now()
}

// execResult is what the passes of one slice achieved.
type execResult struct {
	paused    bool
	left      int
	retry     error    // set when retryable failures are left and passes stopped progressing
	permanent []string // steps failing permanently (every other step finished)
}

// execute runs passes over the unfinished steps until all are finished or
// fail permanently, the deadline passes, or maxIdlePasses passes in a row
// finish nothing.
func (e *Executor) execute(ctx context.Context, r Request, plan Plan, deadline time.Time) (execResult, error) {
	permanent := map[string]bool{}
	idle := 0
	for {
		done, err := e.Store.finished(ctx, r.ID)
		if err != nil {
			return execResult{}, err
		}
		var pending []Step
		for _, s := range plan.Steps {
			if _, ok := done[s.Key]; !ok && !permanent[s.Key] {
				pending = append(pending, s)
			}
		}
		if len(pending) == 0 {
			return execResult{permanent: sortedKeys(permanent)}, nil
		}
		if e.spent(deadline) {
			return execResult{paused: true, left: len(pending)}, nil
		}
		pass := e.pass(ctx, r, pending, deadline)
		if err := ctx.Err(); err != nil {
			return execResult{}, err
		}
		for _, k := range pass.permanent {
			permanent[k] = true
		}
		if pass.progress > 0 || len(pass.permanent) > 0 {
			idle = 0
			continue
		}
		if pass.retry == nil {
			// Nothing failed and nothing finished: the budget ran out
			// before any step could start.
			continue
		}
		idle++
		if idle >= maxIdlePasses {
			return execResult{retry: pass.retry, left: len(pending)}, nil
		}
		// A short pause, honouring a short Retry-After, before the next pass.
		wait := 500 * time.Millisecond
		if d, ok := errclass.Delay(pass.retry); ok {
			wait = min(d, 5*time.Second)
		}
		select {
		case <-ctx.Done():
			return execResult{}, ctx.Err()
		case <-time.After(wait):
		}
	}
}

type passResult struct {
	progress  int
	retry     error
	permanent []string
}

// pass tries every pending step once, with each system's steps run
// concurrently up to its limit, and the systems side by side.
func (e *Executor) pass(ctx context.Context, r Request, pending []Step, deadline time.Time) passResult {
	bySystem := map[string][]Step{}
	for _, s := range pending {
		bySystem[s.System] = append(bySystem[s.System], s)
	}
	var (
		mu  sync.Mutex
		res passResult
	)
	record := func(s Step, err error) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case err == nil:
			res.progress++
		case errors.Is(err, errPaused) || ctx.Err() != nil:
		case errclass.Of(err) == errclass.Permanent:
			res.permanent = append(res.permanent, s.Key)
		default:
			if res.retry == nil || errclass.IsThrottled(res.retry) {
				res.retry = err
			}
		}
	}
	// Failures are recorded, not returned: one failing step must not stop
	// the others.
	var systems errgroup.Group
	for system, steps := range bySystem {
		systems.Go(func() error {
			var g errgroup.Group
			g.SetLimit(cmp.Or(e.Limits[system], LimitsDefault[system], 1))
			for _, s := range steps {
				if ctx.Err() != nil || e.spent(deadline) {
					break
				}
				g.Go(func() error {
					_, err := e.step(ctx, r, s, deadline)
					record(s, err)
					return nil
				})
			}
			return g.Wait()
		})
	}
	_ = systems.Wait()
	return res
}

// spent reports whether the slice must take no new step: its deadline has
// passed, or the worker is stopping.
func (e *Executor) spent(deadline time.Time) bool {
	select {
	case <-e.Stopping:
		return true
	default:
		return !e.now().Before(deadline)
	}
}

// errPaused stops a long step (a storage prefix) at the slice's deadline; its
// cursor is checkpointed, so the next slice goes on from there.
var errPaused = errors.New("erasure: slice budget spent")

// step runs one step and checkpoints its outcome. A crash between the
// upstream call and the checkpoint repeats that one call on resume: the
// upstream then answers "already gone", and the step is recorded as
// already_absent. That window cannot be closed without the upstream taking
// part in a transaction, so it is bounded instead: at most one repeated call
// per step in flight at the crash.
func (e *Executor) step(ctx context.Context, r Request, s Step, deadline time.Time) (StepResult, error) {
	out, err := e.do(ctx, r, s, deadline)
	err = redact(err, r)
	if err != nil && errclass.Of(err) == errclass.AlreadyGone {
		out, err = StepResult{Outcome: AlreadyAbsent, Count: out.Count}, nil
	}
	if err != nil && errclass.Of(err) == errclass.Unconfirmed {
		n, cerr := e.Store.unconfirmedAttempt(context.WithoutCancel(ctx), r.ID, s.Key)
		if cerr != nil {
			return out, cerr
		}
		if n >= unconfirmedAttempts {
			// Recorded as it is, never as deleted or absent: the request
			// cannot end done on it (see uncoveredSteps and verify).
			e.Log.Warn().Ctx(ctx).Str("request_id", r.ID).Str("step", s.Key).Int("attempts", n).Err(err).Msg("erasure step unconfirmed: the upstream's answer proves nothing")
			out, err = StepResult{Outcome: Unconfirmed, Answer: err.Error()}, nil
		}
	}
	if err != nil {
		if errors.Is(err, errPaused) || ctx.Err() != nil {
			return out, err
		}
		f := StepFailure{Step: s.Key, Class: string(errclass.Of(err)), Error: err.Error()}
		if rerr := e.Store.recordFailure(context.WithoutCancel(ctx), r.ID, f); rerr != nil {
			return out, rerr
		}
		// Transient failures are routine under a fault rate (thousands in one
		// erasure); only the permanent ones are worth a warning.
		ev := e.Log.Debug().Ctx(ctx)
		if errclass.Of(err) == errclass.Permanent {
			ev = e.Log.Warn().Ctx(ctx)
		}
		ev.Str("request_id", r.ID).Str("step", s.Key).Str("error_class", f.Class).Err(err).Msg("erasure step failed")
		return out, err
	}
	out.At = e.now().UTC()
	if err := e.Store.checkpoint(context.WithoutCancel(ctx), r.ID, s.Key, out); err != nil {
		return out, err
	}
	return out, nil
}

func (e *Executor) do(ctx context.Context, r Request, s Step, deadline time.Time) (StepResult, error) {
	if s.Kind == KindArtifiCartActivity {
		// Nothing to call (see KindArtifiCartActivity), configured or not.
		return StepResult{Outcome: Unconfirmed, Answer: CartActivityAnswer}, nil
	}
	notConfigured := errclass.AsPermanent(fmt.Errorf("%s: %w", s.System, errclass.ErrNotConfigured))
	switch {
	case s.System == SystemArtifi && e.Artifi == nil,
		s.System == SystemBigin && e.Bigin == nil,
		s.System == SystemIBMBPM && e.BPM == nil,
		s.System == SystemOwn && e.own(s.Kind) == nil:
		return StepResult{}, notConfigured
	}
	switch s.Kind {
	case KindArtifiPhoto:
		// The photo was listed when the request was planned, so it counts
		// as erased whichever way the delete answers.
		return StepResult{Outcome: Deleted, Count: 1}, e.Artifi.DeleteUserPhotoV4(ctx, s.Owner, s.Target)
	case KindArtifiUnlisted:
		return e.deleteUnlisted(ctx, s.Owner)
	case KindArtifiDesigns:
		return StepResult{Outcome: Deleted, Count: 1}, e.Artifi.DeleteDesignsByUserID(ctx, s.Owner)
	case KindBiginPhoto:
		module, record, _ := strings.Cut(s.Target, "/")
		return StepResult{Outcome: Deleted, Count: 1}, e.Bigin.DeleteRecordPhoto(ctx, module, record)
	case KindBPMAvatar:
		return StepResult{Outcome: Deleted, Count: 1}, e.BPM.DeleteAvatar(ctx, s.Target)
	case KindStoragePrefix:
		return e.deletePrefix(ctx, r, s.Target, deadline)
	case KindStorageVersions:
		return e.purgeVersions(ctx, s.Target)
	case KindOwnTasks, KindOwnDeadLetters, KindOwnQuarantine, KindOwnRecords:
		return e.forgetOwn(ctx, r, s)
	}
	return StepResult{}, errclass.AsPermanent(fmt.Errorf("unknown step kind %q", s.Kind))
}

// deleteUnlisted deletes the photos of an id whose listing proved nothing at
// planning: it lists again, and deletes what a complete listing shows. A
// listing that still proves nothing leaves the step unconfirmed.
func (e *Executor) deleteUnlisted(ctx context.Context, owner string) (StepResult, error) {
	ids, err := e.listPhotos(ctx, owner)
	if err != nil {
		return StepResult{}, err
	}
	for _, id := range ids {
		if err := e.Artifi.DeleteUserPhotoV4(ctx, owner, id); err != nil && errclass.Of(err) != errclass.AlreadyGone {
			return StepResult{}, err
		}
	}
	if len(ids) == 0 {
		return StepResult{Outcome: AlreadyAbsent}, nil
	}
	return StepResult{Outcome: Deleted, Count: len(ids)}, nil
}

// deletePrefix deletes every object under prefix, batch by batch. Before a
// batch is deleted its keys are written down (the intent); after, the cursor
// moves past it and the count grows, in one transaction. A crash in between
// leaves the intent, which the resume deletes again (idempotent) and counts
// once, so the count is exact however often the worker dies.
func (e *Executor) deletePrefix(ctx context.Context, r Request, prefix string, deadline time.Time) (StepResult, error) {
	batchSize := cmp.Or(e.StorageBatch, StorageBatchDefault)
	commit := func(keys []string) error {
		// Versions an object lock keeps are the versions step's to record
		// (retained, for a person to confirm); the rest of the batch is gone.
		if err := e.Objects.DeleteMany(ctx, keys); err != nil && !errors.Is(err, storage.ErrRetained) {
			return err
		}
		return e.Store.commitBatch(context.WithoutCancel(ctx), r.ID, prefix, keys)
	}
	progress, err := e.Store.prefixProgress(ctx, r.ID, prefix)
	if err != nil {
		return StepResult{}, err
	}
	cursor := progress.cursor
	if keys := progress.intent; len(keys) > 0 {
		if err := commit(keys); err != nil {
			return StepResult{}, err
		}
		cursor = keys[len(keys)-1]
	}
	for {
		if e.spent(deadline) {
			return StepResult{}, errPaused
		}
		var batch []string
		for obj, err := range e.Objects.List(ctx, prefix, cursor) {
			if err != nil {
				return StepResult{}, err
			}
			batch = append(batch, obj.Key)
			if len(batch) == batchSize {
				break
			}
		}
		if len(batch) == 0 {
			break
		}
		if err := e.Store.recordIntent(ctx, r.ID, prefix, batch); err != nil {
			return StepResult{}, err
		}
		if err := commit(batch); err != nil {
			return StepResult{}, err
		}
		cursor = batch[len(batch)-1]
	}
	progress, err = e.Store.prefixProgress(ctx, r.ID, prefix)
	if err != nil {
		return StepResult{}, err
	}
	if progress.count == 0 {
		return StepResult{Outcome: AlreadyAbsent}, nil
	}
	return StepResult{Outcome: Deleted, Count: progress.count}, nil
}

// verify looks again at every system and names whatever is still there
// (remains) and every check whose answer proves nothing (findings). Only a
// transient failure is an error (retried).
func (e *Executor) verify(ctx context.Context, r Request, plan Plan) (remains []string, findings []Finding, _ error) {
	// unsure turns a failed check into a finding, or returns it as an error
	// when it is transient.
	unsure := func(step, system string, err error) error {
		if c := errclass.Of(err); c == errclass.Unconfirmed || c == errclass.Permanent || c == errclass.AlreadyGone {
			findings = append(findings, Finding{Step: step, System: system, Answer: redact(err, r).Error()})
			return nil
		}
		return err
	}
	for _, id := range plan.IDs {
		if e.Artifi != nil {
			left, err := e.listPhotos(ctx, id)
			if err != nil {
				if err := unsure("verify:artifi:photos:"+id, SystemArtifi, err); err != nil {
					return nil, nil, err
				}
			} else if len(left) > 0 {
				remains = append(remains, fmt.Sprintf("artifi: %d photos of %s", len(left), id))
			}
		}
		left, err := storage.Entries(ctx, e.Objects, skeys.UserPrefix(id))
		if err != nil {
			return nil, nil, err
		}
		left, err = e.notRetained(ctx, r.ID, id, left)
		if err != nil {
			return nil, nil, err
		}
		if len(left) > 0 {
			remains = append(remains, fmt.Sprintf("storage: %d entries under %s", len(left), skeys.UserPrefix(id)))
		}
	}
	if e.Bigin != nil {
		for _, b := range r.Bigin {
			has, err := readRetry(ctx, func() (bool, error) { return e.Bigin.HasRecordPhoto(ctx, b.Module, b.RecordID) })
			if err != nil {
				if err := unsure("verify:bigin:"+b.Module+":"+b.RecordID, SystemBigin, err); err != nil {
					return nil, nil, err
				}
				continue
			}
			if has {
				remains = append(remains, "bigin:"+b.Module+":"+b.RecordID+" photo")
			}
		}
	}
	own, err := e.verifyOwn(ctx, plan)
	if err != nil {
		return nil, nil, err
	}
	remains = append(remains, own...)
	if e.BPM != nil && r.BPMUser != "" {
		def, err := readRetry(ctx, func() (bool, error) { return e.BPM.AvatarIsDefault(ctx, r.BPMUser) })
		switch {
		case err != nil:
			if err := unsure("verify:ibmbpm:avatar", SystemIBMBPM, err); err != nil {
				return nil, nil, err
			}
		case !def:
			remains = append(remains, "ibmbpm:avatar is not the default")
		}
	}
	return remains, findings, nil
}

// readAttempts bounds how often one read (a listing page, a verification
// check) is tried within a slice.
const readAttempts = 6

// readRetry re-reads after a transient failure, briefly. Only reads are
// treated so, and only within a slice: they change nothing upstream, and a
// phase made of many reads (21 listing pages for 2,000 photos) that had to
// succeed all at once would almost never pass a 20% fault rate (0.8^21 is
// 1%). Deletes are not retried here: their retries are the passes of
// execute, each after a checkpoint. Once the attempts are spent, the error
// goes to asynq as usual.
func readRetry[T any](ctx context.Context, read func() (T, error)) (T, error) {
	wait := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		v, err := read()
		c := errclass.Of(err)
		if err == nil || (c != errclass.Retry && c != errclass.Unconfirmed) || ctx.Err() != nil ||
			attempt == readAttempts || (c == errclass.Unconfirmed && attempt == unconfirmedAttempts) {
			return v, err
		}
		d := wait
		if asked, ok := errclass.Delay(err); ok {
			d = min(asked, 5*time.Second)
		}
		select {
		case <-ctx.Done():
			return v, ctx.Err()
		case <-time.After(d):
		}
		wait = min(2*wait, 2*time.Second)
	}
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func sortFailures(fs []StepFailure) {
	slices.SortFunc(fs, func(a, b StepFailure) int { return cmp.Compare(a.Step, b.Step) })
}

// redacted is an error whose message no longer holds the BPM user name (BPM
// may quote it in its messages), for the status, logs and the dead-letter
// reason; the class and the cause stay reachable through Unwrap.
type redacted struct {
	msg string
	err error
}

func (r *redacted) Error() string { return r.msg }
func (r *redacted) Unwrap() error { return r.err }

func redact(err error, r Request) error {
	if err == nil || r.BPMUser == "" || !strings.Contains(err.Error(), r.BPMUser) {
		return err
	}
	return &redacted{msg: strings.ReplaceAll(err.Error(), r.BPMUser, "[bpm user]"), err: err}
}
