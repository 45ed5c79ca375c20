package round

import (
	"math"
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/headroomhq/headroom/limiter"
	"github.com/headroomhq/headroom/limiter/applier"
)

type metrics struct {
	rounds    *prometheus.CounterVec
	duration  prometheus.Histogram
	decisions *prometheus.CounterVec
	writes    *prometheus.CounterVec
	events    *prometheus.CounterVec
	problems  prometheus.Counter
	quota     *gaugeSet
	planned   *gaugeSet
	demand    *gaugeSet
	borrowed  *gaugeSet
	lent      *gaugeSet
	share     *gaugeSet
	reserved  *gaugeSet
	throttled *prometheus.CounterVec

	collectors *delegate
}

func newMetrics(r prometheus.Registerer) *metrics {
	proj := []string{"group", "project", "direction"}
	m := &metrics{
		rounds: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "headroom_rounds_total",
			Help: "Control rounds run, by outcome (ok, error)."}, []string{"outcome"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "headroom_round_duration_seconds",
			Help:    "Wall time of one control round: scrape, admin reads, detect, plan, write, record.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 12)}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "headroom_decisions_total",
			Help: "Limiter decisions by group, direction and reason."}, []string{"group", "direction", "reason"}),
		writes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "headroom_quota_writes_total",
			Help: "Planned quota changes by what became of them (written, unchanged, deferred, failed, refused, shadow). A change too small to be worth a write is never planned: headroom_decisions_total counts it with reason held_hysteresis."}, []string{"outcome"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "headroom_detector_events_total",
			Help: "Detector events by kind."}, []string{"kind"}),
		problems: prometheus.NewCounter(prometheus.CounterOpts{Name: "headroom_round_problems_total",
			Help: "Problems that did not stop a round (an unreadable placement, a failed quota read)."}),
		quota:    newGaugeSet("headroom_quota_bytes", "Quota in force after the round, bytes/s per broker.", proj),
		planned:  newGaugeSet("headroom_planned_quota_bytes", "Quota the limiter planned this round, bytes/s per broker.", proj),
		demand:   newGaugeSet("headroom_demand_bytes", "Estimated demand at the project's hottest broker, bytes/s.", proj),
		borrowed: newGaugeSet("headroom_borrowed_bytes", "Quota above the share, borrowed from lenders, bytes/s per broker.", proj),
		lent:     newGaugeSet("headroom_lent_bytes", "Unused share lent to borrowers, bytes/s per broker.", proj),
		share:    newGaugeSet("headroom_share_bytes", "The share (static entitlement) in force, bytes/s per broker.", proj),
		reserved: newGaugeSet("headroom_broker_reserved_bytes",
			"What a broker keeps back for the cluster's exempt entities (traffic Headroom never throttles) before lending, bytes/s; only brokers that carry exempt traffic.",
			[]string{"group", "broker", "direction"}),
		throttled: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "headroom_throttled_bytes_total",
			Help: "The damage ledger: bytes throttled under Headroom's quotas (policy=\"headroom\") and bytes the static shares would have throttled (policy=\"static\"), estimated each round from served rates and throttle times."},
			[]string{"project", "direction", "policy"}),
		collectors: &delegate{},
	}
	// Every outcome is exported from the start, at zero, so that rules
	// see a first failure as an increase rather than a new series.
	for _, o := range []applier.Outcome{applier.Written, applier.Unchanged, applier.Deferred,
		applier.Failed, applier.Refused, applier.Shadow} {
		m.writes.WithLabelValues(string(o))
	}
	if r != nil {
		r.MustRegister(m.rounds, m.duration, m.decisions, m.writes, m.events, m.problems,
			m.quota.vec, m.planned.vec, m.demand.vec, m.borrowed.vec, m.lent.vec, m.share.vec, m.reserved.vec, m.throttled, m.collectors)
	}
	return m
}

// collectorRegisterer returns a registerer for a new collector generation:
// the collector registers its metrics on every rebuild, and the previous
// generation's are dropped.
func (m *metrics) collectorRegisterer() prometheus.Registerer {
	m.collectors.reset()
	return m.collectors
}

