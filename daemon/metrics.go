package daemon

import (
	"context"
	"math"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/headroomhq/headroom/alerting"
	"github.com/headroomhq/headroom/collector/kafkaadmin"
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

// observationCollector exports the quantities the alert rules compare,
// from the newest round's observation, so that a Prometheus evaluating
// deploy/prometheus/rules sees what Headroom's own rules see:
//
//   - headroom_project_throttled_ratio{cluster,group,project,direction}
//   - headroom_group_utilization_ratio{cluster,group,direction}
//   - headroom_broker_load_ratio{cluster,group,broker,direction}
//   - headroom_broker_idle_ratio{cluster,group,broker}
//   - headroom_consumer_lag_status{cluster,consumer_group,topic,project}
//   - headroom_consumer_lag_messages{cluster,consumer_group,topic,project}
//
// An observation older than maxAge is not exported: a replica that stopped
// leading, or a round loop that stalled, must not keep a condition alive
// (its absence is HeadroomNoLeader's and HeadroomDown's to report).
type observationCollector struct {
	now    func() time.Time
	maxAge func() time.Duration

	mu  sync.Mutex
	obs *alerting.Observation

	throttled, utilization, load, idle, lagStatus, lag *prometheus.Desc
}

func newObservationCollector(now func() time.Time, maxAge func() time.Duration) *observationCollector {
	return &observationCollector{now: now, maxAge: maxAge,
		throttled: prometheus.NewDesc("headroom_project_throttled_ratio",
			"Share of the project's demand not let through at its hottest broker, (demand - min(served, quota)) / demand, in the last round.",
			[]string{"cluster", "group", "project", "direction"}, nil),
		utilization: prometheus.NewDesc("headroom_group_utilization_ratio",
			"Demand at the group's most loaded broker over its safe capacity (margin x capacity), in the last round.",
			[]string{"cluster", "group", "direction"}, nil),
		load: prometheus.NewDesc("headroom_broker_load_ratio",
			"Bytes a broker served over its safe capacity (margin x capacity), in the last round.",
			[]string{"cluster", "group", "broker", "direction"}, nil),
		idle: prometheus.NewDesc("headroom_broker_idle_ratio",
			"The lower of a broker's network processor and request handler idle ratios, in the last round.",
			[]string{"cluster", "group", "broker"}, nil),
		lagStatus: prometheus.NewDesc("headroom_consumer_lag_status",
			"Burrow-style status of a consumer group on a topic: 0 OK, 1 WARN (lag growing), 2 STALL, STOP or ERR.",
			[]string{"cluster", "consumer_group", "topic", "project"}, nil),
		lag: prometheus.NewDesc("headroom_consumer_lag_messages",
			"Messages a consumer group has yet to consume on a topic, in the last round.",
			[]string{"cluster", "consumer_group", "topic", "project"}, nil),
	}
}

// set keeps obs as the newest observation.
func (c *observationCollector) set(obs alerting.Observation) {
	c.mu.Lock()
	c.obs = &obs
	c.mu.Unlock()
}

// Describe implements prometheus.Collector.
func (c *observationCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.throttled, c.utilization, c.load, c.idle, c.lagStatus, c.lag} {
		ch <- d
	}
}

// lagStatusValue maps a Burrow-style status to the gauge's value.
func lagStatusValue(s string) float64 {
	switch kafkaadmin.Status(s) {
	case kafkaadmin.StatusOK:
		return 0
	case kafkaadmin.StatusWarn:
		return 1
	default:
		return 2
	}
}

// Collect implements prometheus.Collector.
func (c *observationCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	obs := c.obs
	c.mu.Unlock()
	if obs == nil || c.now().Sub(obs.Time) > c.maxAge() {
		return
	}
	cluster := func(s string) string {
		if s != "" {
			return s
		}
		return obs.Cluster
	}
	emit := func(d *prometheus.Desc, v float64, labels ...string) {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
		}
	}
	for _, p := range obs.Projects {
		if p.Demand > 0 {
			emit(c.throttled, p.ThrottledRatio(), cluster(p.Cluster), p.Group, p.Project, p.Direction)
		}
	}
	for _, g := range obs.Groups {
		emit(c.utilization, g.Utilization(), cluster(g.Cluster), g.Group, g.Direction)
	}
	for _, b := range obs.Brokers {
		if b.Direction == "" {
			emit(c.idle, b.Idle, cluster(b.Cluster), b.Group, b.Broker)
			continue
		}
		emit(c.load, b.Load(), cluster(b.Cluster), b.Group, b.Broker, b.Direction)
	}
	for _, l := range obs.Lag {
		emit(c.lagStatus, lagStatusValue(l.Status), cluster(l.Cluster), l.ConsumerGroup, l.Topic, l.Project)
		emit(c.lag, float64(l.Lag), cluster(l.Cluster), l.ConsumerGroup, l.Topic, l.Project)
	}
}
