package round

import (
	"sort"
	"time"

	"github.com/headroomhq/headroom/collector"
	"github.com/headroomhq/headroom/collector/kafkaadmin"
	"github.com/headroomhq/headroom/config"
	"github.com/headroomhq/headroom/detector"
	"github.com/headroomhq/headroom/limiter"
	"github.com/headroomhq/headroom/limiter/applier"
	"github.com/headroomhq/headroom/limiter/control"
	"github.com/headroomhq/headroom/limiter/demand"
	"github.com/headroomhq/headroom/limiter/overrides"
	"github.com/headroomhq/headroom/store"
)

// builder turns one round's observations into limiter states.
type builder struct {
	loop *Loop
	cfg  *config.Config
	eff  overrides.Effective
	snap *collector.Snapshot
	// held is what each cluster holds: entity -> quota key -> bytes/s.
	held map[string]map[config.Entity]map[string]float64
	sk   *control.Skeleton

	rates    map[rateKey]collector.Value
	throttle map[rateKey]float64
	reserve  map[rateKey]float64 // exempt entities' bytes, no project
	up       map[string]bool     // target URL -> scraped this round
	groups   map[string]*config.GroupConfig
}

type rateKey struct {
	cluster, broker, project string
	dir                      config.Direction
}

type pdKey struct {
	project string
	dir     config.Direction
}

// brokerEstimate is a project's demand estimate on one broker it leads
// partitions on.
type brokerEstimate struct {
	id         int32
	index      int // in the group's State.Brokers
	partitions int
	observed   float64
	throttleMs float64
	fresh      bool
}

type projectEstimate struct {
	group, cluster string
	quota          float64
	share          float64
	loads          []brokerEstimate
	fresh          bool
	total          float64
	// placed is false when the cluster's placement was never read.
	placed bool
	// in is the demand stage's input and est its estimates, per load.
	in  demand.Input
	est []demand.Estimate
}

func (b *builder) index() {
	b.rates = map[rateKey]collector.Value{}
	b.throttle = map[rateKey]float64{}
	b.reserve = b.loop.exempt.reserves(b.snap)
	b.up = map[string]bool{}
	b.groups = map[string]*config.GroupConfig{}
	for i := range b.cfg.ResourceGroups {
		b.groups[b.cfg.ResourceGroups[i].Name] = &b.cfg.ResourceGroups[i]
	}
	for _, pr := range b.snap.Projects {
		b.rates[rateKey{pr.Cluster, pr.Broker, pr.Project, pr.Direction}] = pr.Rate
	}
	for _, th := range b.snap.Throttles {
		if th.Project == "" || th.ThrottleMs.State != collector.Fresh {
			continue
		}
		k := rateKey{th.Cluster, th.Broker, th.Project, th.Direction}
		b.throttle[k] = max(b.throttle[k], th.ThrottleMs.Value)
	}
	for _, t := range b.snap.Targets {
		b.up[t.Target] = t.Up
	}
}

// quotaHeld is the quota the cluster holds for a project, or 0 when none
// is known.
func (b *builder) quotaHeld(cluster string, p config.ProjectConfig, d config.Direction) float64 {
	q := b.held[cluster][config.Entity{User: p.Entity.User, ClientID: p.Entity.ClientID}]
	if v, ok := q[applier.KeyFor(d)]; ok && v > 0 {
		return v
	}
	return 0
}