func (m *metrics) observe(o *Outcome, err error) {
	outcome := "ok"
	if err != nil {
		outcome = "error"
	}
	m.rounds.WithLabelValues(outcome).Inc()
	m.duration.Observe(o.Duration.Seconds())
	m.problems.Add(float64(len(o.Problems)))
	for _, e := range o.Events {
		m.events.WithLabelValues(string(e.Kind)).Inc()
	}
	for _, d := range o.Damage {
		m.throttled.WithLabelValues(d.Project, d.Direction, "headroom").Add(d.HeadroomBytes)
		m.throttled.WithLabelValues(d.Project, d.Direction, "static").Add(d.StaticBytes)
	}
	inForce := map[pdKey]float64{}
	for _, r := range o.Results {
		m.writes.WithLabelValues(string(r.Outcome)).Inc()
		if r.InForce > 0 && !math.IsInf(r.InForce, 0) {
			inForce[pdKey{r.Project, r.Direction}] = r.InForce
		}
	}
	for _, s := range []*gaugeSet{m.quota, m.planned, m.demand, m.borrowed, m.lent, m.share, m.reserved} {
		s.begin()
	}
	for _, p := range o.Plans {
		dir := p.Direction.String()
		for _, d := range p.Decisions {
			for _, r := range d.Reasons {
				m.decisions.WithLabelValues(p.Group, dir, string(r)).Inc()
			}
			q, ok := inForce[pdKey{d.Project, p.Direction}]
			if !ok {
				q = d.Before
			}
			if q > 0 && !math.IsNaN(q) {
				m.quota.set(q, p.Group, d.Project, dir)
			}
			m.planned.set(d.After, p.Group, d.Project, dir)
			m.demand.set(d.Demand, p.Group, d.Project, dir)
			m.share.set(d.Share, p.Group, d.Project, dir)
			m.borrowed.set(sumTransfers(d.BorrowedFrom), p.Group, d.Project, dir)
			m.lent.set(sumTransfers(d.LentTo), p.Group, d.Project, dir)
		}
		for _, b := range p.Brokers {
			if b.Reserved > 0 {
				m.reserved.set(b.Reserved, p.Group, strconv.Itoa(int(b.ID)), dir)
			}
		}
	}
	for _, s := range []*gaugeSet{m.quota, m.planned, m.demand, m.borrowed, m.lent, m.share, m.reserved} {
		s.end()
	}
}

func sumTransfers(ts []limiter.Transfer) float64 {
	var s float64
	for _, t := range ts {
		s += t.Bytes
	}
	return s
}

// gaugeSet is a gauge vector whose label sets not set in a round are
// deleted at its end, so that a removed project's series goes away.
type gaugeSet struct {
	vec       *prometheus.GaugeVec
	prev, cur map[[3]string]bool
}

func newGaugeSet(name, help string, labels []string) *gaugeSet {
	return &gaugeSet{vec: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels), prev: map[[3]string]bool{}}
}

func (g *gaugeSet) begin() { g.cur = map[[3]string]bool{} }

func (g *gaugeSet) set(v float64, group, project, dir string) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return
	}
	g.vec.WithLabelValues(group, project, dir).Set(v)
	g.cur[[3]string{group, project, dir}] = true
}

func (g *gaugeSet) end() {
	for k := range g.prev {
		if !g.cur[k] {
			g.vec.DeleteLabelValues(k[0], k[1], k[2])
		}
	}
	g.prev = g.cur
}

// delegate is an unchecked collector that collects the metrics of the
// current collector generation. It is also that generation's Registerer.
type delegate struct {
	mu sync.Mutex
	cs []prometheus.Collector
}

func (d *delegate) reset() {
	d.mu.Lock()
	d.cs = nil
	d.mu.Unlock()
}

// Describe implements prometheus.Collector; describing nothing makes the
// collector unchecked, as its metrics change with each generation.
func (d *delegate) Describe(chan<- *prometheus.Desc) {}

// Collect implements prometheus.Collector.
func (d *delegate) Collect(ch chan<- prometheus.Metric) {
	d.mu.Lock()
	cs := append([]prometheus.Collector(nil), d.cs...)
	d.mu.Unlock()
	for _, c := range cs {
		c.Collect(ch)
	}
}

// Register implements prometheus.Registerer.
func (d *delegate) Register(c prometheus.Collector) error {
	d.mu.Lock()
	d.cs = append(d.cs, c)
	d.mu.Unlock()
	return nil
}

// MustRegister implements prometheus.Registerer.
func (d *delegate) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		_ = d.Register(c)
	}
}

// Unregister implements prometheus.Registerer.
func (d *delegate) Unregister(c prometheus.Collector) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	for i, x := range d.cs {
		if x == c {
			d.cs = append(d.cs[:i], d.cs[i+1:]...)
			return true
		}
	}
	return false
}
