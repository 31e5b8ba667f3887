package erasure

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/lifecycle-worker/lifecycle/internal/rkeys"
	"github.com/lifecycle-worker/lifecycle/internal/skeys"
	"github.com/lifecycle-worker/lifecycle/internal/storage"
)

// ErrNotFound means no request has that id.
var ErrNotFound = errors.New("erasure: no such request")

// ErrFinished means the request is done: there is no deadline to extend.
var ErrFinished = errors.New("erasure: request done: nothing to extend")

// ErrAlreadyExtended means the request's one extension was granted already.
var ErrAlreadyExtended = errors.New("erasure: deadline already extended (GDPR allows one extension)")

// Store keeps erasure requests, their state and checkpoints in Redis.
type Store struct {
	rdb redis.UniversalClient
	Now func() time.Time
}

// NewStore returns a Store on rdb.
func NewStore(rdb redis.UniversalClient) *Store { return &Store{rdb: rdb, Now: time.Now} }

// create records a new request atomically: the request id decides whether it
// is new, and the user's active request decides whether it runs or joins.
//
//	KEYS[1] request hash, KEYS[2] user's active request, KEYS[3] open set,
//	KEYS[4] rkeys.ErasureJoinedPrefix: the joined set's name
//	        depends on the active request read inside the script (so this
//	        script assumes a single Redis, not a cluster)
//	ARGV[1] request JSON, ARGV[2] request id, ARGV[3] due (unix s), ARGV[4] state JSON
//	returns {created (1|0), joined_to}
var create = redis.NewScript(`
if redis.call("HEXISTS", KEYS[1], "request") == 1 then
	return {0, redis.call("HGET", KEYS[1], "joined_to") or ""}
end
local joined = ""
local cur = redis.call("GET", KEYS[2])
if cur and cur ~= ARGV[2] then
	joined = cur
	redis.call("SADD", KEYS[4] .. cur .. ":joined", ARGV[2])
else
	redis.call("SET", KEYS[2], ARGV[2])
end
redis.call("HSET", KEYS[1], "request", ARGV[1], "state", ARGV[4], "joined_to", joined)
redis.call("ZADD", KEYS[3], ARGV[3], ARGV[2])
return {1, joined}`)

// Created says what Create did.
type Created struct {
	New      bool   // false: the request id was filed before; nothing changed
	JoinedTo string // non-empty: another request is erasing the same user
}

// Create records r unless a request with its id exists.
func (s *Store) Create(ctx context.Context, r Request) (Created, error) {
	req, err := json.Marshal(r)
	if err != nil {
		return Created{}, err
	}
	st, _ := json.Marshal(State{Status: StatusQueued, UpdatedAt: s.Now().UTC()})
	res, err := create.Run(ctx, s.rdb,
		[]string{rkeys.ErasureRequest(r.ID), rkeys.ErasureActive(r.UserID), rkeys.ErasureOpen(), rkeys.ErasureJoinedPrefix()},
		req, r.ID, Due(r.FiledAt, false).Unix(), st).Slice()
	if err != nil {
		return Created{}, fmt.Errorf("erasure: create %s: %w", r.ID, err)
	}
	n, _ := res[0].(int64)
	joined, _ := res[1].(string)
	return Created{New: n == 1, JoinedTo: joined}, nil
}

