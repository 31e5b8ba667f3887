package erasure

import (
	"cmp"
	"context"
	"time"

	"github.com/lifecycle-worker/lifecycle/internal/audit"
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
	// Approval: a filed request waits, awaiting_approval, until an
	// identity other than its filer approves it.
	Approval bool
	// Audit records every change with audit.Record, which then needs a
	// recorder and an identity in the context; every process sets it.
	Audit bool
	// HistoryRetention is how long finished requests stay listed.
	HistoryRetention time.Duration
}

// HistoryRetentionDefault keeps finished requests listed for three years,
// the usual limitation period for claims about them.
const HistoryRetentionDefault = 3 * 365 * 24 * time.Hour

func (s *Service) record(ctx context.Context, action, id, why string) error {
	if !s.Audit {
		return nil
	}
	return audit.Record(ctx, audit.Entry{Action: action, Subject: id, Why: why})
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
	var c Created
	var err error
	if s.Approval {
		who := audit.Who(ctx)
		if who == "" {
			return Filed{}, ErrNoIdentity
		}
		c, err = s.Store.CreateAwaiting(ctx, r, who)
	} else {
		c, err = s.Store.Create(ctx, r)
	}
	if err != nil {
		return Filed{}, err
	}
	if c.New {
		if err := s.record(ctx, audit.ErasureFile, r.ID, ""); err != nil {
			return Filed{}, err
		}
	}
	if c.JoinedTo == "" && !s.Approval {
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
	if err != nil {
		return Record{}, err
	}
	if err := s.record(ctx, audit.ErasureExtend, id, reason); err != nil {
		return Record{}, err
	}
	return s.withTaskID(rec), nil
}

// Approve lets request id, awaiting approval, run: the identity in ctx
// must not be the one that filed it (ErrSameIdentity).
func (s *Service) Approve(ctx context.Context, id, reason string) (Record, error) {
	who := audit.Who(ctx)
	if who == "" {
		return Record{}, ErrNoIdentity
	}
	c, err := s.Store.Decide(ctx, id, true, who, reason)
	if err != nil {
		return Record{}, err
	}
	if err := s.record(ctx, audit.ErasureApprove, id, reason); err != nil {
		return Record{}, err
	}
	if c.JoinedTo == "" {
		rec, err := s.Store.Get(ctx, id)
		if err != nil {
			return Record{}, err
		}
		if err := s.Queue.Enqueue(ctx, rec.Request, 0, 0); err != nil {
			return Record{}, err
		}
	}
	return s.Get(ctx, id)
}

// Deny refuses request id, awaiting approval, for reason (required).
func (s *Service) Deny(ctx context.Context, id, reason string) (Record, error) {
	reason, err := checkReason(reason)
	if err != nil {
		return Record{}, err
	}
	who := audit.Who(ctx)
	if who == "" {
		return Record{}, ErrNoIdentity
	}
	if _, err := s.Store.Decide(ctx, id, false, who, reason); err != nil {
		return Record{}, err
	}
	if err := s.record(ctx, audit.ErasureDeny, id, reason); err != nil {
		return Record{}, err
	}
	return s.Get(ctx, id)
}

// List lists requests by f (see Store.List), finished ones for the
// history retention.
func (s *Service) List(ctx context.Context, f ListFilter) ([]Record, error) {
	recs, err := s.Store.List(ctx, f, cmp.Or(s.HistoryRetention, HistoryRetentionDefault))
	for i := range recs {
		recs[i] = s.withTaskID(recs[i])
	}
	return recs, err
}

// withTaskID names the first task of rec's request, where an operator finds
// it in the queues.
func (s *Service) withTaskID(rec Record) Record {
	if rec.Request.ID != "" {
		rec.TaskID = s.Queue.TaskID(rec.Request, 0)
	}
	return rec
}
