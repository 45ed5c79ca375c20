package sim

import (
	"fmt"
	"math"

	"github.com/headroomhq/headroom/limiter"
)

// The headroom policy is Headroom's limiter (limiter.Allocate) in strict
// mode, fed what Kafka shows: served rates and throttle times per broker.
// The adapter plays the detector's part with the simplest robust stand-in:
// an exponentially weighted mean of each broker's demand estimate, quick to
// follow a rise and slow to follow a fall, as the denoised rate, and mean +
// k standard deviations as the forecast's upper bound.
const (
	headroomHysteresis  = 0.05
	headroomSpare       = 0.10
	headroomLenderSpare = 0.10
	headroomAlphaUp     = 0.5 // the mean follows a rise quickly...
	headroomAlphaDown   = 0.1 // ...and a fall slowly, so noise does not release quota
	headroomAlphaVar    = 0.1
	headroomSigmas      = 3.0
)

func init() {
	Register("headroom",
		"Headroom's limiter: weighted max-min borrowing up to the forecast's upper bound, reclaim within one round, "+
			"strict per-broker safety, hysteresis; demand estimated from throttle time.",
		newHeadroomPolicy)
}

type headroomPolicy struct {
	g     *Group
	state limiter.State
	// mean and variance of the demand estimate, per project and placement
	// entry; seen is false until the first observation.
	mean, vari [][]float64
	seen       bool
	dem        []float64
}

func newHeadroomPolicy(g *Group) (Policy, error) {
	if g.Brokers < 1 {
		return nil, fmt.Errorf("headroom policy: group %s has no brokers", g.Scenario)
	}
	p := &headroomPolicy{g: g}
	dir := limiter.Produce
	if g.Direction != 0 {
		dir = limiter.Fetch
	}
	p.state = limiter.State{
		Group:     g.Scenario,
		Direction: dir,
		Margin:    1, // Capacity below is already margin × capacity
		Options: limiter.Options{
			Hysteresis:     headroomHysteresis,
			Headroom:       headroomSpare,
			LenderSpare:    headroomLenderSpare,
			ThrottleWindow: g.ThrottleWindow,
			MinQuota:       MinQuota,
		},
	}
	for b := range g.Brokers {
		p.state.Brokers = append(p.state.Brokers, limiter.Broker{ID: int32(b), Capacity: g.SafeCapacity})
	}
	p.mean = make([][]float64, len(g.Projects))
	p.vari = make([][]float64, len(g.Projects))
	for i, pr := range g.Projects {
		lp := limiter.Project{Name: pr.Name, Share: pr.Share, Floor: pr.Floor, Ceiling: pr.Ceiling, Weight: pr.Weight}
		for _, bw := range pr.Placement {
			lp.Loads = append(lp.Loads, limiter.Load{Broker: bw.Broker})
		}
		p.state.Projects = append(p.state.Projects, lp)
		p.mean[i] = make([]float64, len(pr.Placement))
		p.vari[i] = make([]float64, len(pr.Placement))
	}
	return p, nil
}

// Plan implements Policy.
func (p *headroomPolicy) Plan(obs *Observation, quotas []float64) error {
	if len(obs.Projects) != len(p.state.Projects) {
		return fmt.Errorf("headroom policy: %d observations for %d projects", len(obs.Projects), len(p.state.Projects))
	}
	for i := range p.state.Projects {
		lp := &p.state.Projects[i]
		o := &obs.Projects[i]
		lp.Quota = o.Quota
		if len(p.dem) < len(o.Rate) {
			p.dem = make([]float64, len(o.Rate))
		}
		o.Demand(p.g.ThrottleWindow, p.dem[:len(o.Rate)])
		for k := range lp.Loads {
			est := p.dem[k]
			m, v := &p.mean[i][k], &p.vari[i][k]
			if !p.seen {
				*m, *v = est, 0
			} else {
				dev := est - *m
				al := headroomAlphaDown
				if dev > 0 {
					al = headroomAlphaUp
				}
				*m += al * dev
				*v = (1 - headroomAlphaVar) * (*v + headroomAlphaVar*dev*dev)
			}
			l := &lp.Loads[k]
			l.Observed = o.Rate[k]
			l.Rate = *m
			l.ThrottleMs = float64(o.Throttle[k].Milliseconds())
			l.Forecast = *m + headroomSigmas*math.Sqrt(*v)
		}
	}
	p.seen = true
	plan := limiter.Allocate(&p.state)
	for i, d := range plan.Decisions {
		if d.Write {
			quotas[i] = d.After
		}
	}
	return nil
}
