package metrics

import (
	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
)

// queueCollector reads asynq's queue state at scrape time. The archived count
// is the dead-letter gauge operators alert on: it also sees tasks that asynq's
// recoverer archives after a crash, which never reach an ErrorHandler.
type queueCollector struct {
	inspector *asynq.Inspector
	size      *prometheus.Desc
	latency   *prometheus.Desc
	processed *prometheus.Desc
	failed    *prometheus.Desc
	paused    *prometheus.Desc
	scrapeErr *prometheus.Desc
}

func newQueueCollector(in *asynq.Inspector) *queueCollector {
	q := []string{"queue"}
	return &queueCollector{
		inspector: in,
		size:      prometheus.NewDesc("asynq_tasks_enqueued_total", "Tasks in a queue by state (pending, active, scheduled, retry, archived, completed).", []string{"queue", "state"}, nil),
		latency:   prometheus.NewDesc("asynq_queue_latency_seconds", "Age of the oldest pending task.", q, nil),
		processed: prometheus.NewDesc("asynq_tasks_processed_today", "Tasks processed today (UTC), successful or not.", q, nil),
		failed:    prometheus.NewDesc("asynq_tasks_failed_today", "Task attempts that failed today (UTC).", q, nil),
		paused:    prometheus.NewDesc("asynq_queue_paused", "1 if the queue is paused.", q, nil),
		scrapeErr: prometheus.NewDesc("lifecycle_queue_scrape_error", "1 if asynq queue state could not be read (Redis unreachable).", nil, nil),
	}
}

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.size, c.latency, c.processed, c.failed, c.paused, c.scrapeErr} {
		ch <- d
	}
}

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	queues, err := c.inspector.Queues()
	failed := 0.0
	for _, name := range queues {
		info, qerr := c.inspector.GetQueueInfo(name)
		if qerr != nil {
			err = qerr
			continue
		}
		for state, n := range map[string]int{
			"pending": info.Pending, "active": info.Active, "scheduled": info.Scheduled,
			"retry": info.Retry, "archived": info.Archived, "completed": info.Completed,
		} {
			ch <- prometheus.MustNewConstMetric(c.size, prometheus.GaugeValue, float64(n), name, state)
		}
		ch <- prometheus.MustNewConstMetric(c.latency, prometheus.GaugeValue, info.Latency.Seconds(), name)
		ch <- prometheus.MustNewConstMetric(c.processed, prometheus.GaugeValue, float64(info.Processed), name)
		ch <- prometheus.MustNewConstMetric(c.failed, prometheus.GaugeValue, float64(info.Failed), name)
		paused := 0.0
		if info.Paused {
			paused = 1
		}
		ch <- prometheus.MustNewConstMetric(c.paused, prometheus.GaugeValue, paused, name)
	}
	if err != nil {
		failed = 1
	}
	ch <- prometheus.MustNewConstMetric(c.scrapeErr, prometheus.GaugeValue, failed)
}