// Get returns the record of request id, with the live count of finished
// steps. A joined request shows the state of the request it joined.
func (s *Store) Get(ctx context.Context, id string) (Record, error) {
	h, err := s.rdb.HGetAll(ctx, rkeys.ErasureRequest(id)).Result()
	if err != nil {
		return Record{}, fmt.Errorf("erasure: get %s: %w", id, err)
	}
	if h["request"] == "" {
		return Record{}, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	var rec Record
	if err := json.Unmarshal([]byte(h["request"]), &rec.Request); err != nil {
		return Record{}, fmt.Errorf("erasure: request %s: %w", id, err)
	}
	if err := json.Unmarshal([]byte(h["state"]), &rec.State); err != nil {
		return Record{}, fmt.Errorf("erasure: state of %s: %w", id, err)
	}
	if e := h["extension"]; e != "" {
		rec.Extension = new(Extension)
		if err := json.Unmarshal([]byte(e), rec.Extension); err != nil {
			return Record{}, fmt.Errorf("erasure: extension of %s: %w", id, err)
		}
	}
	if v := h["resolutions"]; v != "" {
		if err := json.Unmarshal([]byte(v), &rec.Resolutions); err != nil {
			return Record{}, fmt.Errorf("erasure: resolutions of %s: %w", id, err)
		}
	}
	rec.JoinedTo = h["joined_to"]
	if rec.Approval, err = s.approval(ctx, id); err != nil {
		return Record{}, err
	}
	runner := id
	if rec.JoinedTo != "" {
		runner = rec.JoinedTo
		other, err := s.rdb.HGet(ctx, rkeys.ErasureRequest(runner), "state").Result()
		if err != nil {
			return Record{}, fmt.Errorf("erasure: state of joined %s: %w", runner, err)
		}
		if err := json.Unmarshal([]byte(other), &rec.State); err != nil {
			return Record{}, fmt.Errorf("erasure: state of joined %s: %w", runner, err)
		}
	}
	done, err := s.rdb.HLen(ctx, rkeys.ErasureSteps(runner)).Result()
	if err != nil {
		return Record{}, fmt.Errorf("erasure: steps of %s: %w", runner, err)
	}
	rec.StepsDone = int(done)
	rec.Joined, err = s.rdb.SMembers(ctx, rkeys.ErasureJoined(id)).Result()
	if err != nil {
		return Record{}, fmt.Errorf("erasure: joined of %s: %w", id, err)
	}
	rec.DueAt = Due(rec.Request.FiledAt, rec.Extension != nil)
	rec.DaysLeft = DaysLeft(rec.DueAt, s.Now())
	rec.AtRisk = rec.State.Status.Open() && (rec.DaysLeft < AtRiskDays || rec.State.Status == StatusFailed || rec.State.Status == StatusNeedsReview)
	if rec.State.Status == StatusDone {
		rec.ReceiptKey = skeys.Receipt(id)
	}
	return rec, nil
}

// SetState replaces the state of request id. Only the worker holding the
// user's lock calls it, so there is no concurrent writer to lose.
func (s *Store) SetState(ctx context.Context, id string, st State) error {
	st.UpdatedAt = s.Now().UTC()
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	if err := s.rdb.HSet(ctx, rkeys.ErasureRequest(id), "state", b).Err(); err != nil {
		return fmt.Errorf("erasure: set state of %s: %w", id, err)
	}
	return nil
}

// Extend grants the one extension of request id.
func (s *Store) Extend(ctx context.Context, id, reason string) (Record, error) {
	reason = strings.TrimSpace(reason)
	if reason == "" {
		return Record{}, errors.New("erasure: an extension needs a reason")
	}
	rec, err := s.Get(ctx, id)
	if err != nil {
		return Record{}, err
	}
	if !rec.State.Status.Open() {
		return Record{}, ErrFinished
	}
	b, _ := json.Marshal(Extension{Reason: reason, GrantedAt: s.Now().UTC()})
	ok, err := s.rdb.HSetNX(ctx, rkeys.ErasureRequest(id), "extension", b).Result()
	if err != nil {
		return Record{}, fmt.Errorf("erasure: extend %s: %w", id, err)
	}
	if !ok {
		return Record{}, ErrAlreadyExtended
	}
	if rec.State.Status.Open() {
		due := Due(rec.Request.FiledAt, true).Unix()
		if err := s.rdb.ZAddXX(ctx, rkeys.ErasureOpen(), redis.Z{Score: float64(due), Member: id}).Err(); err != nil {
			return Record{}, fmt.Errorf("erasure: extend %s: %w", id, err)
		}
	}
	return s.Get(ctx, id)
}

// Open returns every open request, soonest due first.
func (s *Store) Open(ctx context.Context) ([]Record, error) {
	ids, err := s.rdb.ZRange(ctx, rkeys.ErasureOpen(), 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("erasure: list open: %w", err)
	}
	out := make([]Record, 0, len(ids))
	for _, id := range ids {
		rec, err := s.Get(ctx, id)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, rec)
	}
	return out, nil
}