// estimates computes every project's demand estimate per broker from the
// served rate, the throttle time and the quota in force.
func (b *builder) estimates() map[pdKey]*projectEstimate {
	dp := demandParams(b.cfg)
	out := map[pdKey]*projectEstimate{}
	for _, p := range b.cfg.Projects {
		g := b.groups[p.Group]
		if g == nil {
			continue
		}
		c := b.loop.conns[g.Cluster]
		// Partitions the project leads per broker of its group.
		parts := map[int32]int{}
		if c != nil && c.ok {
			for id, tps := range c.placement.Leaders {
				for _, tp := range tps {
					if b.loop.own.TopicOwner(tp.Topic) == p.Name {
						parts[id]++
					}
				}
			}
		}
		brokerIdx := b.sk.BrokerIndex[g.Name]
		for d, q := range []config.QuotaConfig{p.Produce, p.Fetch} {
			dir := config.Direction(d)
			pe := &projectEstimate{group: g.Name, cluster: g.Cluster, share: float64(q.Share), fresh: true,
				placed: c != nil && c.ok, quota: b.quotaHeld(g.Cluster, p, dir)}
			for _, br := range g.Brokers {
				n := parts[br.ID]
				if n == 0 {
					continue
				}
				k := rateKey{g.Cluster, brokerID(br.ID), p.Name, dir}
				v, seen := b.rates[k]
				be := brokerEstimate{id: br.ID, index: brokerIdx[br.ID], partitions: n, observed: v.Value,
					throttleMs: b.throttle[k], fresh: seen && v.State == collector.Fresh && b.up[br.MetricsURL]}
				if !be.fresh {
					pe.fresh = false
				}
				pe.loads = append(pe.loads, be)
				pe.in.Loads = append(pe.in.Loads, demand.Observed{Broker: be.index, Weight: float64(n), Served: be.observed, ThrottleMs: be.throttleMs})
			}
			pe.in.Quota, pe.in.Share = pe.quota, pe.share
			pe.est = make([]demand.Estimate, len(pe.in.Loads))
			pe.total = dp.Estimates(&pe.in, pe.est)
			out[pdKey{p.Name, dir}] = pe
		}
	}
	return out
}

// demandParams is the demand stage's rules with the configured window and
// round.
func demandParams(c *config.Config) demand.Params {
	p := demand.DefaultParams()
	if w := time.Duration(c.Limiter.ThrottleWindow); w > 0 {
		p.Window = w
	}
	p.Round = time.Duration(c.Global.RoundInterval)
	return p
}

// damage is the round's damage ledger over seconds: per project and
// direction whose data is fresh, the demand stage's estimate of the bytes
// throttled under the quota in force and under the static share.
func (b *builder) damage(est map[pdKey]*projectEstimate, now time.Time, seconds float64) []store.DamageEntry {
	dp := demandParams(b.cfg)
	keys := make([]pdKey, 0, len(est))
	for k, pe := range est {
		if pe.fresh && len(pe.loads) > 0 {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].project != keys[j].project {
			return keys[i].project < keys[j].project
		}
		return keys[i].dir < keys[j].dir
	})
	out := make([]store.DamageEntry, 0, len(keys))
	for _, k := range keys {
		d := dp.Damage(&est[k].in, seconds)
		out = append(out, store.DamageEntry{At: now, Project: k.project, Direction: k.dir.String(), HeadroomBytes: d.Headroom, StaticBytes: d.Static})
	}
	return out
}

