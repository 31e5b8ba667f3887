// Package handlers adapts asynq to lifecycle's domain: one small handler per
// task type decodes its payload, calls the domain service, and returns its
// classified error; the outcome middleware turns that error into asynq's
// behaviour. Handlers hold no Redis or storage of their own: the services
// they call do.
package handlers

import (
	"context"
	"errors"
	"fmt"

	"github.com/hibiken/asynq"

	"github.com/lifecycle-worker/lifecycle/internal/deadletter"
	"github.com/lifecycle-worker/lifecycle/tasks"
)

// DeadLetters copies dead letters to storage (*deadletter.Archiver).
type DeadLetters interface {
	Run(ctx context.Context) (deadletter.Report, error)
}

// Services are the domain services the handlers call, built once by the
// process that runs them (cmd/lifecycle).
type Services struct {
	Photos      PhotoDeleter
	Merges      Merger
	Erasures    Eraser
	Sweeps      Sweeper
	DeadLetters DeadLetters
	// Webhooks posts notifications; nil: no webhook is configured, and a
	// webhook:deliver task (from a time one was) is dead-lettered saying so.
	Webhooks WebhookSender
	// Audits runs the scheduled re-audits of finished erasures; nil: they
	// are dead-lettered saying so.
	Audits Auditor
}

// knownTypes are the task types Register handles, for error messages.
var knownTypes = []string{tasks.TypePhotoDelete, tasks.TypeUserMerge, tasks.TypeUserErase, tasks.TypeAssetsSweep, tasks.TypeDeadLetterArchive, tasks.TypeWebhookDeliver, tasks.TypeErasureAudit}

// Register wires every handler into mux. A task of another type is
// dead-lettered at once, naming its type. A missing service is an error at
// start rather than a handler that dead-letters every task. asynq's ServeMux
// panics on a duplicate pattern, so a type registered twice fails at start
// too.
func Register(mux *asynq.ServeMux, s Services) error {
	var missing []error
	need := func(name string, present bool) {
		if !present {
			missing = append(missing, fmt.Errorf("handlers: Services.%s is required", name))
		}
	}
	need("Photos", s.Photos != nil)
	need("Merges", s.Merges != nil)
	need("Erasures", s.Erasures != nil)
	need("Sweeps", s.Sweeps != nil)
	need("DeadLetters", s.DeadLetters != nil)
	if err := errors.Join(missing...); err != nil {
		return err
	}
	// Inside whatever middleware the caller added (the outcome middleware),
	// so that an unknown type is logged and counted as dead-lettered.
	mux.Use(refuseUnknownTypes)
	mux.Handle(tasks.TypePhotoDelete, &PhotoDelete{Photos: s.Photos})
	mux.Handle(tasks.TypeUserMerge, &UserMerge{Merger: s.Merges})
	mux.Handle(tasks.TypeUserErase, &UserErase{Eraser: s.Erasures})
	mux.Handle(tasks.TypeAssetsSweep, &AssetsSweep{Sweeper: s.Sweeps})
	mux.Handle(tasks.TypeDeadLetterArchive, &DeadLetterArchive{Archiver: s.DeadLetters})
	webhooks := s.Webhooks
	if webhooks == nil {
		webhooks = noWebhook{}
	}
	mux.Handle(tasks.TypeWebhookDeliver, &WebhookDeliver{Sender: webhooks})
	audits := s.Audits
	if audits == nil {
		audits = noAuditor{}
	}
	mux.Handle(tasks.TypeErasureAudit, &ErasureAudit{Auditor: audits})
	return nil
}

// noWebhook dead-letters notifications when no webhook URL is configured.
type noWebhook struct{}

func (noWebhook) Send(context.Context, string, tasks.WebhookDeliverPayload) error {
	return fmt.Errorf("webhook: LIFECYCLE_WEBHOOK_URL not configured: %w", asynq.SkipRetry)
}
