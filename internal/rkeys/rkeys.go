// Package rkeys names every Redis key that lifecycle owns (asynq's own keys
// live under "asynq:" and are asynq's business). Keeping them in one file
// makes it possible to see at a glance what we store, to avoid collisions, and
// to find every reader and writer of a key by its function name.
//
// All keys start with "lifecycle:". Ids are opaque strings chosen by our
// producers, validated at every edge against the id grammar
// (tasks.IDGrammar), which has no ':'. They are embedded through id, which
// leaves a valid id as it is and escapes anything else, so that no id can
// name another key (request "X:steps" and request X's checkpoint hash).
package rkeys

const prefix = "lifecycle:"

// --- upstream clients ---

// Semaphore is the sorted set of leases that bounds concurrent calls to one
// upstream system across every worker process (member: holder id, score:
// lease expiry in unix milliseconds).
func Semaphore(system string) string { return prefix + "sem:" + system }

// SemaphoreHolder is the heartbeat of one process's holder of semaphore
// slots (value "1", a time to live of a few seconds, renewed while it holds
// any): a slot whose holder's heartbeat is gone is free (see
// internal/semaphore).
func SemaphoreHolder(holder string) string { return prefix + "sem-holder:" + holder }

// ZohoToken caches the Bigin OAuth access token shared by every worker, keyed
// by an opaque fingerprint of the client id and refresh token (never the
// secret itself), so one refresh token mints one access token per expiry.
func ZohoToken(fingerprint string) string { return prefix + "zoho:token:" + fingerprint }

// ZohoTokenLock is held by the one process that refreshes the token.
func ZohoTokenLock(fingerprint string) string { return prefix + "zoho:token-lock:" + fingerprint }

// --- users: merges, erasures, locks ---

// UserLock is the per-user lease lock that keeps a merge and an erasure of
// the same user from running at once (value: the holder's task id).
func UserLock(userID string) string { return prefix + "lock:user:" + id(userID) }

// Aliases is the set of guest ids merged into a registered user, so that an
// erasure of the user also covers what those guest ids left behind.
func Aliases(userID string) string { return prefix + "user:" + id(userID) + ":aliases" }

// MergedInto holds the registered id a guest id was merged into.
func MergedInto(guestID string) string { return prefix + "guest:" + id(guestID) + ":merged-into" }

// Tombstone marks an erased user id (value: JSON with the erasure request id
// and time). Kept forever: a tombstone is what refuses later merges into the
// id and what lets the sweep treat leftovers as orphaned.
func Tombstone(userID string) string { return prefix + "tombstone:" + id(userID) }

// ErasureFence marks a user id an open erasure covers (value: the request
// id), from planning to receipt: merges into or out of it wait meanwhile.
func ErasureFence(userID string) string { return prefix + "erasure-fence:" + id(userID) }

// MergeProgress is the hash of a merge's finished steps, so that a retry
// after a crash resumes instead of repeating them. One per guest; its field
// "target" names the user the guest is being merged into.
func MergeProgress(guestID string) string { return prefix + "merge:" + id(guestID) }

// GuestQuarantined is the hash of what sweeps quarantined of one user id
// (field: "{sweepId}:{part}", value: objects), written under the user's lock
// before the objects move, so that a merge of a guest the sweep took for
// gone finds them in quarantine, or says that the purge took them. It
// expires a while after any restore window, so that a guest who returns
// much later is still told.
func GuestQuarantined(userID string) string { return prefix + "guest:" + id(userID) + ":quarantined" }

// --- asset sweeps ---

// SweepLock is the lease lock that keeps two sweeps (or a sweep and a purge
// or restore) from working on storage at once (value: the holder's sweep id).
func SweepLock() string { return prefix + "sweep:lock" }

// SweepRun holds the checkpoint of the sweep in progress (JSON: sweep id,
// phase, last key listed, manifest parts, counters), so that a crashed sweep
// is resumed by whichever sweep task runs next instead of started over.
// Deleted when the sweep finishes.
func SweepRun() string { return prefix + "sweep:run" }

// --- erasures (GDPR Art. 17) ---
//
// None of these expire: together they are the record that a request was
// received, honoured in time, and how.

// ErasureRequest is the hash of one erasure request: "request" (what was
// filed, JSON, never changed), "state" (status and progress, JSON, written by
// the worker holding the user's lock), "joined_to" (the request it joined, or
// empty) and "extension" (the one deadline extension, JSON, set at most once).
func ErasureRequest(requestID string) string { return prefix + "erasure:" + id(requestID) }

