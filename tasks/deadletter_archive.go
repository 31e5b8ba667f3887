package tasks

// TypeDeadLetterArchive copies every dead letter (asynq's archived tasks)
// to durable storage before asynq can trim it, and counts it. It is
// housekeeping enqueued by the scheduler on QueueSweep, with no payload, and
// not something a producer sends. Never rename it in place.
const TypeDeadLetterArchive = "deadletters:archive"
