// Package audit records who changed what, when and why: every
// state-changing action on erasures, dead letters and sweeps, from the CLI
// or the API. An entry goes to Redis first (the listing reads it there) and
// is copied to storage, which keeps it for good; Redis keeps a bounded
// window (RedisRetention, RedisMaxEntries).
//
// Callers record with one call, audit.Record(ctx, Entry{...}), once the
// process has put a Recorder and the acting identity into ctx (NewContext):
// the API does so per request, each CLI command once.
package audit

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os/user"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/lifecycle-worker/lifecycle/internal/rkeys"
	"github.com/lifecycle-worker/lifecycle/internal/skeys"
	"github.com/lifecycle-worker/lifecycle/internal/storage"
)

// Redis keeps the newest RedisMaxEntries entries of the last RedisRetention:
// enough for `audit list` to answer an incident review, bounded so that a
// loop retrying dead letters cannot fill Redis. Storage keeps all.
const (
	RedisRetention  = 90 * 24 * time.Hour
	RedisMaxEntries = 100_000
)

// Actions recorded. The strings are stored: never change one in place.
const (
	ErasureFile      = "erasure.file"
	ErasureApprove   = "erasure.approve"
	ErasureDeny      = "erasure.deny"
	ErasureExtend    = "erasure.extend"
	ErasureResolve   = "erasure.resolve"
	DeadLetterRetry  = "deadletter.retry"
	DeadLetterDelete = "deadletter.delete"
	SweepRestore     = "sweep.restore"
	SweepPurge       = "sweep.purge"
)

// Entry is one recorded action.
type Entry struct {
	ID string    `json:"id"`
	At time.Time `json:"at"`
	// Who acted: an API token's name, or "cli:" and the OS user.
	Who string `json:"who"`
	// Action is one of the constants above.
	Action string `json:"action"`
	// Subject is what was acted on: a request id, queue/task id, sweep id.
	Subject string `json:"subject"`
	// Why is the reason given, if any.
	Why string `json:"why,omitempty"`
}

// Recorder writes entries to Redis and copies them to storage.
type Recorder struct {
	Redis redis.UniversalClient
	// Store, when set, gets a copy of each entry as it is recorded; without
	// one (a CLI that has no storage settings) entries wait in
	// rkeys.AuditUncopied until a process that has one calls Copy.
	Store storage.Store
	Now   func() time.Time
}

// ErrNoRecorder means a state change was attempted with no Recorder in its
// context: it would go unrecorded, so it is refused.
var ErrNoRecorder = errors.New("audit: no recorder in context: the action would go unrecorded")

type ctxKey struct{}

type ctxVal struct {
	rec *Recorder
	who string
}

// NewContext returns ctx carrying rec and the identity who acts in it.
func NewContext(ctx context.Context, rec *Recorder, who string) context.Context {
	return context.WithValue(ctx, ctxKey{}, ctxVal{rec, who})
}

// Who is the identity acting in ctx ("" if none).
func Who(ctx context.Context) string {
	v, _ := ctx.Value(ctxKey{}).(ctxVal)
	return v.who
}

// Record records e with the recorder and identity of ctx; e.Who, when set,
// wins over the identity.
func Record(ctx context.Context, e Entry) error {
	v, _ := ctx.Value(ctxKey{}).(ctxVal)
	if v.rec == nil {
		return ErrNoRecorder
	}
	if e.Who == "" {
		e.Who = v.who
	}
	return v.rec.Record(ctx, e)
}

// CLIUser is the identity of a CLI command: "cli:" and the OS user.
func CLIUser() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return "cli:" + u.Username
	}
	return "cli:unknown"
}

// trim drops entries past the retention and the count bound.
//
//	KEYS[1] rkeys.AuditLog
//	ARGV[1] oldest score kept (unix ms), ARGV[2] RedisMaxEntries
var trim = redis.NewScript(`
redis.call("ZREMRANGEBYSCORE", KEYS[1], "-inf", "(" .. ARGV[1])
local n = redis.call("ZCARD", KEYS[1])
local max = tonumber(ARGV[2])
if n > max then redis.call("ZREMRANGEBYRANK", KEYS[1], 0, n - max - 1) end
return 0`)

// Record records e, filling in its id and time.
func (r *Recorder) Record(ctx context.Context, e Entry) error {
	if e.Who == "" || e.Action == "" {
		return fmt.Errorf("audit: an entry needs who and action, got %q %q", e.Who, e.Action)
	}
	now := r.now().UTC()
	e.At = now
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	e.ID = strconv.FormatInt(now.UnixMilli(), 10) + "-" + hex.EncodeToString(rnd[:])
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	_, err = r.Redis.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.ZAdd(ctx, rkeys.AuditLog(), redis.Z{Score: float64(now.UnixMilli()), Member: b})
		p.HSet(ctx, rkeys.AuditUncopied(), e.ID, b)
		return nil
	})
	if err != nil {
		return fmt.Errorf("audit: record %s: %w", e.Action, err)
	}
	if err := trim.Run(ctx, r.Redis, []string{rkeys.AuditLog()}, now.Add(-RedisRetention).UnixMilli(), RedisMaxEntries).Err(); err != nil {
		return fmt.Errorf("audit: trim: %w", err)
	}
	if r.Store != nil {
		// Recorded already: a failed copy waits for Copy, it does not undo
		// the action.
		_ = r.copyOne(ctx, e.ID, b)
	}
	return nil
}

// Copy copies every entry not yet in storage, and returns how many it
// copied. Two processes copying at once write the same objects.
func (r *Recorder) Copy(ctx context.Context) (int, error) {
	if r.Store == nil {
		return 0, errors.New("audit: copy needs a store")
	}
	h, err := r.Redis.HGetAll(ctx, rkeys.AuditUncopied()).Result()
	if err != nil {
		return 0, fmt.Errorf("audit: uncopied: %w", err)
	}
	n := 0
	for id, v := range h {
		if err := r.copyOne(ctx, id, []byte(v)); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

func (r *Recorder) copyOne(ctx context.Context, id string, b []byte) error {
	var e Entry
	if err := json.Unmarshal(b, &e); err != nil {
		return fmt.Errorf("audit: entry %s: %w", id, err)
	}
	if err := r.Store.Put(ctx, skeys.AuditEntry(e.At, id), bytes.NewReader(b), int64(len(b))); err != nil {
		return fmt.Errorf("audit: copy %s: %w", id, err)
	}
	return r.Redis.HDel(ctx, rkeys.AuditUncopied(), id).Err()
}

// Filter selects entries of List.
type Filter struct {
	Since   time.Time // zero: from the oldest kept
	Subject string    // empty: any
	Limit   int       // zero: 1,000
}

// List returns the entries Redis keeps, oldest first.
func (r *Recorder) List(ctx context.Context, f Filter) ([]Entry, error) {
	min := "-inf"
	if !f.Since.IsZero() {
		min = strconv.FormatInt(f.Since.UnixMilli(), 10)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 1000
	}
	// Newest first from Redis, so that the limit keeps the newest.
	ms, err := r.Redis.ZRevRangeByScore(ctx, rkeys.AuditLog(), &redis.ZRangeBy{Min: min, Max: "+inf"}).Result()
	if err != nil {
		return nil, fmt.Errorf("audit: list: %w", err)
	}
	out := []Entry{}
	for _, m := range ms {
		var e Entry
		if err := json.Unmarshal([]byte(m), &e); err != nil {
			continue
		}
		if f.Subject != "" && e.Subject != f.Subject {
			continue
		}
		out = append(out, e)
		if len(out) == limit {
			break
		}
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, nil
}

func (r *Recorder) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}
