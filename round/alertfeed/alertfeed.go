// Package alertfeed turns one round's outcome into what the alert rules
// look at: it owns the translation from round.Outcome (plans, write
// results, the snapshot, lag) to alerting.Observation, and nothing else.
//
// It sits next to the round so that neither side knows the other: round
// must not import alerting and alerting must not import round; this
// package imports both. It must not import daemon, api or the simulations.
package alertfeed

import (
	"maps"
	"slices"
	"strconv"

	"github.com/headroomhq/headroom/alerting"
	"github.com/headroomhq/headroom/collector"
	"github.com/headroomhq/headroom/collector/kafkaadmin"
	"github.com/headroomhq/headroom/config"
	"github.com/headroomhq/headroom/limiter"
	"github.com/headroomhq/headroom/limiter/applier"
	"github.com/headroomhq/headroom/round"
)

// Observe builds what the alert rules look at from one round's outcome and
// the configuration it ran with. own maps topics to projects.
//
//   - Projects: each planned decision at the project's hottest broker:
//     demand is the limiter's estimate (throttle-corrected), served the raw
//     rate there, quota what the round gave it (what the cluster keeps in
//     shadow mode). A project Kafka did not throttle has nothing throttled,
//     whatever the estimate says. Decisions held for missing or bad data
//     are left out: CollectorTargetDown covers them.
//   - Groups: per group and direction, its most loaded broker: the sum of
//     the demands of the projects with traffic there, against its safe
//     capacity, as strict mode counts quotas (a project's per-broker quota
//     counts in full on every broker it is placed on).
//   - Brokers: each broker's lower idle ratio (one observation without a
//     direction) and its served bytes per direction against its safe
//     capacity.
//   - Lag, targets and quota writes as the round saw them.
func Observe(cfg *config.Config, own *collector.Ownership, o round.Outcome) alerting.Observation {
	ix := newIndex(cfg)
	obs := alerting.Observation{Time: o.Time}
	if len(cfg.Clusters) == 1 {
		obs.Cluster = cfg.Clusters[0].Name
	}
	placed := placements(o.Snapshot.Projects)
	for _, plan := range o.Plans {
		projects, worst := observePlan(ix, placed, plan, o.Mode)
		obs.Projects = append(obs.Projects, projects...)
		if worst != nil {
			obs.Groups = append(obs.Groups, *worst)
		}
	}
	stats := brokerStats(o.Snapshot.Brokers)
	obs.Brokers = append(idleObservations(cfg, stats), servedObservations(ix, stats, o.Plans)...)
	obs.Lag = lagObservations(o.Lag, own, ix.projectCluster)
	obs.Targets = targetObservations(cfg, o.Snapshot.Targets)
	obs.Applies = applyObservations(ix, o.Results)
	return obs
}

// index answers which cluster a group or a project is in, from the
// configuration.
type index struct {
	groups       map[string]*config.GroupConfig
	projectGroup map[string]string
}

func newIndex(cfg *config.Config) index {
	ix := index{groups: map[string]*config.GroupConfig{}, projectGroup: map[string]string{}}
	for i := range cfg.ResourceGroups {
		ix.groups[cfg.ResourceGroups[i].Name] = &cfg.ResourceGroups[i]
	}
	for _, p := range cfg.Projects {
		ix.projectGroup[p.Name] = p.Group
	}
	return ix
}

// cluster is the cluster of a group; "" for a group not configured.
func (ix index) cluster(group string) string {
	if g := ix.groups[group]; g != nil {
		return g.Cluster
	}
	return ""
}

// projectCluster is the cluster of a project's group.
func (ix index) projectCluster(project string) string { return ix.cluster(ix.projectGroup[project]) }

// placeKey is where a project has traffic: cluster, broker, project and
// direction.
type placeKey struct {
	cluster, broker, project string
	dir                      config.Direction
}

// placements lists where each project had fresh, non-zero traffic this
// round.
func placements(rates []collector.ProjectRate) map[placeKey]bool {
	placed := map[placeKey]bool{}
	for _, pr := range rates {
		if pr.Rate.OK() && pr.Rate.Value > 0 {
			placed[placeKey{pr.Cluster, pr.Broker, pr.Project, pr.Direction}] = true
		}
	}
	return placed
}

