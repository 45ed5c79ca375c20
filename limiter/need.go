package limiter

import (
	"fmt"
	"math"
)

// projectInfo is what the need phase works out for one project; the fill
// phases read it.
type projectInfo struct {
	need, target, base, mid, rawTarget float64
	// hold is the highest rate a broker's quota window holds for the
	// project, and keep what of it the quota in force covers (at least
	// baseM): a cut below keep throttles the client however low its demand
	// is now.
	hold, keep float64
	// measured is the hottest broker's measured demand and baseM the base
	// it alone earns: reclaimed before any window hold.
	measured, baseM        float64
	floor, ceiling         float64
	hot                    int // index into Loads
	throttled, forecastSet bool
	held                   bool
	bad                    string
}

// need is phase 1: each project's decision is started and its need,
// target and bases worked out (projectNeed), and its memberships (one per
// broker it is placed on) are laid out flat, by project, with their owner.
func (a *allocator) need(s *State, plan *Plan, o Options) {
	nB, nP := len(s.Brokers), len(s.Projects)
	a.stamp = growInt(a.stamp, nB)
	a.infos = resize(a.infos, nP)
	a.pStart = growInt(a.pStart, nP+1)
	m := 0
	for i := range s.Projects {
		m += len(s.Projects[i].Loads)
	}
	a.mBroker, a.mCoef, a.owner = resize(a.mBroker, m), resize(a.mCoef, m), resize(a.owner, m)
	mBroker, mCoef, owner := a.mBroker, a.mCoef, a.owner
	start := 0
	for i := range s.Projects {
		p := &s.Projects[i]
		in := &a.infos[i]
		d := &plan.Decisions[i]
		*d = Decision{Project: p.Name, Before: p.Quota, Share: p.Share, Reasons: a.reasons[i*reasonsCap : i*reasonsCap : (i+1)*reasonsCap]}
		a.pStart[i] = start
		end := start + len(p.Loads)
		mb, mc, mo := mBroker[start:end], mCoef[start:end], owner[start:end]
		for k := range p.Loads {
			b := p.Loads[k].Broker
			if b < 0 || b >= nB {
				b = 0 // recorded as bad input by projectNeed; keep the index in range
			}
			mb[k], mc[k], mo[k] = b, 1, i
		}
		*in = projectNeed(s, i, o, a.stamp, a.brokerBad, d)
		// Overcommit: a project counts on each broker in proportion to
		// its expected load there relative to its hottest broker.
		if o.Overcommit && !in.held {
			var top float64
			for _, l := range p.Loads {
				top = max(top, max(l.Rate, l.Forecast))
			}
			if top > 0 {
				for k, l := range p.Loads {
					mc[k] = max(l.Rate, l.Forecast) / top
				}
			}
		}
		start = end
	}
	a.pStart[nP] = m
}

