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
	"github.com/headroomhq/headroom/overrides"
)

// builder turns one round's observations into limiter states.
type builder struct {
	loop *Loop
	cfg  *config.Config
	eff  overrides.Effective
	snap *collector.Snapshot
	// held is what each cluster holds: entity -> quota key -> bytes/s.
	held map[string]map[applier.Entity]map[string]float64
	sk   *control.Skeleton

	rates    map[rateKey]collector.Value
	throttle map[rateKey]float64
	up       map[string]bool // target URL -> scraped this round
	groups   map[string]*config.GroupConfig
}

type rateKey struct {
	cluster, broker, project string
	dir                      limiter.Direction
}

type pdKey struct {
	project string
	dir     limiter.Direction
}

// brokerEstimate is a project's demand estimate on one broker it leads
// partitions on.
type brokerEstimate struct {
	id         int32
	index      int // in the group's State.Brokers
	partitions int
	observed   float64
	throttleMs float64
	estimate   float64
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
}

func dirOf(d collector.Direction) limiter.Direction {
	if d == collector.Fetch {
		return limiter.Fetch
	}
	return limiter.Produce
}

func (b *builder) index() {
	b.rates = map[rateKey]collector.Value{}
	b.throttle = map[rateKey]float64{}
	b.up = map[string]bool{}
	b.groups = map[string]*config.GroupConfig{}
	for i := range b.cfg.ResourceGroups {
		b.groups[b.cfg.ResourceGroups[i].Name] = &b.cfg.ResourceGroups[i]
	}
	for _, pr := range b.snap.Projects {
		b.rates[rateKey{pr.Cluster, pr.Broker, pr.Project, dirOf(pr.Direction)}] = pr.Rate
	}
	for _, th := range b.snap.Throttles {
		if th.Project == "" || th.ThrottleMs.State != collector.Fresh {
			continue
		}
		k := rateKey{th.Cluster, th.Broker, th.Project, dirOf(th.Direction)}
		b.throttle[k] = max(b.throttle[k], th.ThrottleMs.Value)
	}
	for _, t := range b.snap.Targets {
		b.up[t.Target] = t.Up
	}
}

// quotaHeld is the quota the cluster holds for a project, or 0 when none
// is known.
func (b *builder) quotaHeld(cluster string, p config.ProjectConfig, d limiter.Direction) float64 {
	q := b.held[cluster][applier.Entity{User: p.Entity.User, ClientID: p.Entity.ClientID}]
	if v, ok := q[applier.KeyFor(d)]; ok && v > 0 {
		return v
	}
	return 0
}

// estimates computes every project's demand estimate per broker from the
// served rate, the throttle time and the quota in force.
func (b *builder) estimates() map[pdKey]*projectEstimate {
	window := time.Duration(b.cfg.Limiter.ThrottleWindow).Seconds() * 1000
	if window <= 0 {
		window = float64(limiter.DefaultThrottleWindow.Milliseconds())
	}
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
			dir := limiter.Direction(d)
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
				be.estimate = throttledDemand(be.observed, be.throttleMs, pe.quota, pe.share, window)
				if !be.fresh {
					pe.fresh = false
				}
				pe.total += be.estimate
				pe.loads = append(pe.loads, be)
			}
			out[pdKey{p.Name, dir}] = pe
		}
	}
	return out
}