// observePlan observes one plan: a project observation for each decision
// worth one, and the group's most loaded broker (nil when no broker has a
// safe capacity).
func observePlan(ix index, placed map[placeKey]bool, plan limiter.Plan, mode string) ([]alerting.ProjectObservation, *alerting.GroupObservation) {
	cluster := ix.cluster(plan.Group)
	var projects []alerting.ProjectObservation
	onBroker := map[int32]float64{}
	for _, d := range plan.Decisions {
		p, ok := projectObservation(d, mode)
		if !ok {
			continue
		}
		p.Cluster, p.Group, p.Direction = cluster, plan.Group, plan.Direction.String()
		projects = append(projects, p)
		addDemand(onBroker, placed, cluster, plan, d)
	}
	return projects, worstBroker(cluster, plan, onBroker)
}

// projectObservation is what the rules see of one decision, without its
// place (cluster, group, direction); ok is false for a decision held for
// missing or bad data, or without demand.
func projectObservation(d limiter.Decision, mode string) (alerting.ProjectObservation, bool) {
	if d.Has(limiter.ReasonHeldMissingData) || d.Has(limiter.ReasonHeldBadInput) || !(d.Demand > 0) {
		return alerting.ProjectObservation{}, false
	}
	served := d.Observed
	if !(d.ThrottleMs > 0) {
		served = max(served, d.Demand)
	}
	quota := d.After
	if mode == config.ModeShadow {
		quota = d.Before
	}
	return alerting.ProjectObservation{Project: d.Project, Demand: d.Demand, Served: served, Quota: quota, Share: d.Share}, true
}

// addDemand counts a decision's demand in full on every broker of the plan
// where its project had traffic, or on its hottest broker when it had
// traffic on none.
func addDemand(onBroker map[int32]float64, placed map[placeKey]bool, cluster string, plan limiter.Plan, d limiter.Decision) {
	found := false
	for _, b := range plan.Brokers {
		if placed[placeKey{cluster, strconv.Itoa(int(b.ID)), d.Project, plan.Direction}] {
			onBroker[b.ID] += d.Demand
			found = true
		}
	}
	if !found {
		onBroker[d.HotBroker] += d.Demand
	}
}

// worstBroker is the plan's broker with the highest demand against its
// safe capacity; nil when no broker has one.
func worstBroker(cluster string, plan limiter.Plan, onBroker map[int32]float64) *alerting.GroupObservation {
	var worst *alerting.GroupObservation
	for _, b := range plan.Brokers {
		if !(b.Safe > 0) {
			continue
		}
		g := alerting.GroupObservation{Cluster: cluster, Group: plan.Group, Direction: plan.Direction.String(), Demand: onBroker[b.ID], SafeCapacity: b.Safe}
		if worst == nil || g.Demand/g.SafeCapacity > worst.Demand/worst.SafeCapacity {
			worst = &g
		}
	}
	return worst
}

// brokerStats indexes the snapshot's broker figures by cluster and broker.
func brokerStats(bs []collector.BrokerStats) map[[2]string]collector.BrokerStats {
	stats := make(map[[2]string]collector.BrokerStats, len(bs))
	for _, b := range bs {
		stats[[2]string{b.Cluster, b.Broker}] = b
	}
	return stats
}

// idleObservations is, for each configured broker with a fresh idle
// figure, the lower of its network processor and request handler idle
// ratios, in one observation without a direction.
func idleObservations(cfg *config.Config, stats map[[2]string]collector.BrokerStats) []alerting.BrokerObservation {
	var out []alerting.BrokerObservation
	for _, g := range cfg.ResourceGroups {
		for _, br := range g.Brokers {
			bs, ok := stats[[2]string{g.Cluster, strconv.Itoa(int(br.ID))}]
			if !ok {
				continue
			}
			idle, fresh := 1.0, false
			for _, v := range []collector.Value{bs.NetworkProcessorIdle, bs.RequestHandlerIdle} {
				if v.State == collector.Fresh {
					idle, fresh = min(idle, v.Value), true
				}
			}
			if fresh {
				out = append(out, alerting.BrokerObservation{Cluster: g.Cluster, Group: g.Name, Broker: strconv.Itoa(int(br.ID)), Idle: idle})
			}
		}
	}
	return out
}

