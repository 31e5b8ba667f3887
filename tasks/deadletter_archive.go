package tasks

import "time"

// TypeDeadLetterArchive copies every dead letter (asynq's archived tasks)
// to durable storage before asynq can trim it, and counts it. It is
// housekeeping enqueued by the scheduler on QueueSweep, with no payload, and
// not something a producer sends. Never rename it in place.
const TypeDeadLetterArchive = "deadletters:archive"

// deadLetterArchiveSpec holds every decision about deadletters:archive,
// which the scheduler's built-in archiver takes.
var deadLetterArchiveSpec = spec{typ: TypeDeadLetterArchive, Policy: Policy{
	Queue: QueueSweep,
	// asynq's defaults, which the archiver has always had. Its retries matter
	// little: the next minute's pass archives the same dead letters, and two
	// passes at once are harmless.
	MaxRetry: 25,
	Backoff:  backoffDefault,
	Timeout:  30 * time.Minute,
	// Fired every minute: an hour covers a late scheduler's firing of the
	// same minute, and keeps an hour of completed passes in Redis, not a day.
	Retention: time.Hour,
}}
