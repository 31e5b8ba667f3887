package tasks

import (
	"cmp"
	"slices"

	"github.com/hibiken/asynq"
)

// Queue names. Each kind of work has a queue of its own so that a backlog of
// one (a mass erasure, a sweep over millions of assets) never starves another.
// The worker serves them with the weights of QueueWeights.
const (
	// QueueMerge carries user:merge. It has the highest weight because a
	// customer who just checked out waits for their designs and cart to appear
	// in their account.
	QueueMerge = "merge"
	// QueuePhoto carries photo:delete. It is deliberately not asynq's
	// "default" queue, where any task enqueued without a queue lands: a stray
	// task must not compete with photo deletes, and the name says on a
	// dashboard what the queue holds.
	QueuePhoto = "photo"
	// QueueErase carries user:erase.
	QueueErase = "erase"
	// QueueSweep carries assets:sweep and deadletters:archive. It has the
	// lowest weight: both are background housekeeping.
	QueueSweep = "sweep"
	// QueueWebhook carries webhook:deliver: a receiver that is down backs
	// up this queue only, and its dead letters are notifications nobody got.
	QueueWebhook = "webhook"
)

// queueWeights is the one place that ranks the queues.
var queueWeights = map[string]int{
	QueueMerge: 6,
	QueuePhoto: 3,
	QueueErase: 2,
	QueueSweep: 1,
	// As light as sweep: a notification waits seconds, nobody's data does.
	QueueWebhook: 1,
}

// QueueWeights returns the default weights for asynq.Config.Queues: a worker
// picks a queue with probability weight/sum, so merge gets half of the picks
// and sweep one in twelve. The map is a fresh copy the caller may change.
//
// Use it with StrictPriority false (asynq's default). Strict priority would
// serve erase and sweep only when merge and photo are empty; under steady
// checkout traffic an erasure, which has a legal deadline, could wait forever.
// Weighted picking keeps every queue moving while still favouring merges.
func QueueWeights() map[string]int {
	m := make(map[string]int, len(queueWeights))
	for q, w := range queueWeights {
		m[q] = w
	}
	return m
}

// Queues returns every queue name, highest weight first, for tools that list
// or inspect queues in a stable order.
func Queues() []string {
	qs := make([]string, 0, len(queueWeights))
	for q := range queueWeights {
		qs = append(qs, q)
	}
	slices.SortFunc(qs, func(a, b string) int {
		if queueWeights[a] != queueWeights[b] {
			return queueWeights[b] - queueWeights[a]
		}
		return cmp.Compare(a, b)
	})
	return qs
}

// spec is every decision about one task type. Each type file declares one,
// with the reasons for its numbers beside them; specs lists them all.
type spec struct {
	typ string
	Policy
}

// options puts the spec's decisions first so that options a caller passes to
// NewXTask come later and win (asynq applies options in order). Overriding
// TaskID or Queue gives up deduplication, which is keyed on (queue, id).
func (s spec) options(id string) []asynq.Option {
	return []asynq.Option{
		asynq.Queue(s.Queue),
		asynq.MaxRetry(s.MaxRetry),
		asynq.Timeout(s.Timeout),
		asynq.Retention(s.Retention),
		asynq.TaskID(id),
	}
}
