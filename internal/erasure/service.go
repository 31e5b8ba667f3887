package erasure

import (
	"context"
	"fmt"

	"github.com/hibiken/asynq"

	"github.com/lifecycle-worker/lifecycle/tasks"
)

// Enqueuer enqueues the first task of a request (tasks.Client).
type Enqueuer interface {
	EnqueueErase(ctx context.Context, p tasks.UserErasePayload, opts ...asynq.Option) (tasks.Result, error)
}

// Service is what the privacy team's tools (CLI, HTTP) use: file a request,
// read its status, list open ones, extend a deadline.
type Service struct {
	Store *Store
	Tasks Enqueuer
}

// Filed is the answer to File.
type Filed struct {
	Record Record
	// Duplicate: the request id was filed before; this filing changed
	// nothing (the first one's data stands).
	Duplicate bool
}

// File records p and enqueues its erasure, once per request id. A request for
// a user whose erasure is running joins it instead of running its own. Filing
// the same request again re-enqueues its first task, which asynq deduplicates
// by task id: that repairs a filing whose enqueue was lost, and costs nothing
// otherwise.
func (s *Service) File(ctx context.Context, p tasks.UserErasePayload) (Filed, error) {
	p.Slice = 0
	if err := p.Validate(); err != nil {
		return Filed{}, fmt.Errorf("%s: invalid payload: %w", tasks.TypeUserErase, err)
	}
	r := RequestFrom(p)
	c, err := s.Store.Create(ctx, r)
	if err != nil {
		return Filed{}, err
	}
	if c.JoinedTo == "" {
		rec, err := s.Store.Get(ctx, r.ID)
		if err != nil {
			return Filed{}, err
		}
		// Enqueue what was recorded first, not this filing's copy: a
		// duplicate with other fields must not change the request.
		if _, err := s.Tasks.EnqueueErase(ctx, rec.Request.Payload(0)); err != nil {
			return Filed{}, err
		}
	}
	rec, err := s.Store.Get(ctx, r.ID)
	if err != nil {
		return Filed{}, err
	}
	return Filed{Record: rec, Duplicate: !c.New}, nil
}

// Get returns the record of request id (ErrNotFound if none).
func (s *Service) Get(ctx context.Context, id string) (Record, error) { return s.Store.Get(ctx, id) }

// Open lists open requests, soonest due first.
func (s *Service) Open(ctx context.Context) ([]Record, error) { return s.Store.Open(ctx) }

// Extend grants the one extension of request id.
func (s *Service) Extend(ctx context.Context, id, reason string) (Record, error) {
	return s.Store.Extend(ctx, id, reason)
}
