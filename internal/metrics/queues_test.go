package metrics

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hibiken/asynq"

	"github.com/lifecycle-worker/lifecycle/internal/testutil"
)

// TestQueueMetricsUnderAsynqXNames checks that a scrape shows a queue under
// the names github.com/hibiken/asynq/x/metrics gives them, which asynqmon's
// charts and asynq dashboards query.
func TestQueueMetricsUnderAsynqXNames(t *testing.T) {
	opt := testutil.AsynqRedis(t)
	client := asynq.NewClient(opt)
	t.Cleanup(func() { _ = client.Close() })
	for range 3 {
		if _, err := client.Enqueue(asynq.NewTask("photo:delete", nil), asynq.Queue("photos")); err != nil {
			t.Fatal(err)
		}
	}
	reg := New(testutil.Inspector(t, opt))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "queue" && l.GetValue() == "photos" && len(m.GetLabel()) == 1 {
					got[mf.GetName()] = m.GetGauge().GetValue() + m.GetCounter().GetValue()
				}
			}
		}
	}
	want := map[string]float64{"asynq_queue_size": 3, "asynq_tasks_processed_total": 0, "asynq_tasks_failed_total": 0, "asynq_queue_paused_total": 0, "asynq_queue_latency_seconds": got["asynq_queue_latency_seconds"]}
	for name := range got {
		if _, ok := want[name]; !ok {
			delete(got, name)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("photos queue metrics (-want +got):\n%s", diff)
	}
}