// servedObservations is, for each planned broker and direction with a
// fresh figure, the bytes it served against the plan's safe capacity.
func servedObservations(ix index, stats map[[2]string]collector.BrokerStats, plans []limiter.Plan) []alerting.BrokerObservation {
	var out []alerting.BrokerObservation
	for _, plan := range plans {
		cluster := ix.cluster(plan.Group)
		for _, b := range plan.Brokers {
			bs, ok := stats[[2]string{cluster, strconv.Itoa(int(b.ID))}]
			if !ok {
				continue
			}
			v := bs.BytesIn
			if plan.Direction == config.Fetch {
				v = bs.BytesOut
			}
			if v.State != collector.Fresh {
				continue
			}
			out = append(out, alerting.BrokerObservation{Cluster: cluster, Group: plan.Group, Broker: strconv.Itoa(int(b.ID)),
				Direction: plan.Direction.String(), Idle: 1, Served: v.Value, SafeCapacity: b.Safe})
		}
	}
	return out
}

// lagObservations turns the admin API's lag, folded per consumer group and
// topic, into the rules' observations.
func lagObservations(lags []kafkaadmin.GroupLag, own *collector.Ownership, clusterOf func(project string) string) []alerting.LagObservation {
	topics := kafkaadmin.ByTopic(lags)
	out := make([]alerting.LagObservation, 0, len(topics))
	for _, l := range topics {
		project := ""
		if own != nil {
			project = own.TopicOwner(l.Topic)
		}
		out = append(out, alerting.LagObservation{Cluster: clusterOf(project), ConsumerGroup: l.Group, Topic: l.Topic, Project: project,
			Lag: l.Lag, Status: string(l.Status), Growing: l.Status != kafkaadmin.StatusOK})
	}
	return out
}

// targetObservations reports every scraped target, named by the broker it
// covers (its metrics or its host's).
func targetObservations(cfg *config.Config, ts []collector.TargetStatus) []alerting.TargetObservation {
	type where struct{ cluster, group, broker string }
	targets := map[string]where{}
	for _, g := range cfg.ResourceGroups {
		for _, br := range g.Brokers {
			w := where{g.Cluster, g.Name, strconv.Itoa(int(br.ID))}
			targets[br.MetricsURL] = w
			if br.HostMetricsURL != "" {
				targets[br.HostMetricsURL] = w
			}
		}
	}
	var out []alerting.TargetObservation
	for _, t := range ts {
		w := targets[t.Target]
		out = append(out, alerting.TargetObservation{Cluster: w.cluster, Target: t.Target, Group: w.group, Broker: w.broker, Up: t.Up, Err: t.Error})
	}
	return out
}

// applyObservations reports the round's quota writes per group, by name: a
// group fails when every write it attempted failed. Changes that needed no
// write (unchanged, shadow mode) are not attempts.
func applyObservations(ix index, results []applier.Result) []alerting.ApplyObservation {
	type tally struct {
		total, failed int
		err           string
	}
	writes := map[string]*tally{}
	for _, r := range results {
		if r.Outcome == applier.Unchanged || r.Outcome == applier.Shadow {
			continue
		}
		g := ix.projectGroup[r.Project]
		t := writes[g]
		if t == nil {
			t = &tally{}
			writes[g] = t
		}
		t.total++
		if r.Outcome == applier.Failed {
			t.failed++
			if t.err == "" && r.Err != nil {
				t.err = r.Err.Error()
			}
		}
	}
	var out []alerting.ApplyObservation
	for _, g := range slices.Sorted(maps.Keys(writes)) {
		t := writes[g]
		out = append(out, alerting.ApplyObservation{Cluster: ix.cluster(g), Group: g, Failed: t.total > 0 && t.failed == t.total, Err: t.err})
	}
	return out
}