// throttledDemand estimates a project's demand on one broker from its
// served rate, the throttle time Kafka reports and its quota there.
//
// Kafka's formula solved for demand, quota × (1 + throttle/window), holds
// at the onset of throttling. Once a client is muted it sends at about its
// quota, so the windowed rate, and with it each request's throttle time,
// stays just above the quota however much more the client wants. So a
// muted client is credited with "at least the share" if it is a lender
// below its share, which is then returned in full, and with "at least
// ProbeStep more" if it is a borrower, so that a sustained surge grows its
// quota geometrically until throttling stops.
//
// A client that merely grazed its quota is not muted: one burst crossed the
// quota, and Kafka's throttle-time average keeps saying so for a whole
// window while the served rate is back well below the quota. Its throttle
// time is small and its served rate is under (1 − GrazeSlack) × quota; it
// is credited with Kafka's formula only. Treating a graze as a comeback
// would hand a lender its whole share back and cut, in the same round, the
// borrower that was using it.
func throttledDemand(observed, throttleMs, quota, share, windowMs float64) float64 {
	est := observed
	if quota <= 0 || throttleMs <= 0 {
		return est
	}
	est = max(est, quota*(1+throttleMs/windowMs))
	if throttleMs/windowMs < GrazeThrottle && observed < (1-GrazeSlack)*quota {
		return est
	}
	est = max(est, quota*(1+ProbeStep))
	if quota < share {
		est = max(est, share)
	}
	return est
}

// states fills the skeleton's states with this round's signals.
func (b *builder) states(est map[pdKey]*projectEstimate, sig detector.Signals) []*limiter.State {
	upper, expected := map[pdKey]float64{}, map[pdKey]float64{}
	for _, f := range sig.Forecasts {
		k := pdKey{f.Project, limiterDir(f.Direction)}
		upper[k], expected[k] = f.Upper, f.Expected
	}
	seen := make(map[loadKey]bool, len(b.loop.above))
	for _, s := range b.sk.States {
		g := b.groups[s.Group]
		for i, br := range g.Brokers {
			s.Brokers[i].Stale = !b.up[br.MetricsURL]
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
			var parts int
			for _, be := range pe.loads {
				parts += be.partitions
			}
			for _, be := range pe.loads {
				f := float64(be.partitions) / float64(parts)
				if pe.total > 0 {
					f = be.estimate / pe.total
				}
				// The upper bound widens with past volatility; it sizes
				// room for a rise, never more than ForecastSpread above
				// what is expected or seen now.
				fc := min(upper[k], max(expected[k], pe.total)*(1+ForecastSpread)) * f
				load := limiter.Load{Broker: be.index, Observed: be.observed, Rate: be.estimate, ThrottleMs: be.throttleMs,
					Forecast: fc}
				// Trust the estimate at once up to the share or the
				// forecast's bound; above both, only once confirmed.
				bound := max(lp.Share, load.Forecast)
				ak := loadKey{lp.Name, s.Direction, be.id}
				seen[ak] = true
				// Throttling is Kafka's own evidence, averaged over its
				// quota window, that the client wants more: it needs no
				// confirming.
				if be.estimate > bound && be.throttleMs == 0 {
					b.loop.above[ak]++
				} else {
					delete(b.loop.above, ak)
				}
				if b.loop.above[ak] > 0 && b.loop.above[ak] < ConfirmRounds {
					load.Rate = min(load.Rate, bound) // unthrottled, so the rate is the served rate
				}
				lp.Loads = append(lp.Loads, load)
			}
		}
	}
	// Forget loads that no longer exist (a project removed, a partition
	// moved), so that the counter does not grow with churn.
	for k := range b.loop.above {
		if !seen[k] {
			delete(b.loop.above, k)
		}
	}
	return b.sk.States
}

func limiterDir(d detector.Direction) limiter.Direction {
	if d == detector.Fetch {
		return limiter.Fetch
	}
	return limiter.Produce
}

func detectorDir(d limiter.Direction) detector.Direction {
	if d == limiter.Fetch {
		return detector.Fetch
	}
	return detector.Produce
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
		in.Traffic = append(in.Traffic, detector.TrafficSample{Project: k.project, Direction: detectorDir(k.dir), Rate: pe.total})
		var worst float64
		for _, be := range pe.loads {
			worst = max(worst, be.throttleMs)
		}
		in.Throttle = append(in.Throttle, detector.ThrottleSample{Project: k.project, Direction: detectorDir(k.dir),
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
