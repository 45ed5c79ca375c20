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
//
// The live round (package round) also credits a client muted by its quota
// (a lender below its share with its whole share, a borrower with ProbeStep
// more than its quota), because a muted Kafka client's throttle time stays
// small however much more it wants. The simulator computes throttle time
// from the demand offered, so quota × (1 + throttle/window) is exact here
// and those rules would only hand out capacity nobody asked for; they are
// left out. The round's other two rules, Confirm and Spread, are kept.
//
// headroomParams tune the adapter and the limiter's options.
type headroomParams struct {
	Hysteresis, Spare, LenderSpare float64
	// AlphaUp and AlphaDown weigh a new estimate in the mean when it is
	// above or below it: the mean follows a rise quickly and a fall
	// slowly, so noise does not release quota. AlphaVar weighs the
	// variance.
	AlphaUp, AlphaDown, AlphaVar float64
	// Sigmas is k in the forecast's upper bound, mean + k·σ.
	Sigmas float64
	// Confirm and Spread are the live round's rules (package round's
	// ConfirmRounds and ForecastSpread): an estimate above both the share
	// and the forecast's bound counts only once seen Confirm rounds in a
	// row, and the bound sizes a project by at most Spread above the
	// larger of its mean and its current estimate.
	Confirm int
	Spread  float64
}

var defaultHeadroomParams = headroomParams{
	Hysteresis:  0.05,
	Spare:       0.10,
	LenderSpare: 0.10,
	AlphaUp:     0.5,
	AlphaDown:   0.1,
	AlphaVar:    0.1,
	Sigmas:      3.0,
	Confirm:     2,
	Spread:      0.5,
}

func init() {
	Register("headroom",
		"Headroom's limiter: weighted max-min borrowing up to the forecast's upper bound, reclaim within one round, "+
			"strict per-broker safety, hysteresis; demand estimated from throttle time.",
		func(g *Group) (Policy, error) { return newHeadroomPolicy(g, defaultHeadroomParams) })
}

type headroomPolicy struct {
	g     *Group
	par   headroomParams
	state limiter.State
	// mean and variance of the demand estimate, per project and placement
	// entry; seen is false until the first observation.
	mean, vari [][]float64
	seen       bool
	dem        []float64
	above      [][]int
}

func newHeadroomPolicy(g *Group, par headroomParams) (*headroomPolicy, error) {
	if g.Brokers < 1 {
		return nil, fmt.Errorf("headroom policy: group %s has no brokers", g.Scenario)
	}
	p := &headroomPolicy{g: g, par: par}
	dir := limiter.Produce
	if g.Direction != 0 {
		dir = limiter.Fetch
	}
	p.state = limiter.State{
		Group:     g.Scenario,
		Direction: dir,
		Margin:    1, // Capacity below is already margin × capacity
		Options: limiter.Options{
			Hysteresis:     par.Hysteresis,
			Headroom:       par.Spare,
			LenderSpare:    par.LenderSpare,
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
	p.above = make([][]int, len(g.Projects))
	for i, pr := range g.Projects {
		p.above[i] = make([]int, len(pr.Placement))
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
		window := p.g.ThrottleWindow.Seconds() * 1000
		for k := range lp.Loads {
			est := p.dem[k]
			th := float64(o.Throttle[k].Milliseconds())
			m, v := &p.mean[i][k], &p.vari[i][k]
			if !p.seen {
				*m, *v = est, 0
			} else {
				dev := est - *m
				al := p.par.AlphaDown
				if dev > 0 {
					al = p.par.AlphaUp
				}
				*m += al * dev
				*v = (1 - p.par.AlphaVar) * (*v + p.par.AlphaVar*dev*dev)
			}
			l := &lp.Loads[k]
			l.Observed = o.Rate[k]
			l.Rate = *m
			l.ThrottleMs = th
			l.Forecast = *m + p.par.Sigmas*math.Sqrt(*v)
			if p.par.Spread > 0 {
				l.Forecast = min(l.Forecast, max(*m, est)*(1+p.par.Spread))
			}
			if p.par.Confirm > 1 {
				bound := max(lp.Share, l.Forecast)
				if est > bound {
					p.above[i][k]++
				} else {
					p.above[i][k] = 0
				}
				if a := p.above[i][k]; a > 0 && a < p.par.Confirm {
					l.Rate = min(l.Rate, bound)
					if o.Quota > 0 && th > 0 && o.Quota*(1+th/window) > bound {
						l.ThrottleMs = max(0, (bound/o.Quota-1)*window)
					}
				}
			}
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
