package erasure

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/lifecycle-worker/lifecycle/internal/rkeys"
)

// Approval errors. ErrSameIdentity is the four-eyes rule itself.
var (
	ErrSameIdentity = errors.New("erasure: the identity that filed a request cannot approve it (four eyes)")
	ErrNotAwaiting  = errors.New("erasure: request is not awaiting approval")
	ErrNeedsReason  = errors.New("erasure: a reason is required")
	ErrNoIdentity   = errors.New("erasure: approval is required, and this caller has no identity to record")
)

// createAwaiting records a request that waits for approval: it is open (its
// deadline runs and lists show it) but is not the user's active request
// until approved, so that it neither runs nor makes others join it.
//
//	KEYS[1] request hash, KEYS[2] approval hash, KEYS[3] open set
//	ARGV[1] request JSON, ARGV[2] request id, ARGV[3] due (unix s),
//	ARGV[4] state JSON, ARGV[5] filer
//	returns 1 if created, 0 if the request id was filed before
var createAwaiting = redis.NewScript(`
if redis.call("HEXISTS", KEYS[1], "request") == 1 then return 0 end
redis.call("HSET", KEYS[1], "request", ARGV[1], "state", ARGV[4], "joined_to", "")
redis.call("HSET", KEYS[2], "filer", ARGV[5])
redis.call("ZADD", KEYS[3], ARGV[3], ARGV[2])
return 1`)

// CreateAwaiting records r, filed by filer, as awaiting approval, unless a
// request with its id exists (New false).
func (s *Store) CreateAwaiting(ctx context.Context, r Request, filer string) (Created, error) {
	req, err := json.Marshal(r)
	if err != nil {
		return Created{}, err
	}
	st, _ := json.Marshal(State{Status: StatusAwaitingApproval, UpdatedAt: s.Now().UTC()})
	n, err := createAwaiting.Run(ctx, s.rdb,
		[]string{rkeys.ErasureRequest(r.ID), rkeys.ErasureApproval(r.ID), rkeys.ErasureOpen()},
		req, r.ID, Due(r.FiledAt, false).Unix(), st, filer).Int()
	if err != nil {
		return Created{}, fmt.Errorf("erasure: create %s: %w", r.ID, err)
	}
	return Created{New: n == 1}, nil
}

// decide approves or denies an awaiting request, once.
//
//	KEYS[1] approval hash, KEYS[2] request hash, KEYS[3] user's active
//	request, KEYS[4] rkeys.ErasureJoinedPrefix, KEYS[5] open set,
//	KEYS[6] finished set
//	ARGV[1] decision (approved|denied), ARGV[2] who, ARGV[3] reason,
//	ARGV[4] at (RFC 3339), ARGV[5] request id, ARGV[6] new state JSON,
//	ARGV[7] now (unix s)
//	returns {"ok", joined_to} or {"not_awaiting"|"same"|"decided", ""}
var decide = redis.NewScript(`
local filer = redis.call("HGET", KEYS[1], "filer")
if not filer then return {"not_awaiting", ""} end
if redis.call("HEXISTS", KEYS[1], "decision") == 1 then return {"decided", ""} end
if ARGV[1] == "approved" and filer == ARGV[2] then return {"same", ""} end
redis.call("HSET", KEYS[1], "decision", ARGV[1], "by", ARGV[2], "reason", ARGV[3], "at", ARGV[4])
local joined = ""
if ARGV[1] == "approved" then
	local cur = redis.call("GET", KEYS[3])
	if cur and cur ~= ARGV[5] then
		joined = cur
		redis.call("SADD", KEYS[4] .. cur .. ":joined", ARGV[5])
	else
		redis.call("SET", KEYS[3], ARGV[5])
	end
else
	redis.call("ZREM", KEYS[5], ARGV[5])
	redis.call("ZADD", KEYS[6], ARGV[7], ARGV[5])
end
redis.call("HSET", KEYS[2], "state", ARGV[6], "joined_to", joined)
return {"ok", joined}`)

