// Package erasure carries out GDPR erasure requests ("right to be
// forgotten", Art. 17): it records each request with its legal deadline and
// status, plans every deletion the request covers, executes the plan with a
// checkpoint per step so that a crash or an outage resumes instead of
// repeating, verifies that nothing remains, and writes a signed receipt.
//
// Everything lives in Redis under the keys of rkeys (section "erasures") and
// never expires: the records are the proof that a request was honoured.
package erasure

import "time"

// Status is where a request stands.
type Status string

const (
	StatusQueued    Status = "queued"
	StatusPlanning  Status = "planning"
	StatusRunning   Status = "running"
	StatusVerifying Status = "verifying"
	StatusDone      Status = "done"
	StatusFailed    Status = "failed"
	// StatusAwaitingApproval: filed with approval required
	// (LIFECYCLE_ERASURE_APPROVAL=required), waiting for another identity
	// to approve it. Its deadline runs meanwhile.
	StatusAwaitingApproval Status = "awaiting_approval"
	// StatusDenied: the approver refused it, with a reason. Nothing ran.
	StatusDenied Status = "denied"
	// StatusNeedsReview: everything was attempted and nothing was found
	// remaining, but some step or check rests on an answer that proves
	// nothing (State.Unconfirmed). A person resolves each (Executor.Resolve);
	// the request is done once all are resolved.
	StatusNeedsReview Status = "needs_review"
)

// Open reports whether the request still owes work.
func (s Status) Open() bool { return s != StatusDone && s != StatusDenied }

// Request is what the privacy team filed. It never changes once recorded.
// Its JSON is the user:erase task payload's, less the slice.
type Request struct {
	ID      string        `json:"request_id"`
	UserID  string        `json:"user_id"`
	Bigin   []BiginRecord `json:"bigin,omitempty"`
	BPMUser string        `json:"bpm_user,omitempty"`
	FiledBy string        `json:"filed_by"`
	FiledAt time.Time     `json:"filed_at"`
}

// BiginRecord names one Zoho Bigin record whose photo shows the person.
type BiginRecord struct {
	Module   string `json:"module"`
	RecordID string `json:"record_id"`
}

// Extension is the one extension GDPR allows (Art. 12(3)): two more months,
// with the reason recorded.
type Extension struct {
	Reason    string    `json:"reason"`
	GrantedAt time.Time `json:"granted_at"`
}

// StepFailure names a step that failed and why.
type StepFailure struct {
	Step  string `json:"step"`
	Class string `json:"class"` // errclass: permanent or retry
	Error string `json:"error"`
}

// State is what the worker records as it goes.
type State struct {
	Status     Status        `json:"status"`
	StepsTotal int           `json:"steps_total"`
	StartedAt  time.Time     `json:"started_at,omitzero"`
	FinishedAt time.Time     `json:"finished_at,omitzero"`
	UpdatedAt  time.Time     `json:"updated_at,omitzero"`
	Failing    []StepFailure `json:"failing,omitempty"`
	// Remains names what verification still found.
	Remains []string `json:"remains,omitempty"`
	// Unconfirmed names every step or check whose upstream answer proves
	// neither deletion nor absence (status needs_review).
	Unconfirmed []Finding `json:"unconfirmed,omitempty"`
	// Error is why the request failed when no single step is to blame.
	Error string `json:"error,omitempty"`
	// Slice is the newest task slice that took the request over: an older
	// slice that comes back (asynq recovering a killed worker's task) sees
	// it and stops.
	Slice int `json:"slice"`
}

// Finding is a step or check that an upstream answer left unconfirmed.
type Finding struct {
	Step   string `json:"step"`   // the step key, or "verify:..." for a check
	System string `json:"system"` // artifi, bigin, ibmbpm, storage
	Answer string `json:"answer"` // what the upstream answered, with the evidence row's source
}

// Resolution is a person's decision on a Finding.
type Resolution struct {
	Step   string    `json:"step"`
	As     Outcome   `json:"as"` // Deleted or Retained
	Reason string    `json:"reason"`
	By     string    `json:"by"`
	At     time.Time `json:"at"`
	Answer string    `json:"answer"` // the upstream answer it resolves
}

// Record is a request with its state, as status queries show it.
type Record struct {
	Request   Request    `json:"request"`
	Extension *Extension `json:"extension,omitempty"`
	// JoinedTo is the request this one joined because it was filed while
	// that one was erasing the same user; its state mirrors that one's.
	JoinedTo  string    `json:"joined_to,omitempty"`
	Joined    []string  `json:"joined,omitempty"` // requests that joined this one
	State     State     `json:"state"`
	StepsDone int       `json:"steps_done"`
	DueAt     time.Time `json:"due_at"`
	DaysLeft  int       `json:"days_left"`
	AtRisk    bool      `json:"at_risk"`
	TaskID    string    `json:"task_id"`
	// Resolutions are the decisions taken on unconfirmed steps and checks.
	Resolutions []Resolution `json:"resolutions,omitempty"`
	ReceiptKey  string       `json:"receipt,omitempty"`
	// Approval is the four-eyes decision, for a request filed while
	// approval was required.
	Approval *Approval `json:"approval,omitempty"`
}

// Approval is who filed a request that needed approval, and who decided.
type Approval struct {
	FiledBy  string    `json:"filed_by"`
	Decision string    `json:"decision,omitempty"` // approved or denied; empty while awaiting
	By       string    `json:"by,omitempty"`
	Reason   string    `json:"reason,omitempty"`
	At       time.Time `json:"at,omitzero"`
}

// AtRiskDays is the days-left threshold below which an open request is at
// risk of missing its deadline.
const AtRiskDays = 7

// Due is the legal deadline of a request filed at filedAt: one calendar
// month, or three with the extension. It is never later than LatestDue, so
// that a record filed with a far-future date before dates were bounded
// (tasks.FiledAtSkew) still encodes as JSON and every listing shows it.
func Due(filedAt time.Time, extended bool) time.Time {
	due := filedAt.AddDate(0, 1, 0)
	if extended {
		due = filedAt.AddDate(0, 3, 0)
	}
	if due.After(LatestDue) {
		return LatestDue
	}
	return due
}

// LatestDue is the latest time JSON (RFC 3339) can show: the end of 9999.
var LatestDue = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)

// DaysLeft counts whole days from now to due, rounding up, so that "1" means
// "due within the next 24 hours" and 0 or less means overdue.
func DaysLeft(due, now time.Time) int {
	d := due.Sub(now)
	days := int(d / (24 * time.Hour))
	if d%(24*time.Hour) > 0 {
		days++
	}
	return days
}
