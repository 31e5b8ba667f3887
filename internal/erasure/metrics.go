package erasure

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// Days-left buckets of the open-requests gauge.
var daysLeftBuckets = []struct {
	label string
	below int // days left below this (and at or above the previous bucket's)
}{
	{"overdue", 1},
	{"under_7", AtRiskDays},
	{"7_to_13", 14},
	{"14_to_29", 30},
	{"30_plus", 1 << 30},
}

// collectTimeout bounds the Redis reads of one scrape.
const collectTimeout = 3 * time.Second

// atRiskLogEvery spaces the warning line of one at-risk request, so that a
// scrape every 15 s does not repeat it 240 times an hour.
const atRiskLogEvery = time.Hour

// Collector exports the deadline state of open requests at scrape time,
// and logs a warning for each request at risk (under AtRiskDays days left,
// or failed). Computing at scrape time needs no scheduler: whichever process
// is scraped reads the same Redis.
type Collector struct {
	store  *Store
	log    zerolog.Logger
	open   *prometheus.Desc
	atRisk *prometheus.Desc
	mu     sync.Mutex
	warned map[string]time.Time
}

// NewCollector returns the collector of store's requests.
func NewCollector(store *Store, log zerolog.Logger) *Collector {
	return &Collector{
		store: store, log: log, warned: map[string]time.Time{},
		open: prometheus.NewDesc("lifecycle_erasure_open_requests",
			"Open erasure requests by days left before their legal deadline.", []string{"days_left"}, nil),
		atRisk: prometheus.NewDesc("lifecycle_erasure_at_risk_requests",
			"Open erasure requests with under 7 days left or failed.", nil, nil),
	}
}

func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.open
	ch <- c.atRisk
}

func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), collectTimeout)
	defer cancel()
	recs, err := c.store.Open(ctx)
	if err != nil {
		c.log.Warn().Err(err).Msg("erasure metrics: cannot read open requests")
		ch <- prometheus.NewInvalidMetric(c.open, err)
		return
	}
	counts := make([]int, len(daysLeftBuckets))
	risk := 0
	now := c.store.Now()
	for _, r := range recs {
		if !r.State.Status.Open() {
			continue
		}
		for i, b := range daysLeftBuckets {
			if r.DaysLeft < b.below {
				counts[i]++
				break
			}
		}
		if r.AtRisk {
			risk++
			c.warn(r, now)
		}
	}
	for i, b := range daysLeftBuckets {
		ch <- prometheus.MustNewConstMetric(c.open, prometheus.GaugeValue, float64(counts[i]), b.label)
	}
	ch <- prometheus.MustNewConstMetric(c.atRisk, prometheus.GaugeValue, float64(risk))
}

func (c *Collector) warn(r Record, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if last, ok := c.warned[r.Request.ID]; ok && now.Sub(last) < atRiskLogEvery {
		return
	}
	c.warned[r.Request.ID] = now
	c.log.Warn().Str("request_id", r.Request.ID).Str("status", string(r.State.Status)).
		Int("days_left", r.DaysLeft).Time("due_at", r.DueAt).Int("failing_steps", len(r.State.Failing)).
		Msg("erasure request at risk of missing its legal deadline")
}
