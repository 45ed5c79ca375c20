package alerting

import (
	"context"
	"fmt"
	"math"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/headroomhq/headroom/alerting/notifier"
	"github.com/headroomhq/headroom/config"
)

// Alert names Headroom raises itself.
const (
	AlertProjectThrottled    = "ProjectThrottled"
	AlertGroupSaturated      = "GroupSaturated"
	AlertBrokerOverloaded    = "BrokerOverloaded"
	AlertConsumerLagGrowing  = "ConsumerLagGrowing"
	AlertCollectorTargetDown = "CollectorTargetDown"
	AlertQuotaApplyFailing   = "QuotaApplyFailing"
)

// Observation is one round of what the rules look at: the detector's view
// (throttling, lag status, idle ratios, target health) and the limiter's
// state after its round (demand, quota, capacity, apply results). The
// wiring builds it; this package imports neither the detector nor the
// limiter.
//
// Cluster labels every alert; an item whose own Cluster is set uses that
// instead, so that one Observation covers every cluster of a round (the
// rules must see the whole round at once: a condition missing from an
// evaluation stops holding).
type Observation struct {
	Time     time.Time
	Cluster  string
	Projects []ProjectObservation
	Groups   []GroupObservation
	Brokers  []BrokerObservation
	Lag      []LagObservation
	Targets  []TargetObservation
	Applies  []ApplyObservation
}

// ProjectObservation is one project and direction after the limiter's
// round. Demand is the detector's estimate of true demand (under
// throttling, quota × (1 + throttle/window)); Served what the cluster let
// through; Quota what the limiter gave it, borrowing included. The
// throttled share is (Demand − min(Served, Quota)) / Demand.
type ProjectObservation struct {
	Cluster                   string
	Group, Project, Direction string
	Demand, Served, Quota     float64
	// Share is the static entitlement, to say how much was borrowed.
	Share float64
}

// ThrottledRatio is the share of demand not let through: (Demand −
// min(Served, Quota)) / Demand, 0 without demand. Throttling lets through
// at most the quota; a served rate above it is the lag of Kafka's quota
// window, not service.
func (p ProjectObservation) ThrottledRatio() float64 {
	if !(p.Demand > 0) {
		return 0
	}
	allowed := p.Served
	if p.Quota > 0 && allowed > p.Quota {
		allowed = p.Quota
	}
	return max(0, p.Demand-allowed) / p.Demand
}

// GroupObservation is one resource group and direction: total demand
// against the group's safe capacity (margin × capacity × brokers).
type GroupObservation struct {
	Cluster              string
	Group, Direction     string
	Demand, SafeCapacity float64
}

// Utilization is Demand / SafeCapacity, NaN without a safe capacity.
func (g GroupObservation) Utilization() float64 {
	return ofSafeCapacity(g.Demand, g.SafeCapacity)
}

// BrokerObservation is one broker: its lower idle ratio (network processor
// or request handler) and served bytes against its safe capacity.
type BrokerObservation struct {
	Cluster                  string
	Group, Broker, Direction string
	Idle                     float64
	Served, SafeCapacity     float64
}

// Load is Served / SafeCapacity, NaN without a safe capacity (the
// observation of the idle ratio alone).
func (b BrokerObservation) Load() float64 {
	return ofSafeCapacity(b.Served, b.SafeCapacity)
}

// ofSafeCapacity is x as a fraction of a safe capacity, NaN when there is
// none (zero, negative or NaN): such an observation has no load to judge.
func ofSafeCapacity(x, safeCapacity float64) float64 {
	if !(safeCapacity > 0) {
		return math.NaN()
	}
	return x / safeCapacity
}

// LagObservation is one consumer group's Burrow-style status on a topic.
// Growing is true for WARN, ERR, STALL and STOP.
type LagObservation struct {
	Cluster                               string
	ConsumerGroup, Topic, Project, Status string
	Growing                               bool
	Lag                                   int64
}

// TargetObservation is one scrape target's health.
type TargetObservation struct {
	Cluster               string
	Target, Group, Broker string
	Up                    bool
	Err                   string
}

// ApplyObservation is the outcome of the limiter's quota writes for one
// group this round.
type ApplyObservation struct {
	Cluster string
	Group   string
	Failed  bool // every write of the round failed
	Err     string
}

