package tasks

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/hibiken/asynq"
)

// TypeUserErase erases everything we and the upstream systems hold about one
// user (GDPR Art. 17), for one request of the privacy team. Never rename it in
// place (see the package doc).
const TypeUserErase = "user:erase"

// userEraseSpec holds every decision about user:erase.
var userEraseSpec = spec{typ: TypeUserErase, Policy: Policy{
	Queue: QueueErase,
	// An erasure has a legal deadline of a month, so it outlasts long
	// outages like a photo delete: with the default backoff, 20 retries span
	// about 45 hours. The worker spends a retry only on a slice that made no
	// progress at all; a slice that deleted something continues as a new
	// task instead (see handlers.UserErase).
	MaxRetry: 20,
	Backoff:  backoffDefault,
	// A slice stops taking new steps after a few seconds (the handler's
	// budget); this bounds a slice whose last upstream call hangs.
	Timeout: 5 * time.Minute,
	// The request record in Redis is what makes a request run once; task
	// retention only needs to cover producer retries of the same filing.
	Retention: 7 * 24 * time.Hour,
}}

// BiginRecord names one Zoho Bigin record whose photo shows the person.
type BiginRecord struct {
	Module   string `json:"module"`
	RecordID string `json:"record_id"`
}

// maxBiginRecords bounds a request: one person appears in a handful of
// records, and the list is carried in every task of the request.
const maxBiginRecords = 100

// UserErasePayload is one erasure request of the privacy team. The ids in it
// are opaque (no names or e-mail addresses) except BPMUser, the BPM login
// name, which the worker uses but never writes into the receipt or logs.
type UserErasePayload struct {
	// RequestID is the privacy team's reference. It is the request's identity:
	// filing the same request id twice runs one erasure.
	RequestID string `json:"request_id"`
	// UserID is our opaque user id; guest ids merged into it are erased too.
	UserID string `json:"user_id"`
	// Bigin lists the person's Bigin records whose photos are to be deleted.
	Bigin []BiginRecord `json:"bigin,omitempty"`
	// BPMUser is the IBM BPM user name or id whose avatar is reset (optional).
	BPMUser string `json:"bpm_user,omitempty"`
	// FiledBy is an opaque id of whoever filed the request on the privacy
	// team (it goes into the receipt, so not a name).
	FiledBy string `json:"filed_by"`
	// FiledAt is when the request was received: the legal deadline runs from
	// it, not from when it was enqueued.
	FiledAt time.Time `json:"filed_at"`

	// Slice is set by the worker only: an erasure runs as a chain of short
	// tasks, slice 0 being the one the producer enqueued.
	Slice int `json:"slice,omitempty"`
}

// Validate reports every problem with p, each as a *ValidationError naming
// the field.
func (p UserErasePayload) Validate() error {
	var fe fieldErrors
	checkID(&fe, "request_id", p.RequestID, true)
	checkID(&fe, "user_id", p.UserID, true)
	checkID(&fe, "filed_by", p.FiledBy, true)
	checkFiledAt(&fe, p.FiledAt)
	if len(p.Bigin) > maxBiginRecords {
		fe.add("bigin", fmt.Sprintf("too many records (%d, max %d)", len(p.Bigin), maxBiginRecords))
	}
	seen := map[BiginRecord]bool{}
	for i, r := range p.Bigin {
		var one fieldErrors
		checkOneOf(&one, "module", r.Module, biginModules)
		checkRecordID(&one, r.RecordID)
		for _, e := range one {
			ve := e.(*ValidationError)
			fe.add(fmt.Sprintf("bigin[%d].%s", i, ve.Field), ve.Problem)
		}
		if seen[r] {
			fe.add(fmt.Sprintf("bigin[%d]", i), "duplicate record")
		}
		seen[r] = true
	}
	if p.BPMUser != "" {
		checkText(&fe, "bpm_user", p.BPMUser, maxBPMUserLen)
	}
	if p.Slice < 0 {
		fe.add("slice", "must not be negative")
	} else if p.Slice > MaxSlice {
		fe.add("slice", fmt.Sprintf("too large (%d, max %d)", p.Slice, MaxSlice))
	}
	return fe.err()
}

// TaskID is the deduplication id of p: the request id and the slice only.
// The same request filed twice is one task whatever else differs, and each
// continuation slice of a request is a task of its own.
func (p UserErasePayload) TaskID() string {
	if p.Slice == 0 {
		return taskID(TypeUserErase, p.RequestID)
	}
	return taskID(TypeUserErase, p.RequestID, strconv.Itoa(p.Slice))
}

// NewUserEraseTask validates p and builds the task with user:erase's queue,
// retries, timeout, retention and task id. opts come after those and override
// them; overriding Queue or TaskID gives up deduplication.
func NewUserEraseTask(p UserErasePayload, opts ...asynq.Option) (*asynq.Task, error) {
	if err := p.Validate(); err != nil {
		return nil, invalid(TypeUserErase, err)
	}
	return newTask(userEraseSpec, p.TaskID(), p, opts)
}

// EnqueueErase validates p and, if it is valid, enqueues a user:erase task. A
// request already in hand returns Duplicate and no error. Producers should
// file through erasure.Service, which also records the request's status and
// deadline; this is the raw enqueue underneath it.
func (c *Client) EnqueueErase(ctx context.Context, p UserErasePayload, opts ...asynq.Option) (Result, error) {
	t, err := NewUserEraseTask(p, opts...)
	if err != nil {
		return Result{}, err
	}
	return c.enqueue(ctx, t, userEraseSpec, p.TaskID())
}

// MaxSlice bounds UserErasePayload.Slice. A slice runs for seconds and a
// request that makes no progress is dead-lettered after a few, so no real
// request comes near it; the bound keeps a forged slice number from wrapping
// when the worker schedules the next one.
const MaxSlice = 100_000

// FiledAtEarliest is the earliest filing date a request may carry: the day
// GDPR applied (25 May 2018). Earlier dates are typing errors (year 1, the
// Unix epoch) that would make a request overdue before it is filed.
var FiledAtEarliest = time.Date(2018, 5, 25, 0, 0, 0, 0, time.UTC)

// FiledAtSkew is how far in the future a filing date may lie: the clocks of
// whoever filed and of the service differ a little. A later date would push
// the legal deadline out and hide the request from the at-risk alerts.
const FiledAtSkew = 5 * time.Minute

// now is the clock filing dates are checked against; tests replace it.
var now = time.Now

// checkFiledAt bounds a filing date: not before FiledAtEarliest and not
// later than now plus FiledAtSkew. A date with a year past 9999 would also
// make every listing that shows its deadline unencodable as JSON.
func checkFiledAt(fe *fieldErrors, at time.Time) {
	switch latest := now().Add(FiledAtSkew); {
	case at.IsZero():
		fe.add("filed_at", "required")
	case at.Before(FiledAtEarliest):
		fe.add("filed_at", fmt.Sprintf("before %s, when GDPR applied", FiledAtEarliest.Format(time.DateOnly)))
	case at.After(latest):
		fe.add("filed_at", fmt.Sprintf("in the future (later than now plus %s)", FiledAtSkew))
	}
}
