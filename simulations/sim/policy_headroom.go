package sim

import (
	"fmt"
	"time"

	"github.com/headroomhq/headroom/config"
	"github.com/headroomhq/headroom/detector"
	"github.com/headroomhq/headroom/limiter"
	"github.com/headroomhq/headroom/limiter/demand"
)

// The headroom policy is the live round's policy: the same demand stage
// (limiter/demand), fed what Kafka shows, the same detector (one
// detector.Series per project, fed the project's summed demand estimate, as
// the daemon's Monitor is), and the same allocator (limiter.Allocate) in
// strict mode. Nothing here re-implements a rule; the adapter only turns an
// Observation into the stage's Input.

// HeadroomConfig is what the headroom policy runs with: the detector's
// parameters, the demand stage's rules and the allocator's options, as the
// daemon's configuration sets them.
type HeadroomConfig struct {
	Detector config.DetectorConfig
	Demand   demand.Params
	// Limiter's Hysteresis, Headroom, LenderSpare and MinQuota are used;
	// the throttle window comes from the group, Overcommit is never set.
	Limiter limiter.Options
}

// DefaultHeadroomConfig is the daemon's default configuration.
func DefaultHeadroomConfig() HeadroomConfig {
	c := config.DefaultConfig()
	return HeadroomConfig{
		Detector: c.Detector,
		Demand:   demand.DefaultParams(),
		Limiter: limiter.Options{
			Hysteresis:  c.Limiter.Hysteresis,
			Headroom:    c.Limiter.DemandHeadroom,
			LenderSpare: c.Limiter.LenderSpare,
			MinQuota:    float64(c.Limiter.MinQuota),
		},
	}
}

// HeadroomConfigFor is the live policy as a daemon's configuration sets it:
// the same detector parameters, demand-stage window and allocator options
// the daemon runs. What-if and the fidelity test use it, so that the
// simulator judges the policy the daemon would run.
func HeadroomConfigFor(cfg *config.Config) HeadroomConfig {
	hc := DefaultHeadroomConfig()
	hc.Detector = cfg.Detector
	hc.Demand = demand.DefaultParams()
	if w := time.Duration(cfg.Limiter.ThrottleWindow); w > 0 {
		hc.Demand.Window = w
	}
	hc.Limiter = limiter.Options{
		Hysteresis:  cfg.Limiter.Hysteresis,
		Headroom:    cfg.Limiter.DemandHeadroom,
		LenderSpare: cfg.Limiter.LenderSpare,
		MinQuota:    float64(cfg.Limiter.MinQuota),
	}
	return hc
}

func init() {
	Register("headroom",
		"Headroom's live policy: the demand stage and the detector feeding the limiter (weighted max-min borrowing up to the forecast's upper bound, "+
			"reclaim within one round, strict per-broker safety, hysteresis)",
		func(g *Group) (Policy, error) { return NewHeadroomPolicy(g, DefaultHeadroomConfig()) })
}

type headroomPolicy struct {
	g     *Group
	par   demand.Params
	state limiter.State
	det   []*detector.Series
	// exempt follows each broker's exempt traffic.
	exempt demand.Reserves[int]
	detCfg config.DetectorConfig
	mem    []demand.Memory
	in     []demand.Input
	est    [][]demand.Estimate
	start  time.Time
	// alloc plans with the scratch space of the previous round; each plan
	// is read before the next is made.
	alloc limiter.Allocator
}

// NewHeadroomPolicy returns the headroom policy for one group with the
// given configuration.
func NewHeadroomPolicy(g *Group, c HeadroomConfig) (Policy, error) {
	return newHeadroomPolicy(g, c)
}

