package api

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/hibiken/asynq"

	"github.com/lifecycle-worker/lifecycle/internal/apitoken"

	"github.com/lifecycle-worker/lifecycle/tasks"
)

// TaskQueue is what the enqueue and task status routes need: tasks.Client
// to enqueue, and asynq's inspector to read a task back.
type TaskQueue interface {
	tasks.Enqueuer
	GetTaskInfo(queue, id string) (*asynq.TaskInfo, error)
}

// NewTaskQueue joins an enqueuer and an inspector into a TaskQueue.
func NewTaskQueue(e tasks.Enqueuer, in *asynq.Inspector) TaskQueue {
	return taskQueue{e, in}
}

type taskQueue struct {
	tasks.Enqueuer
	*asynq.Inspector
}

// The states GET /v1/tasks/{id} answers, asynq's states as a producer
// needs them: scheduled and aggregating tasks are pending, archived ones
// dead-lettered.
const (
	StatePending      = "pending"
	StateActive       = "active"
	StateRetry        = "retry"
	StateCompleted    = "completed"
	StateDeadLettered = "dead-lettered"
)

// taskStatus is the answer of GET /v1/tasks/{id}.
type taskStatus struct {
	TaskID   string `json:"task_id"`
	Type     string `json:"type"`
	Queue    string `json:"queue"`
	State    string `json:"state"`
	Retried  int    `json:"retried"`
	MaxRetry int    `json:"max_retry"`
	// retry: when the next attempt runs and why the last one failed.
	NextAttemptAt *time.Time `json:"next_attempt_at,omitempty"`
	LastError     string     `json:"last_error,omitempty"`
	// completed: how it ended (succeeded, already_gone), as the worker
	// recorded it.
	CompletedAt *time.Time `json:"completed_at,omitempty"`
	Outcome     string     `json:"outcome,omitempty"`
	// dead-lettered: why, and when.
	Reason       string     `json:"reason,omitempty"`
	DeadLettered *time.Time `json:"dead_lettered_at,omitempty"`
}

// statusRoutes maps a producer's task type to the route that answers its
// state, so a checkout token (scopes merge, photo) can follow the
// status_url of what it enqueued without the admin scope that reads any
// task.
var statusRoutes = []struct {
	typ   string
	path  string
	scope apitoken.Scope
}{
	{tasks.TypePhotoDelete, "/v1/photo-deletions/", apitoken.ScopePhoto},
	{tasks.TypeUserMerge, "/v1/merges/", apitoken.ScopeMerge},
}

func taskURL(id string) string {
	typ, _, _ := parseTaskID(id)
	for _, s := range statusRoutes {
		if s.typ == typ {
			return s.path + id
		}
	}
	return "/v1/tasks/" + id
}

// taskRoutes adds:
//
//	GET /v1/tasks/{id}            any task's state (admin), by the id the
//	                              enqueue answered or the producer computed
//	GET /v1/photo-deletions/{id}  the same for a photo deletion (photo)
//	GET /v1/merges/{id}           the same for a merge (merge)
//
// Each answers 200; 400 for an id that is not one of ours (or not of the
// route's type); 404 when no such task is in Redis (never enqueued, or
// finished longer ago than its type's retention).
func taskRoutes(rt *router, p Params) {
	rt.handle(http.MethodGet, "/v1/tasks/{id}", apitoken.ScopeAdmin, taskStatusHandler(p, ""))
	for _, s := range statusRoutes {
		rt.handle(http.MethodGet, s.path+"{id}", s.scope, taskStatusHandler(p, s.typ))
	}
}

// taskStatusHandler answers a task's state; onlyType, when set, refuses ids
// of other types, so a route's scope guards only its own type's tasks.
func taskStatusHandler(p Params, onlyType string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		typ, queue, err := parseTaskID(id)
		if err == nil && onlyType != "" && typ != onlyType {
			err = problem("id", "not a "+onlyType+" task id")
		}
		if err != nil {
			writeError(w, p.Log, err)
			return
		}
		info, err := p.Tasks.GetTaskInfo(queue, id)
		if errors.Is(err, asynq.ErrTaskNotFound) || errors.Is(err, asynq.ErrQueueNotFound) {
			writeError(w, p.Log, &Error{http.StatusNotFound, "no such task (never enqueued, or finished longer ago than its retention)"})
			return
		}
		if err != nil {
			writeError(w, p.Log, err)
			return
		}
		writeJSON(w, http.StatusOK, taskStatusOf(typ, info))
	}
}

// parseTaskID checks that id has the contract's shape, <type>:<32 hex
// digits>, for a type with a policy, and returns the type and its queue.
func parseTaskID(id string) (typ, queue string, err error) {
	i := strings.LastIndexByte(id, ':')
	if i < 0 {
		return "", "", problem("id", "want <task type>:<32 hex digits>")
	}
	typ, sum := id[:i], id[i+1:]
	pol, ok := tasks.PolicyFor(typ)
	if !ok {
		return "", "", problem("id", "unknown task type "+typ)
	}
	if _, err := hex.DecodeString(sum); err != nil || len(sum) != 32 || strings.ToLower(sum) != sum {
		return "", "", problem("id", "want <task type>:<32 lowercase hex digits>")
	}
	return typ, pol.Queue, nil
}

func taskStatusOf(typ string, info *asynq.TaskInfo) taskStatus {
	s := taskStatus{TaskID: info.ID, Type: typ, Queue: info.Queue, Retried: info.Retried, MaxRetry: info.MaxRetry}
	switch info.State {
	case asynq.TaskStateActive:
		s.State = StateActive
	case asynq.TaskStateRetry:
		s.State = StateRetry
		s.NextAttemptAt = &info.NextProcessAt
		s.LastError = info.LastErr
	case asynq.TaskStateCompleted:
		s.State = StateCompleted
		s.CompletedAt = &info.CompletedAt
		s.Outcome = outcomeOf(info.Result)
	case asynq.TaskStateArchived:
		s.State = StateDeadLettered
		s.Reason = info.LastErr
		s.DeadLettered = &info.LastFailedAt
	default: // pending, scheduled, aggregating
		s.State = StatePending
		if info.State == asynq.TaskStateScheduled {
			s.NextAttemptAt = &info.NextProcessAt
		}
	}
	return s
}

// outcomeOf reads the outcome the worker's middleware wrote as the task's
// result (handlers.Outcomes); a task completed by an older worker has none,
// and succeeded is all that is known.
func outcomeOf(result []byte) string {
	var r struct {
		Outcome string `json:"outcome"`
	}
	if json.Unmarshal(result, &r) != nil || r.Outcome == "" {
		return "succeeded"
	}
	return r.Outcome
}