// ErasurePlan holds the request's plan (JSON: ids covered and every step),
// written once, so that a resumed erasure works through the same list rather
// than a re-listing that no longer shows what it already deleted.
func ErasurePlan(requestID string) string { return prefix + "erasure:" + id(requestID) + ":plan" }

// ErasureSteps is the checkpoint hash of finished steps (field: step key,
// value: JSON outcome with count and time). A step in it is never run again.
func ErasureSteps(requestID string) string { return prefix + "erasure:" + id(requestID) + ":steps" }

// ErasureFailures holds the last failure of each step not finished yet
// (field: step key, value: JSON), for the status and the dead-letter reason.
func ErasureFailures(requestID string) string {
	return prefix + "erasure:" + id(requestID) + ":failures"
}

// ErasureCursors holds each storage step's progress through its prefix
// (fields "cursor:{prefix}", "count:{prefix}", "intent:{prefix}").
func ErasureCursors(requestID string) string { return prefix + "erasure:" + id(requestID) + ":cursors" }

// ErasureJoined is the set of requests that joined this one.
func ErasureJoined(requestID string) string { return ErasureJoinedPrefix() + id(requestID) + ":joined" }

// ErasureJoinedPrefix is what ErasureJoined puts before the request id, for
// the Lua script that builds the name from a request id it reads itself (one
// stored after validation, which id leaves as it is).
func ErasureJoinedPrefix() string { return prefix + "erasure:" }

// ErasureActive holds the id of the request erasing a user right now, so that
// a second request for the same user joins it instead of racing it.
func ErasureActive(userID string) string { return prefix + "erasure-active:" + id(userID) }

// ErasureOpen is the sorted set of open requests (member: request id, score:
// due date in unix seconds), for listings and deadline metrics.
func ErasureOpen() string { return prefix + "erasures:open" }

// --- dead letters ---

// DeadLettersCopied is the sorted set of dead letters already copied to
// storage (member: queue/task-id@failed-unix, score: when it was copied), so
// that each dead letter is copied and counted once, and again if the same
// task is retried and dead-letters anew.
func DeadLettersCopied() string { return prefix + "deadletters:copied" }

// DeadLettersUncopied is the hash of dead letters the archiver could not
// copy to storage (field: queue/task-id@failed-unix, value: JSON with the
// error and when it was first seen). A field names a dead letter a person
// must look at; it is removed once a later run copies it.
func DeadLettersUncopied() string { return prefix + "deadletters:uncopied" }

// ErasureFinished is the sorted set of requests no longer open: done or
// denied (member: request id, score: when it finished, unix seconds), so
// that history listings find them. Members older than the history
// retention (LIFECYCLE_ERASURE_HISTORY_RETENTION) are dropped from it; the
// request's own hash stays.
func ErasureFinished() string { return prefix + "erasures:finished" }

// ErasureApproval is the hash of a request's four-eyes approval: "filer"
// (who filed it), "decision" (approved or denied), "by", "reason", "at".
func ErasureApproval(requestID string) string {
	return prefix + "erasure:" + id(requestID) + ":approval"
}

// --- audit trail ---

// AuditLog is the sorted set of audit entries (member: the entry as JSON,
// score: its time in unix milliseconds). Bounded: entries older than
// audit.RedisRetention, and all but the newest audit.RedisMaxEntries, are
// trimmed on each write. Storage keeps every entry (skeys.AuditEntry).
func AuditLog() string { return prefix + "audit:log" }

// AuditUncopied is the hash of audit entries not yet copied to storage
// (field: entry id, value: entry JSON); an entry leaves it once copied.
func AuditUncopied() string { return prefix + "audit:uncopied" }

// --- task completions ---

// TaskCompleted records that a task's handler succeeded (value: when), so
// that asynq running it again after a completion it failed to record does not
// repeat its upstream calls (see internal/completion). It expires with the
// task type's Retention, the window in which asynq also remembers the task id
// and refuses a new task with it: the record never hides new work.
func TaskCompleted(queue, taskID string) string {
	return prefix + "completed:" + id(queue) + ":" + id(taskID)
}

// --- console ---

// ConsoleSession is a browser session of the console (value: JSON of the
// signed-in token's name and scopes and the session's CSRF token, never the
// token's secret), expiring with the session. session is a random id.
func ConsoleSession(session string) string { return prefix + "console:session:" + id(session) }