func newHeadroomPolicy(g *Group, c HeadroomConfig) (*headroomPolicy, error) {
	if g.Brokers < 1 {
		return nil, fmt.Errorf("headroom policy: group %s has no brokers", g.Scenario)
	}
	p := &headroomPolicy{g: g, par: c.Demand, start: time.Unix(0, 0).UTC(), detCfg: c.Detector}
	p.par.Window, p.par.Round = g.ThrottleWindow, g.Round
	opts := c.Limiter
	opts.Overcommit = false
	opts.ThrottleWindow = g.ThrottleWindow
	if !(opts.MinQuota > 0) {
		opts.MinQuota = MinQuota
	}
	p.state = limiter.State{
		Group:     g.Scenario,
		Direction: g.Direction,
		Margin:    1, // Capacity below is already margin × capacity
		Options:   opts,
	}
	for b := range g.Brokers {
		p.state.Brokers = append(p.state.Brokers, limiter.Broker{ID: int32(b), Capacity: g.SafeCapacity})
	}
	n := len(g.Projects)
	p.det = make([]*detector.Series, n)
	p.mem = make([]demand.Memory, n)
	p.in = make([]demand.Input, n)
	p.est = make([][]demand.Estimate, n)
	for i, pr := range g.Projects {
		s, err := detector.NewSeries(c.Detector, detector.Options{NonNegative: true})
		if err != nil {
			return nil, fmt.Errorf("headroom policy: %w", err)
		}
		p.det[i] = s
		lp := limiter.Project{Name: pr.Name, Share: pr.Share, Floor: pr.Floor, Ceiling: pr.Ceiling, Weight: pr.Weight, Tier: limiter.ParseTier(pr.Tier)}
		lp.Loads = make([]limiter.Load, 0, len(pr.Placement))
		p.state.Projects = append(p.state.Projects, lp)
		p.in[i] = demand.Input{Share: pr.Share, Loads: make([]demand.Observed, len(pr.Placement))}
		for k, bw := range pr.Placement {
			p.in[i].Loads[k] = demand.Observed{Broker: bw.Broker, Weight: bw.Weight}
		}
		p.est[i] = make([]demand.Estimate, len(pr.Placement))
	}
	return p, nil
}

// Plan implements Policy.
func (p *headroomPolicy) Plan(obs *Observation, quotas []float64) error {
	if len(obs.Projects) != len(p.state.Projects) {
		return fmt.Errorf("headroom policy: %d observations for %d projects", len(obs.Projects), len(p.state.Projects))
	}
	// The detector's clock: the end of the round observed.
	at := p.start.Add(time.Duration(obs.Round+1) * p.g.Round)
	for i := range p.state.Projects {
		lp := &p.state.Projects[i]
		o := &obs.Projects[i]
		in := &p.in[i]
		if len(o.Rate) != len(in.Loads) {
			return fmt.Errorf("headroom policy: project %s: %d rates for %d brokers", lp.Name, len(o.Rate), len(in.Loads))
		}
		lp.Quota = o.Quota
		in.Quota = o.Quota
		for k := range in.Loads {
			in.Loads[k].Served = o.Rate[k]
			in.Loads[k].ThrottleMs = float64(o.Throttle[k]) / float64(time.Millisecond)
		}
		total := p.par.Estimates(in, p.est[i])
		r := p.det[i].Observe(at, total)
		in.Expected, in.Upper = r.Forecast, r.Upper
		lp.Loads = p.par.Loads(&p.mem[i], in, p.est[i], lp.Loads[:0])
	}
	p.reserve(at, obs.Exempt)
	plan := p.alloc.Allocate(&p.state)
	for i, d := range plan.Decisions {
		if d.Write {
			quotas[i] = d.After
		}
		p.state.Projects[i].Owed = d.Owed
	}
	return nil
}

// reserve sets each broker's reserve for the exempt traffic it reported,
// through the live round's rule (demand.Reserves) and a detector bound per
// broker.
func (p *headroomPolicy) reserve(at time.Time, exempt []float64) {
	if p.exempt.New == nil {
		p.exempt.New = func() (demand.UpperBound, error) { return detector.NewUpperBound(p.detCfg) }
	}
	for b, v := range exempt {
		p.state.Brokers[b].Reserved = p.exempt.Next(b, at, v)
	}
}
