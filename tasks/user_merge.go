package tasks

import (
	"time"

	"github.com/hibiken/asynq"
)

// TypeUserMerge moves a guest's data (designs, cart items, activity) to the
// registered user they became at checkout. Never rename it in place.
const TypeUserMerge = "user:merge"

// userMergeSpec holds every decision about user:merge.
var userMergeSpec = spec{typ: TypeUserMerge, Policy: Policy{
	Queue: QueueMerge,
	// The customer is waiting, so failures are retried many times, and soon:
	// with Backoff, 20 retries span about an hour of Artifi outage (half
	// that with the most jitter), after which the task is archived for a
	// person rather than dropped: an unmerged guest loses their designs.
	MaxRetry: 20,
	// A blip costs the waiting customer seconds, not the default's minutes.
	Backoff: Backoff{Base: time.Second, Cap: 5 * time.Minute},
	// A merge is one UpdateUserId call (plus a confirming read on a retry). If
	// it takes longer than this the call is stuck, and a fresh attempt serves
	// the waiting customer better than asynq's 30 minute default.
	Timeout: 30 * time.Second,
	// The dedup window after success. UpdateUserId is not idempotent (a second
	// call fails with 232), so a repeated merge must be caught here: a day
	// covers checkout retries, and the handler treats a late 232 as done.
	Retention: 24 * time.Hour,
}}

// UserMergePayload asks to merge the guest GuestID into the registered user
// UserID (both our opaque ids, which Artifi uses as its user ids).
type UserMergePayload struct {
	GuestID string `json:"guest_id"`
	UserID  string `json:"user_id"`
	// RequestID is the producer's own reference (optional). It is not part
	// of the task id: see TaskID.
	RequestID string `json:"request_id,omitempty"`
}

// Validate reports every problem with p, each as a *ValidationError naming
// the field.
func (p UserMergePayload) Validate() error {
	var fe fieldErrors
	checkID(&fe, "guest_id", p.GuestID, true)
	checkID(&fe, "user_id", p.UserID, true)
	checkID(&fe, "request_id", p.RequestID, false)
	if p.GuestID != "" && p.GuestID == p.UserID {
		fe.add("user_id", "must differ from guest_id")
	}
	return fe.err()
}

// TaskID is the deduplication id of p, from guest_id and user_id only. Unlike
// a photo delete, a merge must not run twice whatever the producer's
// reference says, since the second run cannot succeed: the guest is gone.
func (p UserMergePayload) TaskID() string {
	return taskID(TypeUserMerge, p.GuestID, p.UserID)
}

// NewUserMergeTask validates p and builds the task with user:merge's queue,
// retries, timeout, retention and task id. opts come after those and override
// them; overriding Queue or TaskID gives up deduplication.
func NewUserMergeTask(p UserMergePayload, opts ...asynq.Option) (*asynq.Task, error) {
	if err := p.Validate(); err != nil {
		return nil, invalid(TypeUserMerge, err)
	}
	return newTask(userMergeSpec, p.TaskID(), p, opts)
}
