package daemon

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/headroomhq/headroom/alerting"
	"github.com/headroomhq/headroom/store"
)

// incidentStates are the alert lifecycle's states, each exported even
// when no incident is in it.
var incidentStates = []string{alerting.StateDetected, alerting.StateFiring, alerting.StateAcknowledged,
	alerting.StateHandling, alerting.StateResolved, alerting.StateEscalated}

// alertsCollector exports headroom_alerts{state}: the incidents in each
// lifecycle state, read from the store at scrape time.
type alertsCollector struct {
	db   *store.DB
	desc *prometheus.Desc
}

func newAlertsCollector(db *store.DB) *alertsCollector {
	return &alertsCollector{db: db, desc: prometheus.NewDesc("headroom_alerts",
		"Alert incidents by lifecycle state (detected, firing, acknowledged, handling, resolved, escalated).", []string{"state"}, nil)}
}

// Describe implements prometheus.Collector.
func (c *alertsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect implements prometheus.Collector. When the store cannot be read,
// the metric is left out of the scrape rather than reported as zero.
func (c *alertsCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	counts, err := c.db.IncidentCounts(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.desc, err)
		return
	}
	for _, s := range incidentStates {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(counts[s]), s)
	}
}