// Decide records who approved or denied request id, and why. A request is
// approved by an identity other than the one that filed it; the filer may
// deny (withdraw) it.
func (s *Store) Decide(ctx context.Context, id string, approve bool, who, reason string) (Created, error) {
	rec, err := s.Get(ctx, id)
	if err != nil {
		return Created{}, err
	}
	decision, st := "denied", State{Status: StatusDenied}
	if approve {
		decision, st = "approved", State{Status: StatusQueued}
	}
	now := s.Now().UTC()
	st.UpdatedAt = now
	b, _ := json.Marshal(st)
	res, err := decide.Run(ctx, s.rdb,
		[]string{rkeys.ErasureApproval(id), rkeys.ErasureRequest(id), rkeys.ErasureActive(rec.Request.UserID), rkeys.ErasureJoinedPrefix(), rkeys.ErasureOpen(), rkeys.ErasureFinished()},
		decision, who, reason, now.Format(time.RFC3339), id, b, now.Unix()).StringSlice()
	if err != nil {
		return Created{}, fmt.Errorf("erasure: %s %s: %w", decision, id, err)
	}
	switch res[0] {
	case "ok":
		return Created{New: true, JoinedTo: res[1]}, nil
	case "same":
		return Created{}, ErrSameIdentity
	case "decided":
		return Created{}, fmt.Errorf("%w: already %s", ErrNotAwaiting, rec.Approval.Decision)
	}
	return Created{}, ErrNotAwaiting
}

func (s *Store) approval(ctx context.Context, id string) (*Approval, error) {
	h, err := s.rdb.HGetAll(ctx, rkeys.ErasureApproval(id)).Result()
	if err != nil {
		return nil, fmt.Errorf("erasure: approval of %s: %w", id, err)
	}
	if h["filer"] == "" {
		return nil, nil
	}
	a := &Approval{FiledBy: h["filer"], Decision: h["decision"], By: h["by"], Reason: h["reason"]}
	a.At, _ = time.Parse(time.RFC3339, h["at"])
	return a, nil
}

// ListFilter selects requests for List.
type ListFilter struct {
	// States keeps requests in these states; empty keeps the open ones
	// (every state but done and denied).
	States []Status
	// All keeps every request, open or finished, within the retention.
	All bool
	// Since keeps requests filed at or after it (zero: any).
	Since time.Time
}

// List returns requests by f, soonest due first: open ones from the open
// set, finished ones from the finished set, which keeps them for
// retention (older ones are dropped from it, not deleted).
func (s *Store) List(ctx context.Context, f ListFilter, retention time.Duration) ([]Record, error) {
	wantFinished := f.All
	for _, st := range f.States {
		if !st.Open() {
			wantFinished = true
		}
	}
	ids, err := s.rdb.ZRange(ctx, rkeys.ErasureOpen(), 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("erasure: list open: %w", err)
	}
	if wantFinished {
		if retention > 0 {
			cut := s.Now().Add(-retention).Unix()
			if err := s.rdb.ZRemRangeByScore(ctx, rkeys.ErasureFinished(), "-inf", fmt.Sprintf("(%d", cut)).Err(); err != nil {
				return nil, fmt.Errorf("erasure: trim history: %w", err)
			}
		}
		done, err := s.rdb.ZRange(ctx, rkeys.ErasureFinished(), 0, -1).Result()
		if err != nil {
			return nil, fmt.Errorf("erasure: list finished: %w", err)
		}
		ids = append(ids, done...)
	}
	out := []Record{}
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			continue
		}
		seen[id] = true
		rec, err := s.Get(ctx, id)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if !f.Since.IsZero() && rec.Request.FiledAt.Before(f.Since) {
			continue
		}
		if !f.All && !keep(rec.State.Status, f.States) {
			continue
		}
		out = append(out, rec)
	}
	sortByDue(out)
	return out, nil
}

func keep(st Status, want []Status) bool {
	if len(want) == 0 {
		return st.Open()
	}
	for _, w := range want {
		if w == st {
			return true
		}
	}
	return false
}

// checkReason refuses an empty reason.
func checkReason(reason string) (string, error) {
	reason = strings.TrimSpace(reason)
	if reason == "" {
		return "", ErrNeedsReason
	}
	return reason, nil
}

func sortByDue(recs []Record) {
	slices.SortStableFunc(recs, func(a, b Record) int { return a.DueAt.Compare(b.DueAt) })
}
