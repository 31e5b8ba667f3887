// Package scheduler enqueues periodic work (sweeps, the dead-letter archiver)
// on cron schedules.
//
// Any number of schedulers may run at once (rolling deploys, HA). asynq's own
// Scheduler does not coordinate across instances: two of them enqueue every
// firing twice (asynq issues #395, #653, #1013). Here every firing gets a
// deterministic task id, built from the entry's name and the firing's
// scheduled time (not the time it happened to run), so every scheduler
// computes the same id and asynq accepts only the first; the others get
// ErrTaskIDConflict, which is the expected, quiet case. Retention keeps the
// completed task, and so its id, long enough that a late scheduler cannot
// enqueue the same firing again.
package scheduler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/robfig/cron/v3"
	"github.com/rs/zerolog"
)

// Defaults.
const (
	SyncIntervalDefault = time.Minute
	TickDefault         = time.Second
	// RetentionDefault keeps a firing's id reserved after it completed. A
	// scheduler that was paused longer than this could fire the same slot
	// again; sweeps are safe to repeat anyway.
	RetentionDefault = 24 * time.Hour
)

// Entry is one periodic task.
type Entry struct {
	Name    string          `json:"name"`    // stable: part of every firing's task id
	Cron    string          `json:"cron"`    // standard 5-field spec, 6 with leading seconds, or @daily...
	Type    string          `json:"type"`    // asynq task type
	Payload json.RawMessage `json:"payload"` // task payload, as the task type expects it
	Queue   string          `json:"queue"`
	// Retention overrides RetentionDefault, as a Go duration ("48h").
	Retention string `json:"retention,omitempty"`
	// Timeout and MaxRetry override asynq's defaults (30 min, 25 retries),
	// for work whose own contract differs: a sweep runs for hours.
	Timeout  string `json:"timeout,omitempty"`
	MaxRetry *int   `json:"max_retry,omitempty"`

	schedule  cron.Schedule
	timeout   time.Duration
	retention time.Duration
}

// File is the periodic tasks file.
type File struct {
	Entries []Entry `json:"entries"`
}

// parser takes an optional leading seconds field ("*/5 * * * * *") besides
// the standard five. @every is relative to each process's start, so it would
// give every scheduler different slots and defeat FiringID; a seconds field
// keeps sub-minute schedules (tests, demos) on wall-clock slots that every
// scheduler agrees on.
var parser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// ParseEntries validates entries; errors name the entry and field.
func ParseEntries(entries []Entry) ([]Entry, error) {
	seen := map[string]bool{}
	out := make([]Entry, 0, len(entries))
	for i, e := range entries {
		where := fmt.Sprintf("entries[%d]", i)
		if e.Name == "" {
			return nil, fmt.Errorf("%s.name: required", where)
		}
		where = fmt.Sprintf("entry %q", e.Name)
		if seen[e.Name] {
			return nil, fmt.Errorf("%s: name used twice", where)
		}
		seen[e.Name] = true
		s, err := parser.Parse(e.Cron)
		if err != nil {
			return nil, fmt.Errorf("%s.cron: %v", where, err)
		}
		if e.Type == "" {
			return nil, fmt.Errorf("%s.type: required", where)
		}
		e.retention = RetentionDefault
		if e.Retention != "" {
			if e.retention, err = time.ParseDuration(e.Retention); err != nil || e.retention <= 0 {
				return nil, fmt.Errorf("%s.retention: want a positive duration, got %q", where, e.Retention)
			}
		}
		if e.Timeout != "" {
			if e.timeout, err = time.ParseDuration(e.Timeout); err != nil || e.timeout <= 0 {
				return nil, fmt.Errorf("%s.timeout: want a positive duration, got %q", where, e.Timeout)
			}
		}
		if e.MaxRetry != nil && *e.MaxRetry < 0 {
			return nil, fmt.Errorf("%s.max_retry: want 0 or more, got %d", where, *e.MaxRetry)
		}
		if len(e.Payload) == 0 {
			e.Payload = json.RawMessage("{}")
		}
		e.schedule = s
		out = append(out, e)
	}
	return out, nil
}

// ReadFile reads and validates a periodic tasks file.
func ReadFile(path string) ([]Entry, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f File
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	entries, err := ParseEntries(f.Entries)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return entries, nil
}

// Enqueuer is the part of asynq.Client the scheduler uses.
type Enqueuer interface {
	EnqueueContext(ctx context.Context, task *asynq.Task, opts ...asynq.Option) (*asynq.TaskInfo, error)
}

