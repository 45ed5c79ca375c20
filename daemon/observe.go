package daemon

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

// observe builds what the alert rules look at from one round's outcome and
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
func observe(cfg *config.Config, own *collector.Ownership, o round.Outcome) alerting.Observation {
	obs := alerting.Observation{Time: o.Time}
	if len(cfg.Clusters) == 1 {
		obs.Cluster = cfg.Clusters[0].Name
	}
	groups := map[string]*config.GroupConfig{}
	for i := range cfg.ResourceGroups {
		groups[cfg.ResourceGroups[i].Name] = &cfg.ResourceGroups[i]
	}
	projectGroup := map[string]string{}
	for _, p := range cfg.Projects {
		projectGroup[p.Name] = p.Group
	}
	clusterOf := func(group string) string {
		if g := groups[group]; g != nil {
			return g.Cluster
		}
		return ""
	}

	// Where each project has traffic: cluster, broker, project, direction.
	type placeKey struct {
		cluster, broker, project string
		dir                      config.Direction
	}
	placed := map[placeKey]bool{}
	for _, pr := range o.Snapshot.Projects {
		if pr.Rate.OK() && pr.Rate.Value > 0 {
			placed[placeKey{pr.Cluster, pr.Broker, pr.Project, pr.Direction}] = true
		}
	}

	for _, plan := range o.Plans {
		cluster := clusterOf(plan.Group)
		dir := plan.Direction.String()
		onBroker := map[int32]float64{}
		for _, d := range plan.Decisions {
			if d.Has(limiter.ReasonHeldMissingData) || d.Has(limiter.ReasonHeldBadInput) || !(d.Demand > 0) {
				continue
			}
			served := d.Observed
			if !(d.ThrottleMs > 0) {
				served = max(served, d.Demand)
			}
			quota := d.After
			if o.Mode == config.ModeShadow {
				quota = d.Before
			}
			obs.Projects = append(obs.Projects, alerting.ProjectObservation{Cluster: cluster, Group: plan.Group, Project: d.Project,
				Direction: dir, Demand: d.Demand, Served: served, Quota: quota, Share: d.Share})
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
		var worst *alerting.GroupObservation
		for _, b := range plan.Brokers {
			if !(b.Safe > 0) {
				continue
			}
			g := alerting.GroupObservation{Cluster: cluster, Group: plan.Group, Direction: dir, Demand: onBroker[b.ID], SafeCapacity: b.Safe}
			if worst == nil || g.Demand/g.SafeCapacity > worst.Demand/worst.SafeCapacity {
				worst = &g
			}
		}
		if worst != nil {
			obs.Groups = append(obs.Groups, *worst)
		}
	}

	// Brokers: idle ratios, and served bytes against the plan's safe
	// capacity.
	stats := map[[2]string]collector.BrokerStats{}
	for _, bs := range o.Snapshot.Brokers {
		stats[[2]string{bs.Cluster, bs.Broker}] = bs
	}
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
				obs.Brokers = append(obs.Brokers, alerting.BrokerObservation{Cluster: g.Cluster, Group: g.Name, Broker: strconv.Itoa(int(br.ID)), Idle: idle})
			}
		}
	}
	for _, plan := range o.Plans {
		cluster := clusterOf(plan.Group)
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
			obs.Brokers = append(obs.Brokers, alerting.BrokerObservation{Cluster: cluster, Group: plan.Group, Broker: strconv.Itoa(int(b.ID)),
				Direction: plan.Direction.String(), Idle: 1, Served: v.Value, SafeCapacity: b.Safe})
		}
	}

	obs.Lag = lagObservations(o.Lag, own, func(project string) string { return clusterOf(projectGroup[project]) })

	// Targets, named by the broker they cover.
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
	for _, t := range o.Snapshot.Targets {
		w := targets[t.Target]
		obs.Targets = append(obs.Targets, alerting.TargetObservation{Cluster: w.cluster, Target: t.Target, Group: w.group, Broker: w.broker, Up: t.Up, Err: t.Error})
	}

	// Quota writes: a group fails when every write of the round failed.
	type tally struct {
		total, failed int
		err           string
	}
	writes := map[string]*tally{}
	for _, r := range o.Results {
		if r.Outcome == applier.Unchanged || r.Outcome == applier.Hysteresis || r.Outcome == applier.Shadow {
			continue
		}
		g := projectGroup[r.Project]
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
	for _, g := range slices.Sorted(maps.Keys(writes)) {
		t := writes[g]
		obs.Applies = append(obs.Applies, alerting.ApplyObservation{Cluster: clusterOf(g), Group: g, Failed: t.total > 0 && t.failed == t.total, Err: t.err})
	}
	return obs
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