// RuleOptions are the thresholds and durations of the rules. The zero
// value of a field takes its default from DefaultRuleOptions.
type RuleOptions struct {
	// ExternalURL is where Headroom serves its API; alerts' generatorURL
	// points at the explanation there.
	ExternalURL string
	// DashboardURL prefixes the dashboard paths in annotations (Grafana).
	DashboardURL string
	// RunbookURL is the runbook document; the alert name is its anchor.
	RunbookURL string

	// ThrottledRatio: ProjectThrottled when more than this share of
	// demand is throttled (default 0.05) for ThrottledFor (default 1m).
	ThrottledRatio float64
	ThrottledFor   time.Duration
	// SaturatedRatio: GroupSaturated when demand exceeds this share of
	// safe capacity (default 0.95) for SaturatedFor (default 5m).
	SaturatedRatio float64
	SaturatedFor   time.Duration
	// OverloadIdle: BrokerOverloaded when the idle ratio is under this
	// (default 0.1) or served bytes exceed safe capacity, for OverloadFor
	// (default 2m).
	OverloadIdle float64
	OverloadFor  time.Duration
	// LagFor: ConsumerLagGrowing after this long growing (default 5m).
	LagFor time.Duration
	// TargetDownFor: CollectorTargetDown after this long down (default 1m).
	TargetDownFor time.Duration
	// ApplyFailingFor: QuotaApplyFailing after this long failing (default 5m).
	ApplyFailingFor time.Duration
}

// DefaultRuleOptions returns the defaults of RuleOptions.
func DefaultRuleOptions() RuleOptions {
	c := config.DefaultConfig()
	return RuleOptionsFrom(&c)
}

func (o RuleOptions) withDefaults() RuleOptions {
	d := DefaultRuleOptions()
	set := func(v *float64, def float64) {
		if *v <= 0 {
			*v = def
		}
	}
	setD := func(v *time.Duration, def time.Duration) {
		if *v <= 0 {
			*v = def
		}
	}
	if o.ExternalURL == "" {
		o.ExternalURL = d.ExternalURL
	}
	if o.RunbookURL == "" {
		o.RunbookURL = d.RunbookURL
	}
	set(&o.ThrottledRatio, d.ThrottledRatio)
	set(&o.SaturatedRatio, d.SaturatedRatio)
	set(&o.OverloadIdle, d.OverloadIdle)
	setD(&o.ThrottledFor, d.ThrottledFor)
	setD(&o.SaturatedFor, d.SaturatedFor)
	setD(&o.OverloadFor, d.OverloadFor)
	setD(&o.LagFor, d.LagFor)
	setD(&o.TargetDownFor, d.TargetDownFor)
	setD(&o.ApplyFailingFor, d.ApplyFailingFor)
	o.ExternalURL = strings.TrimRight(o.ExternalURL, "/")
	o.DashboardURL = strings.TrimRight(o.DashboardURL, "/")
	return o
}

// Rules evaluates the alert rules every round, Prometheus-style: a
// condition becomes a firing alert once it has held for the rule's
// duration, and stops firing the first round it no longer holds. It also
// answers Conditions for verification: whether an alert's condition held
// at the last evaluation. It is safe for concurrent use.
type Rules struct {
	opts RuleOptions

	mu      sync.Mutex
	since   map[string]time.Time // identity -> first round the condition held
	holding map[string]bool      // identity -> held at the last evaluation
}

// NewRules returns the rules with opts (defaults filled in).
func NewRules(opts RuleOptions) *Rules {
	return &Rules{opts: opts.withDefaults(), since: map[string]time.Time{}, holding: map[string]bool{}}
}

// SetOptions swaps the thresholds (on reload). What has held since when is
// kept, so a reload neither restarts nor skips a rule's duration.
func (r *Rules) SetOptions(opts RuleOptions) {
	opts = opts.withDefaults()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.opts = opts
}

// RuleOptionsFrom maps the configuration's alerting.rules,
// alerting.runbook_url, alerting.dashboard_url and global.external_url onto
// RuleOptions.
func RuleOptionsFrom(c *config.Config) RuleOptions {
	r := c.Alerting.Rules
	return RuleOptions{
		ExternalURL:     c.Global.ExternalURL,
		DashboardURL:    c.Alerting.DashboardURL,
		RunbookURL:      c.Alerting.RunbookURL,
		ThrottledRatio:  r.ThrottledRatio,
		ThrottledFor:    time.Duration(r.ThrottledFor),
		SaturatedRatio:  r.SaturatedRatio,
		SaturatedFor:    time.Duration(r.SaturatedFor),
		OverloadIdle:    r.OverloadIdle,
		OverloadFor:     time.Duration(r.OverloadFor),
		LagFor:          time.Duration(r.LagFor),
		TargetDownFor:   time.Duration(r.TargetDownFor),
		ApplyFailingFor: time.Duration(r.ApplyFailingFor),
	}
}