// projectNeed works out project i's need, target and bases, and fills in
// the decision's inputs (hot broker, demand, forecast, target) and, for a
// held project, why it is held. stamp is scratch of one int per broker;
// brokerBad marks brokers whose capacity is unusable.
func projectNeed(s *State, i int, o Options, stamp []int, brokerBad []bool, d *Decision) projectInfo {
	p := &s.Projects[i]
	in := projectInfo{floor: max(p.Floor, o.MinQuota), ceiling: p.Ceiling}
	in.bad = checkProject(p, len(s.Brokers), stamp, i+1)
	if in.bad == "" && in.ceiling < in.floor {
		in.bad = fmt.Sprintf("ceiling %g below floor %g", in.ceiling, in.floor)
	}
	if in.bad != "" {
		in.floor = max(o.MinQuota, finiteOr(p.Floor, 0))
		in.ceiling = math.Inf(1)
		if c := p.Ceiling; c >= in.floor && !math.IsInf(c, 0) {
			in.ceiling = c
		}
		in.held = true
		d.Reasons = append(d.Reasons, ReasonHeldBadInput)
		d.Note = "inconsistent input: " + in.bad + "; the last-good quota is kept"
	} else {
		hotRate, stale := -1.0, p.Stale
		for k, l := range p.Loads {
			dem := l.Rate
			if l.FromThrottle {
				in.throttled = true
			}
			in.hold = max(in.hold, l.Hold)
			m := l.Measured
			if !(m > 0) || m > dem {
				m = dem
			}
			in.measured = max(in.measured, m)
			if dem > hotRate {
				hotRate, in.hot = dem, k
			}
			in.need = max(in.need, dem)
			if l.Forecast > 0 {
				in.forecastSet = true
			}
			if s.Brokers[l.Broker].Stale || brokerBad[l.Broker] {
				stale = true
			}
			d.Forecast = max(d.Forecast, l.Forecast)
		}
		if stale {
			in.held = true
			d.Reasons = append(d.Reasons, ReasonHeldMissingData)
			d.Note = "signals are stale; the last-good quota is kept"
		}
		l := p.Loads[in.hot]
		d.HotBroker = s.Brokers[l.Broker].ID
		d.Observed, d.Rate, d.ThrottleMs = l.Observed, l.Rate, l.ThrottleMs
	}
	d.Demand = in.need
	// The forecast's bound, where there is one, sizes the spare above
	// demand: the detector measured the project's noise. The fixed
	// Headroom is the spare of a project without a forecast.
	if d.Forecast > 0 {
		in.rawTarget = max(in.need, d.Forecast)
	} else {
		in.rawTarget = in.need * (1 + o.Headroom)
	}
	in.target = min(max(in.rawTarget, in.floor), in.ceiling)
	// A lender's spare sits above the larger of its demand and the rate
	// its quota window holds: a round's dip below what the window
	// remembers is not a level to size on, and a quota cut to a dip plus
	// the spare is below the windowed rate once the dip ends.
	spared := func(demand float64) float64 {
		return max(min(max(demand, in.hold)*(1+o.LenderSpare), in.target, p.Share), in.floor)
	}
	in.base = min(spared(in.need), in.ceiling)
	in.mid = max(in.base, min(in.need, in.target))
	in.baseM = min(in.base, spared(in.measured))
	// keep is what the project's quota window holds, within the quota in
	// force, and at least the base its measured demand earns; never its
	// guessed base (a muted lender's whole share), which comes after every
	// window hold.
	if q := p.Quota; q > 0 && !math.IsInf(q, 0) {
		in.keep = min(max(min(in.hold, q), in.baseM), in.ceiling)
	} else {
		in.keep = in.baseM
	}
	d.Target = in.target
	return in
}

// checkProject returns what is inconsistent about p, or "".
// stamp[b] == mark means broker b was already seen for this project.
func checkProject(p *Project, nB int, stamp []int, mark int) string {
	bad := func(x float64) bool { return !(x >= 0 && x <= math.MaxFloat64) } // NaN, infinite or negative
	switch {
	case p.Name == "":
		return "project without a name"
	case bad(p.Share) || p.Share == 0:
		return fmt.Sprintf("share %g is not a positive number", p.Share)
	case bad(p.Floor):
		return fmt.Sprintf("floor %g is not a non-negative number", p.Floor)
	case math.IsNaN(p.Ceiling) || p.Ceiling <= 0:
		return fmt.Sprintf("ceiling %g is not a positive number", p.Ceiling)
	case math.IsNaN(p.Quota) || p.Quota < 0:
		return fmt.Sprintf("quota in force %g is not a non-negative number", p.Quota)
	case len(p.Loads) == 0:
		return "no placement: the project leads no known partitions"
	}
	for _, l := range p.Loads {
		switch {
		case l.Broker < 0 || l.Broker >= nB:
			return fmt.Sprintf("placement on unknown broker index %d", l.Broker)
		case stamp[l.Broker] == mark:
			return fmt.Sprintf("broker index %d placed twice", l.Broker)
		case bad(l.Rate):
			return fmt.Sprintf("demand %g on broker index %d is not a non-negative number", l.Rate, l.Broker)
		case bad(l.ThrottleMs):
			return fmt.Sprintf("throttle time %g on broker index %d is not a non-negative number", l.ThrottleMs, l.Broker)
		case bad(l.Forecast):
			return fmt.Sprintf("forecast %g on broker index %d is not a non-negative number", l.Forecast, l.Broker)
		case math.IsNaN(l.Observed) || l.Observed < 0:
			return fmt.Sprintf("observed rate %g on broker index %d is not a non-negative number", l.Observed, l.Broker)
		}
		stamp[l.Broker] = mark
	}
	return ""
}