// Params configure a Scheduler.
type Params struct {
	Client Enqueuer
	// Builtin entries always run; File entries (if File is set) are added
	// and re-read every SyncInterval.
	Builtin      []Entry
	File         string
	SyncInterval time.Duration
	Tick         time.Duration
	Now          func() time.Time
	Log          zerolog.Logger
}

// Scheduler fires entries. Build it with New, run it with Run.
type Scheduler struct {
	p Params

	mu      sync.Mutex
	entries []Entry
	next    map[string]time.Time // entry name -> next scheduled firing
}

// New validates the built-in entries and the file, so that a broken schedule
// stops the process at start rather than silently firing nothing.
func New(p Params) (*Scheduler, error) {
	if p.SyncInterval <= 0 {
		p.SyncInterval = SyncIntervalDefault
	}
	if p.Tick <= 0 {
		p.Tick = TickDefault
	}
	if p.Now == nil {
		p.Now = time.Now
	}
	s := &Scheduler{p: p, next: map[string]time.Time{}}
	if err := s.load(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Scheduler) load() error {
	entries, err := ParseEntries(s.p.Builtin)
	if err != nil {
		return fmt.Errorf("built-in schedule: %w", err)
	}
	if s.p.File != "" {
		fromFile, err := ReadFile(s.p.File)
		if err != nil {
			return err
		}
		entries, err = ParseEntries(append(entries, fromFile...))
		if err != nil {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.p.Now()
	next := map[string]time.Time{}
	for _, e := range entries {
		if t, ok := s.next[e.Name]; ok && sameSchedule(s.entries, e) {
			next[e.Name] = t
		} else {
			next[e.Name] = e.schedule.Next(now)
		}
	}
	s.entries, s.next = entries, next
	return nil
}

func sameSchedule(old []Entry, e Entry) bool {
	for _, o := range old {
		if o.Name == e.Name {
			return o.Cron == e.Cron
		}
	}
	return false
}

// Run fires entries until ctx ends.
func (s *Scheduler) Run(ctx context.Context) error {
	tick := time.NewTicker(s.p.Tick)
	defer tick.Stop()
	sync := time.NewTicker(s.p.SyncInterval)
	defer sync.Stop()
	s.p.Log.Info().Int("entries", len(s.entries)).Str("file", s.p.File).Msg("scheduler started")
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-sync.C:
			if err := s.load(); err != nil {
				// Keep the last good schedule: a typo in the file must not
				// stop the sweeps that were running.
				s.p.Log.Error().Err(err).Msg("schedule file not reloaded; keeping the previous schedule")
			}
		case <-tick.C:
			s.fireDue(ctx)
		}
	}
}

// FiringID is the task id of one firing of an entry.
func FiringID(name string, at time.Time) string {
	return fmt.Sprintf("periodic:%s:%d", name, at.Unix())
}

func (s *Scheduler) fireDue(ctx context.Context) {
	s.mu.Lock()
	entries := s.entries
	s.mu.Unlock()
	now := s.p.Now()
	for _, e := range entries {
		s.mu.Lock()
		at := s.next[e.Name]
		s.mu.Unlock()
		if now.Before(at) {
			continue
		}
		id := FiringID(e.Name, at)
		opts := []asynq.Option{asynq.TaskID(id), asynq.Retention(e.retention)}
		if e.timeout > 0 {
			opts = append(opts, asynq.Timeout(e.timeout))
		}
		if e.MaxRetry != nil {
			opts = append(opts, asynq.MaxRetry(*e.MaxRetry))
		}
		if e.Queue != "" {
			opts = append(opts, asynq.Queue(e.Queue))
		}
		_, err := s.p.Client.EnqueueContext(ctx, asynq.NewTask(e.Type, e.Payload), opts...)
		switch {
		case err == nil:
			s.p.Log.Info().Str("entry", e.Name).Str("task_id", id).Time("slot", at).Msg("periodic task enqueued")
		case errors.Is(err, asynq.ErrTaskIDConflict):
			s.p.Log.Debug().Str("entry", e.Name).Str("task_id", id).Msg("periodic task already enqueued by another scheduler")
		default:
			// Redis is down: try the same slot again on the next tick.
			s.p.Log.Warn().Err(err).Str("entry", e.Name).Msg("periodic task not enqueued; will retry")
			continue
		}
		s.mu.Lock()
		// Skip slots missed while down: one catch-up firing, not a burst.
		s.next[e.Name] = e.schedule.Next(now)
		s.mu.Unlock()
	}
}