// close marks the request, and those that joined it, as no longer open, and
// frees the user for a later request.
func (s *Store) close(ctx context.Context, r Request, joined []string) error {
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		members := append([]any{r.ID}, toAny(joined)...)
		p.ZRem(ctx, rkeys.ErasureOpen(), members...)
		now := float64(s.Now().Unix())
		for _, m := range members {
			p.ZAdd(ctx, rkeys.ErasureFinished(), redis.Z{Score: now, Member: m})
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("erasure: close %s: %w", r.ID, err)
	}
	// Only if it is still ours: a compare-and-delete is not needed because a
	// new request for the user joins this one while the key is set.
	if cur, err := s.rdb.Get(ctx, rkeys.ErasureActive(r.UserID)).Result(); err == nil && cur == r.ID {
		if err := s.rdb.Del(ctx, rkeys.ErasureActive(r.UserID)).Err(); err != nil {
			return fmt.Errorf("erasure: close %s: %w", r.ID, err)
		}
	}
	return nil
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// Outcome is how a step ended.
type Outcome string

const (
	Deleted       Outcome = "deleted"
	AlreadyAbsent Outcome = "already_absent"
	Failed        Outcome = "failed"
	// Unconfirmed: the upstream's answer proves neither (see Finding).
	Unconfirmed Outcome = "unconfirmed"
	// Retained: a person resolved an unconfirmed step as data kept (a legal
	// hold, say), with a reason.
	Retained Outcome = "retained"
)

// StepResult is a step's checkpoint.
type StepResult struct {
	Outcome Outcome   `json:"outcome"`
	Count   int       `json:"count"`
	At      time.Time `json:"at"`
	// Answer is the upstream's answer of an unconfirmed step.
	Answer string `json:"answer,omitempty"`
	// Kept lists what the bucket's object lock refused to delete (a
	// retained step): each version, its lock mode and until-date.
	Kept []storage.Retained `json:"kept,omitempty"`
}

// ErrNotInReview means Resolve was asked of a request or step that has no
// unconfirmed finding.
var ErrNotInReview = errors.New("erasure: nothing to resolve")

// Reopen puts request id back to needs_review with findings (appended to any
// it has), and back among the open requests: for whatever finds, after the
// fact, that a finished or running erasure rests on answers that prove
// nothing, or that data came back (an audit).
func (s *Store) Reopen(ctx context.Context, id string, findings []Finding) (Record, error) {
	rec, err := s.Get(ctx, id)
	if err != nil {
		return Record{}, err
	}
	st := rec.State
	for _, f := range findings {
		if !slices.Contains(st.Unconfirmed, f) {
			st.Unconfirmed = append(st.Unconfirmed, f)
		}
	}
	st.Status = StatusNeedsReview
	if err := s.SetState(ctx, id, st); err != nil {
		return Record{}, err
	}
	due := Due(rec.Request.FiledAt, rec.Extension != nil).Unix()
	if err := s.rdb.ZAdd(ctx, rkeys.ErasureOpen(), redis.Z{Score: float64(due), Member: id}).Err(); err != nil {
		return Record{}, fmt.Errorf("erasure: reopen %s: %w", id, err)
	}
	return s.Get(ctx, id)
}

// addResolution records res on request id, replacing an earlier one of the
// same step.
func (s *Store) addResolution(ctx context.Context, id string, res Resolution) ([]Resolution, error) {
	rec, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	out := slices.DeleteFunc(rec.Resolutions, func(r Resolution) bool { return r.Step == res.Step })
	out = append(out, res)
	b, _ := json.Marshal(out)
	if err := s.rdb.HSet(ctx, rkeys.ErasureRequest(id), "resolutions", b).Err(); err != nil {
		return nil, fmt.Errorf("erasure: resolve %s: %w", id, err)
	}
	return out, nil
}

// attemptField counts the unconfirmed answers of a step, in
// rkeys.ErasureFailures beside its last failure.
func attemptField(step string) string { return "attempts:" + step }

// unconfirmedAttempt counts one more unconfirmed answer of step.
func (s *Store) unconfirmedAttempt(ctx context.Context, id, step string) (int, error) {
	n, err := s.rdb.HIncrBy(ctx, rkeys.ErasureFailures(id), attemptField(step), 1).Result()
	return int(n), err
}

// finished returns every checkpointed step of request id.
func (s *Store) finished(ctx context.Context, id string) (map[string]StepResult, error) {
	h, err := s.rdb.HGetAll(ctx, rkeys.ErasureSteps(id)).Result()
	if err != nil {
		return nil, fmt.Errorf("erasure: checkpoints of %s: %w", id, err)
	}
	out := make(map[string]StepResult, len(h))
	for k, v := range h {
		var r StepResult
		if err := json.Unmarshal([]byte(v), &r); err != nil {
			return nil, fmt.Errorf("erasure: checkpoint %s of %s: %w", k, id, err)
		}
		out[k] = r
	}
	return out, nil
}

// checkpoint records that step finished, and forgets its last failure. HSETNX
// keeps the first outcome should a step ever be recorded twice.
func (s *Store) checkpoint(ctx context.Context, id, step string, r StepResult) error {
	b, _ := json.Marshal(r)
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSetNX(ctx, rkeys.ErasureSteps(id), step, b)
		p.HDel(ctx, rkeys.ErasureFailures(id), step)
		return nil
	})
	if err != nil {
		return fmt.Errorf("erasure: checkpoint %s: %w", step, err)
	}
	return nil
}

