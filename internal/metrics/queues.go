package metrics

import (
	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
)

// queueCollector reads asynq's queue state at scrape time. It also exports
// what github.com/hibiken/asynq/x/metrics' QueueMetricsCollector does, under
// its names, for asynqmon's charts and common asynq dashboards: that
// collector cannot be registered beside this one, which already exports two
// of its names (asynq_tasks_enqueued_total, asynq_queue_latency_seconds)
// with the same labels, and it logs with the standard logger, not zerolog. The archived count
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

	// asynq/x/metrics' names
	xSize, xMemory, xProcessed, xFailed, xPaused *prometheus.Desc
}

func newQueueCollector(in *asynq.Inspector) *queueCollector {
	q := []string{"queue"}
	return &queueCollector{
		inspector:  in,
		size:       prometheus.NewDesc("asynq_tasks_enqueued_total", "Tasks in a queue by state (pending, active, scheduled, retry, archived, completed).", []string{"queue", "state"}, nil),
		latency:    prometheus.NewDesc("asynq_queue_latency_seconds", "Age of the oldest pending task.", q, nil),
		processed:  prometheus.NewDesc("asynq_tasks_processed_today", "Tasks processed today (UTC), successful or not.", q, nil),
		failed:     prometheus.NewDesc("asynq_tasks_failed_today", "Task attempts that failed today (UTC).", q, nil),
		paused:     prometheus.NewDesc("asynq_queue_paused", "1 if the queue is paused.", q, nil),
		scrapeErr:  prometheus.NewDesc("lifecycle_queue_scrape_error", "1 if asynq queue state could not be read (Redis unreachable).", nil, nil),
		xSize:      prometheus.NewDesc("asynq_queue_size", "Number of tasks in a queue", q, nil),
		xMemory:    prometheus.NewDesc("asynq_queue_memory_usage_approx_bytes", "Number of memory used by a given queue (approximated number by sampling)", q, nil),
		xProcessed: prometheus.NewDesc("asynq_tasks_processed_total", "Number of tasks processed (both succeeded and failed); broken down by queue", q, nil),
		xFailed:    prometheus.NewDesc("asynq_tasks_failed_total", "Number of tasks failed; broken down by queue", q, nil),
		xPaused:    prometheus.NewDesc("asynq_queue_paused_total", "Number of queues paused", q, nil),
	}
}

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.size, c.latency, c.processed, c.failed, c.paused, c.scrapeErr, c.xSize, c.xMemory, c.xProcessed, c.xFailed, c.xPaused} {
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
		ch <- prometheus.MustNewConstMetric(c.xSize, prometheus.GaugeValue, float64(info.Size), name)
		ch <- prometheus.MustNewConstMetric(c.xMemory, prometheus.GaugeValue, float64(info.MemoryUsage), name)
		ch <- prometheus.MustNewConstMetric(c.xProcessed, prometheus.CounterValue, float64(info.ProcessedTotal), name)
		ch <- prometheus.MustNewConstMetric(c.xFailed, prometheus.CounterValue, float64(info.FailedTotal), name)
		ch <- prometheus.MustNewConstMetric(c.xPaused, prometheus.GaugeValue, paused, name)
	}
	if err != nil {
		failed = 1
	}
	ch <- prometheus.MustNewConstMetric(c.scrapeErr, prometheus.GaugeValue, failed)
}
