package erasure

import (
	"context"
	"time"
)

// Queue carries the slices of a request as tasks (erasuretasks.Queue, on
// asynq). Slice 0 is the one filing enqueues; each slice schedules the next.
type Queue interface {
	// Check refuses a request that could not be carried as a task, naming
	// every bad field.
	Check(r Request) error
	// Enqueue enqueues slice n of r to run after d (at once if d is not
	// positive), unless that slice's task exists already.
	Enqueue(ctx context.Context, r Request, n int, d time.Duration) error
	// RunNow makes the waiting slice n of r run at once.
	RunNow(ctx context.Context, r Request, n int) error
	// Cancel deletes the waiting slice n of r.
	Cancel(ctx context.Context, r Request, n int) error
	// TaskID names the task of slice n of r.
	TaskID(r Request, n int) string
}

// Service is what the privacy team's tools (CLI, HTTP) use: file a request,
// read its status, list open ones, extend a deadline.
type Service struct {
	Store *Store
	Queue Queue
}

// Filed is the answer to File.
type Filed struct {
	Record Record
	// Duplicate: the request id was filed before; this filing changed
	// nothing (the first one's data stands).
	Duplicate bool
}

// File records r and enqueues its erasure, once per request id. A request for
// a user whose erasure is running joins it instead of running its own. Filing
// the same request again re-enqueues its first task, which the queue
// deduplicates by task id: that repairs a filing whose enqueue was lost, and
// costs nothing otherwise.
func (s *Service) File(ctx context.Context, r Request) (Filed, error) {
	r.FiledAt = r.FiledAt.UTC()
	if err := s.Queue.Check(r); err != nil {
		return Filed{}, err
	}
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
		if err := s.Queue.Enqueue(ctx, rec.Request, 0, 0); err != nil {
			return Filed{}, err
		}
	}
	rec, err := s.Get(ctx, r.ID)
	if err != nil {
		return Filed{}, err
	}
	return Filed{Record: rec, Duplicate: !c.New}, nil
}

// Get returns the record of request id (ErrNotFound if none).
func (s *Service) Get(ctx context.Context, id string) (Record, error) {
	rec, err := s.Store.Get(ctx, id)
	return s.withTaskID(rec), err
}

// Open lists open requests, soonest due first.
func (s *Service) Open(ctx context.Context) ([]Record, error) {
	recs, err := s.Store.Open(ctx)
	for i := range recs {
		recs[i] = s.withTaskID(recs[i])
	}
	return recs, err
}

// Extend grants the one extension of request id.
func (s *Service) Extend(ctx context.Context, id, reason string) (Record, error) {
	rec, err := s.Store.Extend(ctx, id, reason)
	return s.withTaskID(rec), err
}

// withTaskID names the first task of rec's request, where an operator finds
// it in the queues.
func (s *Service) withTaskID(rec Record) Record {
	if rec.Request.ID != "" {
		rec.TaskID = s.Queue.TaskID(rec.Request, 0)
	}
	return rec
}
