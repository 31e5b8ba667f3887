package erasure

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/lifecycle-worker/lifecycle/internal/errclass"
	"github.com/lifecycle-worker/lifecycle/internal/skeys"
	"github.com/lifecycle-worker/lifecycle/internal/storage"
	"github.com/lifecycle-worker/lifecycle/tasks"
)

// AuditRecord is what one audit of a finished request read and found. It is
// written, signed like a receipt, beside the receipt (skeys.ErasureAudit).
type AuditRecord struct {
	RequestID string    `json:"request_id"`
	AuditedAt time.Time `json:"audited_at"`
	// By is who asked: "scheduler" for the re-audit, or the person's name.
	By string `json:"by"`
	// Subjects are the receipt's ids plus any guest merged into the user
	// since (a merge that raced the erasure).
	Subjects []string `json:"subjects"`
	// Checks name every read made, findings or not.
	Checks   []string  `json:"checks"`
	Findings []Finding `json:"findings"`
	// Result is "clean" or "findings" (the request was reopened).
	Result string `json:"result"`
}

// ReauditAfterDefault is how long after an erasure finishes it is audited
// again: a week catches a replica catching up, an upload that was in flight,
// a merge that raced the erasure, and leaves time to act well within the
// legal deadline's month.
const ReauditAfterDefault = 7 * 24 * time.Hour

// ErrNotFinished means an audit was asked of a request that is not done.
var ErrNotFinished = errors.New("erasure: request not done: nothing to audit yet")

// Audit re-reads every system and the store, by their read paths only
// (listings, GETs; never a delete), for every subject of request id, which
// must be done. It writes the record beside the receipt; any finding (data
// present, or a read whose answer proves nothing) is counted, logged as a
// warning and reopens the request as needs_review, each finding naming its
// check as the step a person resolves.
func (e *Executor) Audit(ctx context.Context, id, by string) (AuditRecord, error) {
	rec, err := e.Store.Get(ctx, id)
	if err != nil {
		return AuditRecord{}, err
	}
	if rec.JoinedTo != "" {
		return AuditRecord{}, fmt.Errorf("erasure: %s joined %s: audit that one", id, rec.JoinedTo)
	}
	if rec.State.Status != StatusDone {
		return AuditRecord{}, fmt.Errorf("%w: request %s is %s", ErrNotFinished, id, rec.State.Status)
	}
	plan, ok, err := e.Store.plan(ctx, id)
	if err != nil {
		return AuditRecord{}, err
	}
	if !ok {
		return AuditRecord{}, fmt.Errorf("erasure: %s has no plan", id)
	}
	subjects := slices.Clone(plan.IDs)
	if e.Aliases != nil {
		now, err := e.Aliases(ctx, rec.Request.UserID)
		if err != nil {
			return AuditRecord{}, fmt.Errorf("erasure: audit %s: aliases: %w", id, err)
		}
		for _, a := range now {
			if !slices.Contains(subjects, a) {
				subjects = append(subjects, a)
			}
		}
	}
	ar := AuditRecord{RequestID: id, AuditedAt: e.now().UTC(), By: by, Subjects: subjects, Findings: []Finding{}}
	if err := e.auditReads(ctx, rec.Request, subjects, &ar); err != nil {
		return AuditRecord{}, fmt.Errorf("erasure: audit %s: %w", id, redact(err, rec.Request))
	}
	ar.Result = "clean"
	if len(ar.Findings) > 0 {
		ar.Result = "findings"
	}
	if len(e.ReceiptKey) == 0 {
		return AuditRecord{}, ErrReceiptKey
	}
	doc, err := SignDoc(ar, e.ReceiptKey)
	if err != nil {
		return AuditRecord{}, err
	}
	key := skeys.ErasureAudit(id, ar.AuditedAt)
	if err := e.Objects.Put(ctx, key, bytes.NewReader(doc), int64(len(doc))); err != nil {
		return AuditRecord{}, fmt.Errorf("erasure: write audit of %s: %w", id, err)
	}
	if len(ar.Findings) == 0 {
		e.Log.Info().Ctx(ctx).Str("request_id", id).Str("audit", key).Msg("erasure audit clean")
		return ar, nil
	}
	for _, f := range ar.Findings {
		if e.AuditFindings != nil {
			e.AuditFindings.WithLabelValues(f.System).Inc()
		}
		e.Log.Warn().Ctx(ctx).Str("request_id", id).Str("step", f.Step).Str("system", f.System).Str("audit", key).
			Msg("erasure audit finding: data of an erased subject is back, or a read proves nothing; request reopened as needs_review")
	}
	if _, err := e.Store.Reopen(ctx, id, ar.Findings); err != nil {
		return AuditRecord{}, err
	}
	if len(ar.Findings) > 0 {
		e.notify(ctx, tasks.WebhookErasureNeedsReview, id)
	}
	return ar, nil
}

// auditReads makes every read of an audit, appending its checks and
// findings to ar. A transient failure that outlasts readRetry is an error
// (the audit is retried); an answer that proves nothing is a finding, since
// an audit that cannot see must not pass.
func (e *Executor) auditReads(ctx context.Context, r Request, subjects []string, ar *AuditRecord) error {
	check := func(step, system string, present bool, what string, err error) error {
		ar.Checks = append(ar.Checks, step)
		switch {
		case err != nil && isTransient(err):
			return err
		case err != nil:
			ar.Findings = append(ar.Findings, Finding{Step: step, System: system, Answer: "read proves nothing: " + redact(err, r).Error()})
		case present:
			ar.Findings = append(ar.Findings, Finding{Step: step, System: system, Answer: what})
		}
		return nil
	}
	for _, id := range subjects {
		if e.Artifi != nil {
			left, err := e.listPhotos(ctx, id)
			if err := check("audit:artifi:photos:"+id, SystemArtifi, len(left) > 0, fmt.Sprintf("%d photos listed", len(left)), err); err != nil {
				return err
			}
		}
		left, err := storage.Entries(ctx, e.Objects, skeys.UserPrefix(id))
		if err := check("audit:storage:"+skeys.UserPrefix(id), SystemStorage, len(left) > 0, fmt.Sprintf("%d entries", len(left)), err); err != nil {
			return err
		}
	}
	if e.Bigin != nil {
		for _, b := range r.Bigin {
			has, err := readRetry(ctx, func() (bool, error) { return e.Bigin.HasRecordPhoto(ctx, b.Module, b.RecordID) })
			if err := check("audit:bigin:"+b.Module+":"+b.RecordID, SystemBigin, has, "record has a photo", err); err != nil {
				return err
			}
		}
	}
	if e.BPM != nil && r.BPMUser != "" {
		def, err := readRetry(ctx, func() (bool, error) { return e.BPM.AvatarIsDefault(ctx, r.BPMUser) })
		if err := check("audit:ibmbpm:avatar", SystemIBMBPM, err == nil && !def, "avatar is not the default", err); err != nil {
			return err
		}
	}
	return nil
}

// isTransient: a failed read worth retrying, as verify treats it. Every
// other class (unconfirmed, permanent, already gone) is an answer that
// proves nothing about the data, so a finding.
func isTransient(err error) bool {
	c := errclass.Of(err)
	return c != errclass.Unconfirmed && c != errclass.Permanent && c != errclass.AlreadyGone
}