// candidate is a condition that holds this round.
type candidate struct {
	alert notifier.Alert
	dur   time.Duration
}

// Evaluate runs the rules over one round and returns the alerts firing
// now. Feed them to a notifier.Keeper, which refreshes and resolves them.
func (r *Rules) Evaluate(obs Observation) []notifier.Alert {
	r.mu.Lock()
	o := r.opts
	r.mu.Unlock()
	e := &evaluation{obs: obs, o: o, at: obs.Time.UTC().Format(time.RFC3339)}
	e.projectsThrottled()
	e.groupsSaturated()
	e.brokersOverloaded()
	e.lagGrowing()
	e.targetsDown()
	e.appliesFailing()
	return r.fire(obs.Time, e.cands)
}

// evaluation is one round of Evaluate: each rule adds a candidate for
// every condition that holds now.
type evaluation struct {
	obs   Observation
	o     RuleOptions
	at    string // the round's time, RFC 3339, for links
	cands []candidate
}

// cluster is c, or the observation's cluster when c is empty.
func (e *evaluation) cluster(c string) string {
	if c != "" {
		return c
	}
	return e.obs.Cluster
}

// add records a condition that holds: its alert's labels (empty ones
// dropped), annotations and links, and how long it must hold to fire.
func (e *evaluation) add(dur time.Duration, labels map[string]string, summary, description, dashboard, generator string) {
	o := e.o
	if labels["cluster"] == "" {
		labels["cluster"] = e.obs.Cluster
	}
	for k, v := range labels {
		if v == "" {
			delete(labels, k)
		}
	}
	ann := map[string]string{
		"summary":     summary,
		"description": description,
		"runbook_url": o.RunbookURL + "#" + strings.ToLower(labels["alertname"]),
	}
	if dashboard != "" {
		ann["dashboard"] = o.DashboardURL + dashboard
	}
	e.cands = append(e.cands, candidate{dur: dur, alert: notifier.Alert{
		Labels: labels, Annotations: ann, GeneratorURL: o.ExternalURL + generator,
	}})
}

func (e *evaluation) projectsThrottled() {
	o := e.o
	for _, p := range e.obs.Projects {
		if p.Demand <= 0 {
			continue
		}
		ratio := p.ThrottledRatio()
		if ratio <= o.ThrottledRatio {
			continue
		}
		q := url.Values{"project": {p.Project}, "direction": {p.Direction}, "at": {e.at}}
		e.add(o.ThrottledFor,
			map[string]string{"alertname": AlertProjectThrottled, "cluster": p.Cluster, "group": p.Group, "project": p.Project, "direction": p.Direction, "severity": "warning"},
			fmt.Sprintf("Project %s is throttled on %s", p.Project, e.cluster(p.Cluster)),
			fmt.Sprintf("%s (%s) has %.0f%% of its demand throttled (demand %s, served %s, quota %s of which %s borrowed) in group %s.",
				p.Project, p.Direction, 100*ratio, rate(p.Demand), rate(p.Served), rate(p.Quota), rate(max(0, p.Quota-p.Share)), p.Group),
			"/d/headroom-throttling", "/api/v1/explain?"+q.Encode())
	}
}

func (e *evaluation) groupsSaturated() {
	o := e.o
	for _, g := range e.obs.Groups {
		if !(g.Utilization() > o.SaturatedRatio) {
			continue
		}
		e.add(o.SaturatedFor,
			map[string]string{"alertname": AlertGroupSaturated, "cluster": g.Cluster, "group": g.Group, "direction": g.Direction, "severity": "warning"},
			fmt.Sprintf("Resource group %s has no headroom left", g.Group),
			fmt.Sprintf("Demand in %s (%s) is %s, %.0f%% of its safe capacity %s: nothing is left to lend.",
				g.Group, g.Direction, rate(g.Demand), 100*g.Demand/g.SafeCapacity, rate(g.SafeCapacity)),
			"/d/headroom-quotas", "/api/v1/groups/"+url.PathEscape(g.Group))
	}
}

