// Package rkeys names every Redis key that lifecycle owns (asynq's own keys
// live under "asynq:" and are asynq's business). Keeping them in one file
// makes it possible to see at a glance what we store, to avoid collisions, and
// to find every reader and writer of a key by its function name.
//
// All keys start with "lifecycle:". Ids are opaque strings chosen by our
// producers; they are embedded as they are, so they must not be used to
// build keys before validation (tasks validates them at the edge).
package rkeys

const prefix = "lifecycle:"

// --- upstream clients ---

// Semaphore is the sorted set of leases that bounds concurrent calls to one
// upstream system across every worker process (member: holder id, score:
// lease expiry in unix milliseconds).
func Semaphore(system string) string { return prefix + "sem:" + system }

// ZohoToken caches the Bigin OAuth access token shared by every worker, keyed
// by an opaque fingerprint of the client id and refresh token (never the
// secret itself), so one refresh token mints one access token per expiry.
func ZohoToken(fingerprint string) string { return prefix + "zoho:token:" + fingerprint }

// ZohoTokenLock is held by the one process that refreshes the token.
func ZohoTokenLock(fingerprint string) string { return prefix + "zoho:token-lock:" + fingerprint }

// --- users: merges, erasures, locks ---

// UserLock is the per-user lease lock that keeps a merge and an erasure of
// the same user from running at once (value: the holder's task id).
func UserLock(userID string) string { return prefix + "lock:user:" + userID }

// Aliases is the set of guest ids merged into a registered user, so that an
// erasure of the user also covers what those guest ids left behind.
func Aliases(userID string) string { return prefix + "user:" + userID + ":aliases" }

// MergedInto holds the registered id a guest id was merged into.
func MergedInto(guestID string) string { return prefix + "guest:" + guestID + ":merged-into" }

// Tombstone marks an erased user id (value: JSON with the erasure request id
// and time). Kept forever: a tombstone is what refuses later merges into the
// id and what lets the sweep treat leftovers as orphaned.
func Tombstone(userID string) string { return prefix + "tombstone:" + userID }

// MergeProgress is the hash of a merge's finished steps, so that a retry
// after a crash resumes instead of repeating them.
func MergeProgress(guestID string) string { return prefix + "merge:" + guestID }

// --- asset sweeps ---

// SweepLock is the lease lock that keeps two sweeps (or a sweep and a purge
// or restore) from working on storage at once (value: the holder's sweep id).
func SweepLock() string { return prefix + "sweep:lock" }

// SweepRun holds the checkpoint of the sweep in progress (JSON: sweep id,
// phase, last key listed, manifest parts, counters), so that a crashed sweep
// is resumed by whichever sweep task runs next instead of started over.
// Deleted when the sweep finishes.
func SweepRun() string { return prefix + "sweep:run" }
