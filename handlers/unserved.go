package handlers

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// refuseUnknownTypes dead-letters at once a task whose type no handler
// knows (a typo, a producer newer than this worker): asynq would retry it
// 25 times over three weeks, with no log line naming the problem. The type
// must match exactly: asynq's mux would hand "user:merge:v2" to the
// user:merge handler, but a new type name is how a producer says that the
// payload means something the old handler does not know. The outcome
// middleware, outside this one, logs and counts the dead letter.
func refuseUnknownTypes(next asynq.Handler) asynq.Handler {
	return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
		if !slices.Contains(knownTypes, t.Type()) {
			return fmt.Errorf("unknown task type %q (this worker handles %s): %w", t.Type(), strings.Join(knownTypes, ", "), asynq.SkipRetry)
		}
		return next.ProcessTask(ctx, t)
	})
}

// UnservedEveryDefault is how often Unserved looks at the queues.
const UnservedEveryDefault = time.Minute

// UnservedParams configure NewUnserved.
type UnservedParams struct {
	Inspector interface {
		Queues() ([]string, error)
		GetQueueInfo(queue string) (*asynq.QueueInfo, error)
		Servers() ([]*asynq.ServerInfo, error)
	}
	// Served are the queues this worker serves; those of the other workers
	// alive on the same Redis are read from their heartbeats.
	Served []string
	// Gauge is lifecycle_unserved_tasks{queue}.
	Gauge *prometheus.GaugeVec
	Log   zerolog.Logger
	Every time.Duration // UnservedEveryDefault if zero
}

// Unserved watches for tasks waiting on queues that no worker serves:
// asynq's "default" queue (a producer that forgot asynq.Queue), or a
// misspelt queue name. Such tasks wait for ever without a sound; Unserved
// counts them in a gauge and logs each such queue once.
type Unserved struct {
	p      UnservedParams
	mu     sync.Mutex
	logged map[string]bool
}

// NewUnserved returns a watcher; Run it, or call Check.
func NewUnserved(p UnservedParams) *Unserved {
	if p.Every <= 0 {
		p.Every = UnservedEveryDefault
	}
	return &Unserved{p: p, logged: map[string]bool{}}
}

// Run checks at once and then every Every, until ctx ends.
func (u *Unserved) Run(ctx context.Context) error {
	tick := time.NewTicker(u.p.Every)
	defer tick.Stop()
	for {
		u.Check()
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// Check looks at every queue asynq knows once.
func (u *Unserved) Check() {
	queues, err := u.p.Inspector.Queues()
	if err != nil {
		u.p.Log.Warn().Err(err).Msg("cannot list queues to find unserved tasks")
		return
	}
	served := u.served()
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, q := range queues {
		if served[q] {
			// Cleared, so that a queue a worker has started serving since
			// stops showing as unserved.
			u.p.Gauge.WithLabelValues(q).Set(0)
			continue
		}
		info, err := u.p.Inspector.GetQueueInfo(q)
		if err != nil {
			continue
		}
		waiting := info.Pending + info.Scheduled + info.Retry
		u.p.Gauge.WithLabelValues(q).Set(float64(waiting))
		if waiting > 0 && !u.logged[q] {
			u.logged[q] = true
			u.p.Log.Error().Str("queue", q).Int("waiting", waiting).Strs("served", u.p.Served).
				Msg("tasks wait on a queue no worker serves: they will never run (see lifecycle_unserved_tasks)")
		}
	}
}

// served is every queue that this worker or another live one serves: a
// deployment may give its workers different queues, and a queue one of them
// serves is not waiting for ever.
func (u *Unserved) served() map[string]bool {
	served := map[string]bool{}
	for _, q := range u.p.Served {
		served[q] = true
	}
	servers, err := u.p.Inspector.Servers()
	if err != nil {
		u.p.Log.Warn().Err(err).Msg("cannot list workers; counting only this worker's queues as served")
		return served
	}
	for _, srv := range servers {
		for q := range srv.Queues {
			served[q] = true
		}
	}
	return served
}