func (e *evaluation) brokersOverloaded() {
	o := e.o
	for _, b := range e.obs.Brokers {
		over := b.Load() > 1
		if !over && !(b.Idle < o.OverloadIdle) {
			continue
		}
		e.add(o.OverloadFor,
			map[string]string{"alertname": AlertBrokerOverloaded, "cluster": b.Cluster, "group": b.Group, "broker": b.Broker, "direction": b.Direction, "severity": "critical"},
			fmt.Sprintf("Broker %s is overloaded", b.Broker),
			fmt.Sprintf("Broker %s in %s serves %s (%s) against a safe capacity of %s; idle ratio %.2f.",
				b.Broker, b.Group, rate(b.Served), b.Direction, rate(b.SafeCapacity), b.Idle),
			"/d/headroom-overview", "/api/v1/groups/"+url.PathEscape(b.Group))
	}
}

func (e *evaluation) lagGrowing() {
	o := e.o
	for _, l := range e.obs.Lag {
		if !l.Growing {
			continue
		}
		gen := "/api/v1/alerts?state=firing"
		if l.Project != "" {
			gen = "/api/v1/projects/" + url.PathEscape(l.Project)
		}
		e.add(o.LagFor,
			map[string]string{"alertname": AlertConsumerLagGrowing, "cluster": l.Cluster, "consumer_group": l.ConsumerGroup, "topic": l.Topic, "project": l.Project, "severity": "warning"},
			fmt.Sprintf("Consumer group %s is falling behind on %s", l.ConsumerGroup, l.Topic),
			fmt.Sprintf("Lag of %s on %s is %d messages, status %s, for at least %s.", l.ConsumerGroup, l.Topic, l.Lag, l.Status, o.LagFor),
			"/d/headroom-overview", gen)
	}
}

func (e *evaluation) targetsDown() {
	for _, t := range e.obs.Targets {
		if t.Up {
			continue
		}
		desc := fmt.Sprintf("Scrapes of %s fail (%s); the quotas of the brokers it covers are held at their last good value.", t.Target, t.Err)
		e.add(e.o.TargetDownFor,
			map[string]string{"alertname": AlertCollectorTargetDown, "cluster": t.Cluster, "target": t.Target, "group": t.Group, "broker": t.Broker, "severity": "warning"},
			"Headroom cannot scrape "+t.Target, desc, "/d/headroom-overview", "/api/v1/alerts?state=firing")
	}
}

func (e *evaluation) appliesFailing() {
	o := e.o
	for _, a := range e.obs.Applies {
		if !a.Failed {
			continue
		}
		e.add(o.ApplyFailingFor,
			map[string]string{"alertname": AlertQuotaApplyFailing, "cluster": a.Cluster, "group": a.Group, "severity": "critical"},
			"Headroom cannot write quotas to "+e.cluster(a.Cluster),
			fmt.Sprintf("Every quota write for group %s has failed for %s (%s); the cluster keeps its last quotas.", a.Group, o.ApplyFailingFor, a.Err),
			"/d/headroom-alerts", "/api/v1/quotas")
	}
}

// fire keeps, for each condition that holds at now, the first round it
// held, and returns those that have held for their rule's duration, in
// identity order. A condition that no longer holds starts over.
func (r *Rules) fire(now time.Time, cands []candidate) []notifier.Alert {
	r.mu.Lock()
	defer r.mu.Unlock()
	holding := make(map[string]bool, len(cands))
	var out []notifier.Alert
	for _, c := range cands {
		id := identity(c.alert.Labels)
		holding[id] = true
		first, ok := r.since[id]
		if !ok {
			first = now
			r.since[id] = first
		}
		if now.Sub(first) >= c.dur {
			c.alert.StartsAt = first
			out = append(out, c.alert)
		}
	}
	for id := range r.since {
		if !holding[id] {
			delete(r.since, id)
		}
	}
	r.holding = holding
	sort.Slice(out, func(i, j int) bool { return identity(out[i].Labels) < identity(out[j].Labels) })
	return out
}

// Active implements Conditions: whether the condition of the alert with
// these labels held at the last evaluation. Severity is not part of the
// identity, so an escalated copy is verified against the same condition.
func (r *Rules) Active(_ context.Context, alertName string, labels map[string]string) (bool, error) {
	l := make(map[string]string, len(labels)+1)
	for k, v := range labels {
		l[k] = v
	}
	l["alertname"] = alertName
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.holding[identity(l)], nil
}

// identity is a label set without severity, in a canonical order.
func identity(labels map[string]string) string {
	keys := make([]string, 0, len(labels))
	for k, v := range labels {
		if k != "severity" && v != "" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(labels[k])
		b.WriteByte(0)
	}
	return b.String()
}

// rate formats bytes/s in binary units.
func rate(v float64) string {
	units := []string{"B/s", "KiB/s", "MiB/s", "GiB/s", "TiB/s"}
	i := 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	return fmt.Sprintf("%.3g%s", v, units[i])
}
