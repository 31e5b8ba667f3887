// Package tasks is the producer contract of the lifecycle worker: the task
// type names, their payloads, how each is enqueued, and a small client for
// producers such as checkout. It imports asynq and the standard library only,
// so a producer can depend on it without pulling in the worker.
//
// # Rules for changing this package
//
//   - A type string (TypePhotoDelete, ...) is never renamed in place: tasks
//     already queued carry it, and a worker that no longer knows it would let
//     them fail. Add a new type and retire the old one after its queue drains.
//   - A payload field may be added only if an older worker can safely ignore
//     it (the worker does not reject unknown fields, see Decode). A change of
//     meaning is a new type.
//   - Enqueue options (queue, retries, timeout, retention, task id) and the
//     retry backoff are decided here, per type, in one spec value; producers
//     do not pick them, and the worker and the scheduler read them with
//     PolicyFor.
//
// # Ids
//
// Every opaque id in a payload (user, guest, photo, request and sweep ids,
// who filed a request) follows one grammar, IDGrammar:
//
//	[A-Za-z0-9][A-Za-z0-9._@-]{0,127}
//
// The constructors, Validate and Decode enforce it, and the worker's HTTP API
// and command line check the ids they are given with CheckID, so every edge
// refuses the same ids. An id that passes holds no Redis key separator (':'),
// no path separator or escape ('/', '\', '%'), no space or control
// character, and cannot be "." or ".." or start like a flag. Filing dates
// are bounded too (FiledAtEarliest, FiledAtSkew), and so are slice numbers
// (MaxSlice).
//
// # Deduplication
//
// Every task gets a deterministic asynq TaskID computed from its payload (see
// PhotoDeletePayload.TaskID and UserMergePayload.TaskID). asynq refuses a
// second task with the same id in the same queue while the first exists in any
// state: pending, scheduled, active, retry, archived (dead-lettered) or
// completed within its Retention. Client reports such a refusal as success
// with Result.Duplicate set, so a checkout retry or a double click is not an
// error and yields one task. Outside that window a new task is enqueued; the
// worker's handlers are idempotent, which is the last line of defence.
//
// One consequence to know: while a task sits in the archive (it failed for
// good), the same request is reported as a duplicate and is not retried.
// Re-run the archived task (asynq Inspector.RunTask) instead of re-enqueueing.
package tasks

// schema/*.json (the payloads as JSON Schema, CONTRACT.md) are generated
// from the payload structs by a test, which also checks them.
//go:generate go test -run ^TestSchemasMatchStructs$ -update .
