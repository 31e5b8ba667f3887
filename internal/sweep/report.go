package sweep

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"time"

	"github.com/lifecycle-worker/lifecycle/internal/skeys"
	"github.com/lifecycle-worker/lifecycle/internal/storage"
)

// Report statuses.
const (
	// StatusQuarantined: candidates were moved to quarantine; a purge
	// deletes them after the restore window.
	StatusQuarantined = "quarantined"
	// StatusDryRun: candidates were counted and listed in the manifest;
	// nothing moved.
	StatusDryRun = "dry_run"
	// StatusTripped: the safety limit stopped the sweep before anything
	// moved.
	StatusTripped = "tripped"
	// StatusPurged: the quarantine was deleted.
	StatusPurged = "purged"
)

// Report is what one sweep did, stored at skeys.SweepReport and shown by
// `lifecycle sweep list|show`.
type Report struct {
	SweepID    string    `json:"sweep_id"`
	Status     string    `json:"status"`
	DryRun     bool      `json:"dry_run,omitempty"`
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at"`
	// Duration is the time from start to finish, crashes included.
	Duration string `json:"duration"`
	// Resumed counts the times the sweep was resumed from its checkpoint.
	Resumed int `json:"resumed,omitempty"`

	Scanned      int64 `json:"scanned"`
	ScannedBytes int64 `json:"scanned_bytes"`
	// Fresh objects were younger than the grace period: never candidates.
	Fresh          int64            `json:"fresh"`
	Candidates     map[Reason]int64 `json:"candidates"`
	CandidateBytes map[Reason]int64 `json:"candidate_bytes"`
	// Share is candidates / scanned; MaxShare the limit it was held to.
	Share    float64 `json:"share"`
	MaxShare float64 `json:"max_share"`

	Moved      int64 `json:"moved"`
	MovedBytes int64 `json:"moved_bytes"`
	// Skipped counts candidates not moved, by why: "changed" (rewritten
	// since the mark), "busy" (a merge or erasure held the user),
	// "reclaimed" (no longer an orphan when moved), "merge_queued" (an
	// expired guest whose merge waits in the queue), "gone" (deleted since).
	Skipped map[string]int64 `json:"skipped"`
	// Erased objects belonged to erased users: deleted at once instead of
	// quarantined (nothing of theirs waits for a restore), and their
	// manifest lines dropped.
	Erased      int64 `json:"erased,omitempty"`
	ErasedBytes int64 `json:"erased_bytes,omitempty"`

	PurgedAt    *time.Time `json:"purged_at,omitempty"`
	Purged      int64      `json:"purged"`
	PurgedBytes int64      `json:"purged_bytes"`
	Restored    int64      `json:"restored"`
}

func newReport(id string, dryRun bool, now time.Time, maxShare float64) Report {
	return Report{
		SweepID: id, Status: "running", DryRun: dryRun, StartedAt: now.UTC(), MaxShare: maxShare,
		Candidates: map[Reason]int64{}, CandidateBytes: map[Reason]int64{}, Skipped: map[string]int64{},
	}
}

// CandidateCount is the number of candidates, all reasons together.
func (r Report) CandidateCount() int64 {
	var n int64
	for _, c := range r.Candidates {
		n += c
	}
	return n
}

// Entry is one manifest line: a candidate, where it goes, and why.
type Entry struct {
	Key      string    `json:"key"`
	To       string    `json:"to"`
	Reason   Reason    `json:"reason"`
	Size     int64     `json:"size"`
	Modified time.Time `json:"modified"`
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

func (s *Sweeper) putJSON(ctx context.Context, key string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return s.p.Store.Put(ctx, key, bytes.NewReader(b), int64(len(b)))
}

func (s *Sweeper) writeReport(ctx context.Context, r Report) error {
	if err := s.putJSON(ctx, skeys.SweepReport(r.SweepID), r); err != nil {
		return fmt.Errorf("sweep %s: write report: %w", r.SweepID, err)
	}
	return nil
}

// ErrNoReport means the sweep id has no report: it never ran, or has not
// finished.
var ErrNoReport = errors.New("sweep: no report")

// Report reads the report of sweep id.
func (s *Sweeper) Report(ctx context.Context, id string) (Report, error) {
	rc, err := s.p.Store.Get(ctx, skeys.SweepReport(id))
	if errors.Is(err, storage.ErrNotFound) {
		return Report{}, fmt.Errorf("%w for sweep %q", ErrNoReport, id)
	}
	if err != nil {
		return Report{}, err
	}
	defer rc.Close()
	var r Report
	if err := json.NewDecoder(rc).Decode(&r); err != nil {
		return Report{}, fmt.Errorf("sweep %s: read report: %w", id, err)
	}
	return r, nil
}

// Reports yields every stored report, in sweep id order.
func (s *Sweeper) Reports(ctx context.Context) iter.Seq2[Report, error] {
	return func(yield func(Report, error) bool) {
		for o, err := range s.p.Store.List(ctx, skeys.Sweeps(), "") {
			if err != nil {
				yield(Report{}, err)
				return
			}
			id, ok := skeys.SweepIDOfReport(o.Key)
			if !ok {
				continue
			}
			r, err := s.Report(ctx, id)
			if !yield(r, err) || err != nil {
				return
			}
		}
	}
}

// Running returns the report so far of the sweep in progress, if any.
func (s *Sweeper) Running(ctx context.Context) (Report, bool, error) {
	st, err := s.loadState(ctx)
	if err != nil || st == nil {
		return Report{}, false, err
	}
	return st.Report, true, nil
}

func (s *Sweeper) writePart(ctx context.Context, id string, part int, entries []Entry) error {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	for _, e := range entries {
		if err := enc.Encode(e); err != nil {
			return err
		}
	}
	if err := s.p.Store.Put(ctx, skeys.SweepManifestPart(id, part), bytes.NewReader(b.Bytes()), int64(b.Len())); err != nil {
		return fmt.Errorf("sweep %s: write manifest part %d: %w", id, part, err)
	}
	return nil
}

func (s *Sweeper) readPart(ctx context.Context, id string, part int) ([]Entry, error) {
	rc, err := s.p.Store.Get(ctx, skeys.SweepManifestPart(id, part))
	if err != nil {
		return nil, fmt.Errorf("sweep %s: read manifest part %d: %w", id, part, err)
	}
	defer rc.Close()
	var out []Entry
	sc := bufio.NewScanner(rc)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		var e Entry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return nil, fmt.Errorf("sweep %s: manifest part %d: %w", id, part, err)
		}
		out = append(out, e)
	}
	if err := sc.Err(); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("sweep %s: read manifest part %d: %w", id, part, err)
	}
	return out, nil
}

// Manifest yields every entry of sweep id's manifest, part by part.
func (s *Sweeper) Manifest(ctx context.Context, id string) iter.Seq2[Entry, error] {
	return func(yield func(Entry, error) bool) {
		for o, err := range s.p.Store.List(ctx, skeys.SweepManifest(id), "") {
			if err != nil {
				yield(Entry{}, err)
				return
			}
			part, ok := skeys.ManifestPartOf(id, o.Key)
			if !ok {
				continue
			}
			entries, err := s.readPart(ctx, id, part)
			if err != nil {
				yield(Entry{}, err)
				return
			}
			for _, e := range entries {
				if !yield(e, nil) {
					return
				}
			}
		}
	}
}
