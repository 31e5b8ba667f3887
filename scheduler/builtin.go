package scheduler

import (
	"encoding/json"
	"fmt"

	"github.com/lifecycle-worker/lifecycle/tasks"
)

// Builtin is the periodic work every installation runs; a schedule file adds
// to it.
func Builtin() []Entry {
	return []Entry{
		// Every minute: a dead letter is copied to storage, logged and
		// counted within a minute of dead-lettering, long before asynq's
		// 10,000-per-queue or 90-day trimming could lose it.
		withPolicy(Entry{Name: "dead-letter-archiver", Cron: "* * * * *", Type: tasks.TypeDeadLetterArchive}),
		// Daily, at a quiet hour and off the full hour that other jobs
		// crowd: orphaned assets are found and quarantined (restorable for
		// the restore window). Retention over a day, so a scheduler that was
		// down for a while cannot fire a slot that already ran.
		withPolicy(Entry{Name: "assets-sweep", Cron: "17 3 * * *", Type: tasks.TypeAssetsSweep,
			Payload: json.RawMessage(`{"mode":"quarantine"}`), Retention: "48h"}),
		// Daily, after the sweep: quarantines past the restore window go.
		withPolicy(Entry{Name: "assets-purge", Cron: "47 4 * * *", Type: tasks.TypeAssetsSweep,
			Payload: json.RawMessage(`{"mode":"purge"}`), Retention: "48h"}),
	}
}

// withPolicy gives e the queue, retries and timeout of its task type's
// policy, and its retention unless e sets its own: a firing's dedup window
// depends on how often it fires.
func withPolicy(e Entry) Entry {
	p, ok := tasks.PolicyFor(e.Type)
	if !ok {
		panic(fmt.Sprintf("scheduler: built-in entry %q: task type %q has no policy", e.Name, e.Type))
	}
	e.Queue = p.Queue
	e.Timeout = p.Timeout.String()
	e.MaxRetry = &p.MaxRetry
	if e.Retention == "" {
		e.Retention = p.Retention.String()
	}
	return e
}