// states fills the skeleton's states with this round's signals.
func (b *builder) states(est map[pdKey]*projectEstimate, sig detector.Signals) []*limiter.State {
	upper, expected := map[pdKey]float64{}, map[pdKey]float64{}
	for _, f := range sig.Forecasts {
		k := pdKey{f.Project, f.Direction}
		upper[k], expected[k] = f.Upper, f.Expected
	}
	dp := demandParams(b.cfg)
	seen := make(map[memKey]bool, len(b.loop.memory))
	for _, s := range b.sk.States {
		g := b.groups[s.Group]
		for i, br := range g.Brokers {
			s.Brokers[i].Stale = !b.up[br.MetricsURL]
			s.Brokers[i].Reserved = b.reserved(g.Cluster, br.ID, s.Direction)
		}
		for i := range s.Projects {
			lp := &s.Projects[i]
			k := pdKey{lp.Name, s.Direction}
			pe := est[k]
			if pe == nil {
				continue
			}
			lp.Quota = pe.quota
			if pin, ok := b.eff.Pins[lp.Name][s.Direction.String()]; ok {
				lp.Share, lp.Floor, lp.Ceiling = pin, pin, pin
				// A pin is an operator's exact value (a revert to shares,
				// say): written as it is, however close the quota in
				// force (which the controller may know better than the
				// cluster's answer of this round).
				s.Options.Hysteresis = 0
			}
			lp.Stale = !pe.fresh
			pe.in.Expected, pe.in.Upper = expected[k], upper[k]
			mk := memKey{lp.Name, s.Direction}
			seen[mk] = true
			m := b.loop.memory[mk]
			if m == nil || !samePlacement(m.brokers, pe.loads) {
				m = &loadMemory{}
				for _, be := range pe.loads {
					m.brokers = append(m.brokers, be.id)
				}
				b.loop.memory[mk] = m
			}
			lp.Loads = dp.Loads(&m.mem, &pe.in, pe.est, lp.Loads[:0])
		}
	}
	// Forget projects that no longer exist, so that the memory does not
	// grow with churn.
	for k := range b.loop.memory {
		if !seen[k] {
			delete(b.loop.memory, k)
		}
	}
	return b.sk.States
}

// memKey names a project's demand-stage memory in one direction.
type memKey struct {
	project string
	dir     config.Direction
}

// loadMemory is a project's demand-stage memory with the brokers it was
// built for: a moved partition starts it afresh.
type loadMemory struct {
	brokers []int32
	mem     demand.Memory
}

func samePlacement(ids []int32, loads []brokerEstimate) bool {
	if len(ids) != len(loads) {
		return false
	}
	for k, be := range loads {
		if ids[k] != be.id {
			return false
		}
	}
	return true
}

// detectorInput adapts the round's observations to the detector's input:
// traffic is the demand estimate summed over a project's brokers (only when
// every one of them is fresh), throttle the worst broker's throttle time.
func detectorInput(now time.Time, snap *collector.Snapshot, est map[pdKey]*projectEstimate, lags []kafkaadmin.GroupLag) detector.Input {
	in := detector.Input{Time: now}
	keys := make([]pdKey, 0, len(est))
	for k := range est {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].project != keys[j].project {
			return keys[i].project < keys[j].project
		}
		return keys[i].dir < keys[j].dir
	})
	for _, k := range keys {
		pe := est[k]
		if len(pe.loads) == 0 || !pe.fresh {
			continue
		}
		in.Traffic = append(in.Traffic, detector.TrafficSample{Project: k.project, Direction: k.dir, Rate: pe.total})
		var worst float64
		for _, be := range pe.loads {
			worst = max(worst, be.throttleMs)
		}
		in.Throttle = append(in.Throttle, detector.ThrottleSample{Project: k.project, Direction: k.dir,
			Time: time.Duration(worst * float64(time.Millisecond))})
	}
	for _, bs := range snap.Brokers {
		if bs.NetworkProcessorIdle.State != collector.Fresh && bs.RequestHandlerIdle.State != collector.Fresh {
			continue
		}
		net, handler := 1.0, 1.0
		if bs.NetworkProcessorIdle.State == collector.Fresh {
			net = bs.NetworkProcessorIdle.Value
		}
		if bs.RequestHandlerIdle.State == collector.Fresh {
			handler = bs.RequestHandlerIdle.Value
		}
		in.Idle = append(in.Idle, detector.IdleSample{Broker: bs.Cluster + "/" + bs.Broker, NetworkIdle: net, RequestHandler: handler})
	}
	for _, t := range snap.Targets {
		in.Targets = append(in.Targets, detector.TargetSample{Target: t.Target, Up: t.Up, Err: t.Error})
	}
	for _, l := range kafkaadmin.ByTopic(lags) {
		in.Lag = append(in.Lag, detector.LagSample{Group: l.Group, Topic: l.Topic, Status: detector.LagStatus(l.Status), Lag: l.Lag})
	}
	return in
}
