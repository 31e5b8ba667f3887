package handlers

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	promtest "github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"

	"github.com/lifecycle-worker/lifecycle/internal/testutil"
)

// TestUnknownTypeDeadLettersAtOnce: a task type no handler knows is not
// retried 25 times: it is dead-lettered at once, with the reason (issue 13,
// finding 8).
func TestUnknownTypeDeadLettersAtOnce(t *testing.T) {
	s := &services{}
	mux := asynq.NewServeMux()
	if err := Register(mux, Services{Photos: s, Merges: s, Erasures: s, Sweeps: &fakeSweeper{}, DeadLetters: &fakeArchiver{}}); err != nil {
		t.Fatal(err)
	}
	for _, typ := range []string{"photo:erase", "", "user:merge:v2", "x"} {
		err := mux.ProcessTask(context.Background(), asynq.NewTask(typ, []byte(`{}`)))
		if !errors.Is(err, asynq.SkipRetry) || !strings.Contains(err.Error(), "unknown task type") {
			t.Errorf("type %q: %v, want an unknown task type, not retried", typ, err)
		}
	}
}

// TestUnservedQueuesLoggedAndCounted: tasks waiting on a queue no worker
// serves (asynq's "default", a typo) are logged once and counted (issue 13,
// finding 8).
func TestUnservedQueuesLoggedAndCounted(t *testing.T) {
	opt := testutil.AsynqRedis(t)
	client := asynq.NewClient(opt)
	defer client.Close()
	for _, q := range []string{"default", "default", "photos", "photo"} {
		if _, err := client.Enqueue(asynq.NewTask("photo:delete", []byte(`{}`)), asynq.Queue(q)); err != nil {
			t.Fatal(err)
		}
	}
	var logs testutil.Buffer
	gauge := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "u"}, []string{"queue"})
	insp := &otherWorkers{Inspector: testutil.Inspector(t, opt)}
	u := NewUnserved(UnservedParams{Inspector: insp, Served: []string{"photo", "merge"}, Gauge: gauge, Log: zerolog.New(&logs)})
	for range 2 {
		u.Check()
	}
	for q, want := range map[string]float64{"default": 2, "photos": 1, "photo": 0} {
		if got := promtest.ToFloat64(gauge.WithLabelValues(q)); got != want {
			t.Errorf("lifecycle_unserved_tasks{queue=%q} = %v, want %v", q, got, want)
		}
	}
	if n := strings.Count(logs.String(), "no worker serves"); n != 2 {
		t.Errorf("%d log lines, want one per unserved queue:\n%s", n, logs.String())
	}

	// Another worker starts serving "photos": its tasks are no longer
	// unserved, though this worker does not serve that queue.
	insp.servers = []*asynq.ServerInfo{{Host: "other", Queues: map[string]int{"photos": 1}}}
	u.Check()
	for q, want := range map[string]float64{"default": 2, "photos": 0} {
		if got := promtest.ToFloat64(gauge.WithLabelValues(q)); got != want {
			t.Errorf("with another worker on photos: lifecycle_unserved_tasks{queue=%q} = %v, want %v", q, got, want)
		}
	}
}

// otherWorkers is an inspector whose Redis shows the given workers alive.
type otherWorkers struct {
	*asynq.Inspector
	servers []*asynq.ServerInfo
}

func (o *otherWorkers) Servers() ([]*asynq.ServerInfo, error) { return o.servers, nil }