func (s *Store) recordFailure(ctx context.Context, id string, f StepFailure) error {
	b, _ := json.Marshal(f)
	return s.rdb.HSet(ctx, rkeys.ErasureFailures(id), f.Step, b).Err()
}

func (s *Store) failures(ctx context.Context, id string) ([]StepFailure, error) {
	h, err := s.rdb.HGetAll(ctx, rkeys.ErasureFailures(id)).Result()
	if err != nil {
		return nil, fmt.Errorf("erasure: failures of %s: %w", id, err)
	}
	out := make([]StepFailure, 0, len(h))
	for k, v := range h {
		if strings.HasPrefix(k, "attempts:") {
			continue
		}
		var f StepFailure
		if json.Unmarshal([]byte(v), &f) == nil {
			out = append(out, f)
		}
	}
	sortFailures(out)
	return out, nil
}

func (s *Store) clearFailures(ctx context.Context, id string) error {
	return s.rdb.Del(ctx, rkeys.ErasureFailures(id)).Err()
}

// plan returns the stored plan of request id; ok is false if none is stored.
func (s *Store) plan(ctx context.Context, id string) (_ Plan, ok bool, _ error) {
	b, err := s.rdb.Get(ctx, rkeys.ErasurePlan(id)).Bytes()
	if errors.Is(err, redis.Nil) {
		return Plan{}, false, nil
	}
	if err != nil {
		return Plan{}, false, fmt.Errorf("erasure: plan of %s: %w", id, err)
	}
	var p Plan
	if err := json.Unmarshal(b, &p); err != nil {
		return Plan{}, false, fmt.Errorf("erasure: plan of %s: %w", id, err)
	}
	return p, true, nil
}

// savePlan stores p as the plan of request id unless one is stored already:
// should two builds ever race, the first plan stays.
func (s *Store) savePlan(ctx context.Context, id string, p Plan) error {
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	if err := s.rdb.SetNX(ctx, rkeys.ErasurePlan(id), b, 0).Err(); err != nil {
		return fmt.Errorf("erasure: store plan of %s: %w", id, err)
	}
	return nil
}

// prefixProgress is how far the deletion of one storage prefix has got: the
// last key deleted, the keys of a batch about to be deleted (the intent),
// and how many were deleted.
type prefixProgress struct {
	cursor string
	intent []string
	count  int
}

// Fields of rkeys.ErasureCursors, one of each per prefix.
func cursorField(prefix string) string { return "cursor:" + prefix }
func countField(prefix string) string  { return "count:" + prefix }
func intentField(prefix string) string { return "intent:" + prefix }

func (s *Store) prefixProgress(ctx context.Context, id, prefix string) (prefixProgress, error) {
	h, err := s.rdb.HMGet(ctx, rkeys.ErasureCursors(id), cursorField(prefix), intentField(prefix), countField(prefix)).Result()
	if err != nil {
		return prefixProgress{}, fmt.Errorf("erasure: progress of %s: %w", prefix, err)
	}
	var p prefixProgress
	p.cursor, _ = h[0].(string)
	if intent, _ := h[1].(string); intent != "" {
		p.intent = strings.Split(intent, "\n")
	}
	count, _ := h[2].(string)
	p.count, _ = strconv.Atoi(count)
	return p, nil
}

// recordIntent writes down the keys of a batch before they are deleted.
// Keys cannot hold a newline (storage refuses control characters).
func (s *Store) recordIntent(ctx context.Context, id, prefix string, keys []string) error {
	return s.rdb.HSet(ctx, rkeys.ErasureCursors(id), intentField(prefix), strings.Join(keys, "\n")).Err()
}

// commitBatch moves the cursor past a deleted batch and counts it, in one
// transaction with dropping its intent.
func (s *Store) commitBatch(ctx context.Context, id, prefix string, keys []string) error {
	key := rkeys.ErasureCursors(id)
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, key, cursorField(prefix), keys[len(keys)-1])
		p.HIncrBy(ctx, key, countField(prefix), int64(len(keys)))
		p.HDel(ctx, key, intentField(prefix))
		return nil
	})
	return err
}
