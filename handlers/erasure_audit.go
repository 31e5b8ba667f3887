package handlers

import (
	"context"
	"errors"
	"fmt"

	"github.com/hibiken/asynq"

	"github.com/lifecycle-worker/lifecycle/internal/erasure"
	"github.com/lifecycle-worker/lifecycle/tasks"
)

// Auditor audits finished erasures (*erasure.Executor).
type Auditor interface {
	Audit(ctx context.Context, requestID, by string) (erasure.AuditRecord, error)
}

// AuditBy is who the scheduled re-audit's record names.
const AuditBy = "scheduler"

// ErasureAudit handles erasure:audit: the re-audit of a finished request,
// enqueued when it finished (see erasure.Executor.ScheduleAudit). Findings
// are not an error: the audit reopened the request, which a person now
// reviews; retrying would only audit again.
type ErasureAudit struct{ Auditor Auditor }

func (h *ErasureAudit) ProcessTask(ctx context.Context, t *asynq.Task) error {
	p, err := tasks.Decode[tasks.ErasureAuditPayload](t)
	if err != nil {
		return err
	}
	SetSystem(ctx, "erasure")
	_, err = h.Auditor.Audit(ctx, p.RequestID, AuditBy)
	if errors.Is(err, erasure.ErrNotFinished) {
		// Reopened since it was scheduled (an earlier audit, a review): a
		// person has it, and finishing it again schedules a new re-audit.
		return nil
	}
	return err
}

// noAuditor dead-letters re-audits on a worker built without one.
type noAuditor struct{}

func (noAuditor) Audit(context.Context, string, string) (erasure.AuditRecord, error) {
	return erasure.AuditRecord{}, fmt.Errorf("erasure audit: no auditor configured on this worker: %w", asynq.SkipRetry)
}
