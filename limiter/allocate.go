package limiter

import (
	"fmt"
	"math"
	"slices"
)

// maxTransfers bounds the lenders or borrowers named per decision; the rest
// is summed under Others.
const maxTransfers = 5

// Allocate plans one group's quotas in one direction. It is pure: the same
// state gives the same plan, and nothing outside the state is read.
//
// The algorithm, per round:
//  1. Each project's demand on each broker is its load's Rate, the demand
//     stage's estimate (limiter/demand owns the throttle formula and every
//     rule that corrects for Kafka's muting). Its need is the demand on its
//     hottest broker; its target is need × (1 + headroom) or the forecast's
//     upper bound, whichever is larger, within floor and ceiling. Projects
//     with stale or inconsistent data are held at their last-good quota.
//  2. Every other project starts at its floor. Capacity is water-filled,
//     weighted max-min, up to each project's base min(target, share):
//     lenders get back what they need before anyone borrows. The bases
//     fill in three steps: first what measured demand earns (Load.Measured),
//     then what each project's quota window holds (Load.Hold, within the
//     quota in force), then the rest of the bases (a muted lender's guessed
//     share). A borrower is cut below the rate Kafka's window remembers only
//     as far as a lender's measured demand needs, since such a cut
//     throttles it even when its demand is lower.
//  3. What is left is water-filled, weighted max-min, from the base up to
//     the target: the borrowing. Projects whose demand exceeds their base
//     are filled first, to their demand and then to their target; only
//     then do lenders take spare above their base. A quota costs capacity
//     on every broker the project is placed on, so the broker that fills
//     first stops it.
//  4. In strict mode, what no target claims is pooled: shared out in
//     proportion to each project's demand (times its weight), up to its
//     ceiling, as a reserve against the next round's noise. No capacity is
//     left unassigned; a quota is demand plus a common multiple of demand,
//     which for noise that scales with the level is where one quota per
//     project throttles least.
//  5. Hysteresis keeps the quota in force when the change is small and no
//     cut below demand is needed, as long as every broker still fits. With
//     hysteresis on, a change that only the pool makes (the project's own
//     claim is within the quota in force) is held however large: the pool
//     reshuffles with every round's demand, and a release is written only
//     when a broker needs the room.
func Allocate(s *State) Plan {
	var a allocator
	return a.allocate(s)
}

// allocator holds scratch space. The zero value is ready.
type allocator struct {
	safe, slack, rate []float64
	nActive           []int
	bStart, bIdx      []int // per broker: membership indexes (into flat p arrays)
	pStart            []int // per project: range in flat membership arrays
	mBroker           []int
	mCoef             []float64
	held, active      []bool
	list, stamp       []int
	q0, at, sat       []float64
	heap, hpos        []int
	// fillImpl replaces fill in tests that compare it with a reference.
	fillImpl   func(a *allocator, nP, nB int, owner []int)
	q, goal, w []float64
	limitedBy  []int
}

type projectInfo struct {
	need, target, base, mid, rawTarget float64
	// hold is the highest rate a broker's quota window holds for the
	// project, and keep what of it the quota in force covers: a cut below
	// keep throttles the client however low its demand is now.
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

func (a *allocator) allocate(s *State) Plan {
	o := s.Options.withDefaults()
	nB, nP := len(s.Brokers), len(s.Projects)
	plan := Plan{Group: s.Group, Direction: s.Direction, Decisions: make([]Decision, nP), Brokers: make([]BrokerLoad, nB)}

	margin := s.Margin
	if !(margin > 0 && margin <= 1) {
		margin = 1 // an invalid margin is a config error caught upstream; never hand out more than capacity
	}
	a.safe = grow(a.safe, nB)
	brokerBad := make([]bool, nB)
	for b, br := range s.Brokers {
		c := br.Capacity * margin
		if !(c >= 0) || math.IsInf(c, 0) {
			c, brokerBad[b] = 0, true
		}
		a.safe[b] = c
		plan.Brokers[b] = BrokerLoad{ID: br.ID, Safe: c}
	}

	a.stamp = growInt(a.stamp, nB)
	infos := make([]projectInfo, nP)
	nm := 0
	for i := range s.Projects {
		nm += len(s.Projects[i].Loads)
	}
	a.pStart = growInt(a.pStart, nP+1)
	a.mBroker = growInt(a.mBroker, nm)
	a.mCoef = grow(a.mCoef, nm)
	m := 0
	// One backing array for every decision's reasons: the plan is
	// allocated in a handful of pieces, not per project.
	const reasonsCap = 8
	reasons := make([]Reason, nP*reasonsCap)
	for i := range s.Projects {
		p := &s.Projects[i]
		in := &infos[i]
		d := &plan.Decisions[i]
		d.Project, d.Before, d.Share = p.Name, p.Quota, p.Share
		d.Reasons = reasons[i*reasonsCap : i*reasonsCap : (i+1)*reasonsCap]
		in.floor = max(p.Floor, o.MinQuota)
		in.ceiling = p.Ceiling
		in.bad = checkProject(p, nB, a.stamp, i+1)
		if in.bad == "" && in.ceiling < in.floor {
			in.bad = fmt.Sprintf("ceiling %g below floor %g", in.ceiling, in.floor)
		}
		if in.bad != "" {
			in.floor = max(o.MinQuota, finiteOr(p.Floor, 0))
			in.ceiling = math.Inf(1)
			if c := p.Ceiling; c >= in.floor && !math.IsInf(c, 0) {
				in.ceiling = c
			}
		}
		a.pStart[i] = m
		var hotRate float64 = -1
		for k, l := range p.Loads {
			b := l.Broker
			if b < 0 || b >= nB {
				b = 0 // recorded as bad input above; keep the index in range
			}
			a.mBroker[m], a.mCoef[m] = b, 1
			m++
			if in.bad != "" {
				continue
			}
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
		}
		if in.bad == "" {
			stale := p.Stale
			for _, l := range p.Loads {
				if s.Brokers[l.Broker].Stale || brokerBad[l.Broker] {
					stale = true
				}
			}
			if stale {
				in.held = true
				d.Reasons = append(d.Reasons, ReasonHeldMissingData)
				d.Note = "signals are stale; the last-good quota is kept"
			}
		} else {
			in.held = true
			d.Reasons = append(d.Reasons, ReasonHeldBadInput)
			d.Note = "inconsistent input: " + in.bad + "; the last-good quota is kept"
		}
		if len(p.Loads) > 0 && in.bad == "" {
			l := p.Loads[in.hot]
			d.HotBroker = s.Brokers[l.Broker].ID
			d.Observed, d.Rate, d.ThrottleMs = l.Observed, l.Rate, l.ThrottleMs
			for _, l := range p.Loads {
				d.Forecast = max(d.Forecast, l.Forecast)
			}
		}
		d.Demand = in.need
		in.rawTarget = max(in.need*(1+o.Headroom), d.Forecast)
		in.target = min(max(in.rawTarget, in.floor), in.ceiling)
		in.base = min(max(min(in.need*(1+o.LenderSpare), in.target, p.Share), in.floor), in.ceiling)
		in.mid = max(in.base, min(in.need, in.target))
		in.baseM = min(in.base, max(min(in.measured*(1+o.LenderSpare), in.target, p.Share), in.floor))
		if q := p.Quota; q > 0 && !math.IsInf(q, 0) {
			in.keep = min(max(min(in.hold, q), in.base), in.ceiling)
		} else {
			in.keep = in.base
		}
		d.Target = in.target
		// Overcommit: a project counts on each broker in proportion to
		// its expected load there relative to its hottest broker.
		if o.Overcommit && !in.held {
			var top float64
			for _, l := range p.Loads {
				top = max(top, max(l.Rate, l.Forecast))
			}
			if top > 0 {
				for k, l := range p.Loads {
					a.mCoef[a.pStart[i]+k] = max(l.Rate, l.Forecast) / top
				}
			}
		}
	}
	a.pStart[nP] = m

	// Broker → memberships.
	a.bStart = growInt(a.bStart, nB+1)
	clear(a.bStart)
	for j := 0; j < m; j++ {
		a.bStart[a.mBroker[j]+1]++
	}
	for b := 0; b < nB; b++ {
		a.bStart[b+1] += a.bStart[b]
	}
	a.bIdx = growInt(a.bIdx, m)
	fillPos := slices.Clone(a.bStart[:nB])
	for j := 0; j < m; j++ {
		b := a.mBroker[j]
		a.bIdx[fillPos[b]] = j
		fillPos[b]++
	}
	owner := make([]int, m)
	for i := 0; i < nP; i++ {
		for j := a.pStart[i]; j < a.pStart[i+1]; j++ {
			owner[j] = i
		}
	}

	// Held quotas.
	a.q = grow(a.q, nP)
	a.goal = grow(a.goal, nP)
	a.w = grow(a.w, nP)
	a.held = growBool(a.held, nP)
	for i := range s.Projects {
		p := &s.Projects[i]
		in := &infos[i]
		a.held[i] = in.held
		a.w[i] = p.Weight
		if !(a.w[i] > 0) || math.IsInf(a.w[i], 0) {
			a.w[i] = 1
		}
		if in.held {
			q := p.Quota
			if !(q > 0) || math.IsInf(q, 0) {
				// Nothing known to hold: count the share against the
				// brokers, write nothing.
				q = finiteOr(p.Share, in.floor)
				plan.Decisions[i].Reasons = append(plan.Decisions[i].Reasons, ReasonNoQuotaKnown)
			}
			a.q[i] = min(max(q, in.floor), in.ceiling)
		} else {
			a.q[i] = in.floor
		}
	}

	// Safety before anything else: where held quotas and the others' bases
	// do not fit, held borrowers go back to their share.
	for b := 0; b < nB; b++ {
		var used float64
		for _, j := range a.bIdx[a.bStart[b]:a.bStart[b+1]] {
			i := owner[j]
			if a.held[i] {
				used += a.q[i]
			} else {
				used += infos[i].base * a.mCoef[j]
			}
		}
		if used <= a.safe[b]*(1+1e-12) {
			continue
		}
		for _, j := range a.bIdx[a.bStart[b]:a.bStart[b+1]] {
			i := owner[j]
			if a.held[i] {
				if lim := max(infos[i].floor, min(s.Projects[i].Share, infos[i].ceiling)); a.q[i] > lim {
					a.q[i] = lim
					d := &plan.Decisions[i]
					if !d.Has(ReasonCutForSafety) {
						d.Reasons = append(d.Reasons, ReasonCutForSafety)
					}
				}
			}
		}
	}

	// Slack after held quotas and floors.
	a.slack = grow(a.slack, nB)
	for b := 0; b < nB; b++ {
		used := 0.0
		for _, j := range a.bIdx[a.bStart[b]:a.bStart[b+1]] {
			used += a.q[owner[j]] * a.mCoef[j]
		}
		a.slack[b] = a.safe[b] - used
		if a.slack[b] < -1e-9*max(1, a.safe[b]) {
			plan.Brokers[b].Infeasible = true
		}
	}

	// Level 1: floors up to bases, first the bases measured demand earns,
	// then the window holds, then the rest of the bases. Level 2: bases up
	// to targets.
	a.limitedBy = growInt(a.limitedBy, nP)
	for i := range a.limitedBy {
		a.limitedBy[i] = -1
	}
	for i := range infos {
		a.goal[i] = infos[i].baseM
	}
	a.fill(nP, nB, owner)
	// Level 1b: nobody is cut below what its quota window holds, once
	// every base measured demand earns (a lender's reclaim) is met; a
	// lender's guessed demand (muted: its whole share) comes after.
	for i := range infos {
		a.goal[i] = max(infos[i].baseM, infos[i].keep)
	}
	a.fill(nP, nB, owner)
	for i := range infos {
		a.goal[i] = max(infos[i].base, infos[i].keep)
	}
	a.fill(nP, nB, owner)
	for i := range infos {
		a.goal[i] = max(infos[i].keep, infos[i].mid)
	}
	a.fill(nP, nB, owner)
	// Borrowers (demand above their base) are filled to their targets
	// before a lender takes spare above its base: under contention what a
	// lender keeps beyond its base and LenderSpare would only sit unused
	// while a borrower is throttled.
	for i := range infos {
		a.goal[i] = max(infos[i].keep, infos[i].mid)
		if infos[i].need > infos[i].base {
			a.goal[i] = max(infos[i].keep, infos[i].target)
		}
	}
	a.fill(nP, nB, owner)
	for i := range infos {
		a.goal[i] = max(infos[i].keep, infos[i].target)
	}
	a.fill(nP, nB, owner)
	// Level 5, the pool: in strict mode what no target claims is shared out
	// in proportion to each project's demand (times its weight), up to its
	// ceiling, as a reserve against the noise of the next round. Quotas
	// then sit at demand plus a common multiple of demand, which is where
	// one quota per project throttles least for a given capacity when the
	// noise scales with the level; capacity left unassigned protects
	// nobody.
	pooled := !o.Overcommit
	var claim []float64 // what each project has before the pool
	if pooled {
		claim = slices.Clone(a.q[:nP])
		for i := range infos {
			a.goal[i] = infos[i].ceiling
			a.w[i] *= max(infos[i].need, infos[i].floor)
		}
		a.fill(nP, nB, owner)
		for i := range s.Projects {
			a.w[i] = s.Projects[i].Weight
			if !(a.w[i] > 0) || math.IsInf(a.w[i], 0) {
				a.w[i] = 1
			}
		}
	}

	// Hysteresis and holds.
	final := make([]float64, nP)
	keptAbove := make([]bool, nP)
	for i := range s.Projects {
		d := &plan.Decisions[i]
		in := &infos[i]
		ideal := a.q[i]
		d.Ideal = ideal
		final[i] = ideal
		if in.held {
			continue
		}
		cur := s.Projects[i].Quota
		if !(cur >= in.floor && cur <= in.ceiling) || math.IsInf(cur, 0) {
			continue // nothing valid in force: write the plan
		}
		h := o.Hysteresis
		// Pool moves are held like small changes, whatever their size,
		// when hysteresis is on.
		sticky := pooled && h > 0
		switch {
		case ideal < cur:
			// A cut that newly puts the quota below demand is always
			// made; a small one that does not, or that trims a quota
			// already below demand, is not.
			// Releasing unused quota is never urgent, so its band is
			// twice as wide as that of increases.
			// With the pool, a quota that covers what the project
			// claims is kept however far above its ideal: the pool
			// reshuffles with every round's demand, and a release is
			// written only when a broker needs the room (below).
			if (ideal >= in.need || cur < in.need) && (cur <= ideal*(1+2*h) || sticky && cur >= claim[i]) {
				final[i] = cur
				keptAbove[i] = true
			}
		case ideal > cur:
			// A small increase is not made, unless the project is
			// short of its guaranteed base (a lender reclaiming); nor
			// is one that only the pool gives, unless the project is
			// below its share: a lender's reserve is written, and it
			// takes back what a borrower holds from the pool.
			if cur >= min(in.need, in.base) && (ideal <= cur*(1+h) || sticky && claim[i] <= cur*(1+h) && cur >= s.Projects[i].Share) {
				final[i] = cur
			}
		}
	}
	// A quota kept above its ideal must still fit; where it does not, the
	// ideal is written.
	load := make([]float64, nB)
	for b := 0; b < nB; b++ {
		for _, j := range a.bIdx[a.bStart[b]:a.bStart[b+1]] {
			load[b] += final[owner[j]] * a.mCoef[j]
		}
	}
	for b := 0; b < nB; b++ {
		if load[b] <= a.safe[b]*(1+1e-12) || plan.Brokers[b].Infeasible {
			continue
		}
		for _, j := range a.bIdx[a.bStart[b]:a.bStart[b+1]] {
			i := owner[j]
			if keptAbove[i] {
				keptAbove[i] = false
				for jj := a.pStart[i]; jj < a.pStart[i+1]; jj++ {
					load[a.mBroker[jj]] -= (final[i] - a.q[i]) * a.mCoef[jj]
				}
				final[i] = a.q[i]
			}
		}
	}
	for b := range plan.Brokers {
		plan.Brokers[b].Committed = load[b]
	}

	// Decisions and reasons.
	for i := range s.Projects {
		p := &s.Projects[i]
		d := &plan.Decisions[i]
		in := &infos[i]
		d.After = final[i]
		known := p.Quota > 0 && !math.IsInf(p.Quota, 0)
		if in.held {
			// Only a safety cut, or floor and ceiling, change a held quota.
			d.Write = known && math.Abs(d.After-p.Quota) > 1e-9*max(d.After, p.Quota)
			if !d.Write {
				d.After = p.Quota
			}
			continue
		}
		d.Write = !known || math.Abs(d.After-p.Quota) > 1e-9*max(d.After, p.Quota)
		if !d.Write {
			d.After = p.Quota
		}
		if d.After == p.Quota && d.Ideal != p.Quota {
			d.Reasons = append(d.Reasons, ReasonHeldHysteresis)
		}
		if in.throttled {
			d.Reasons = append(d.Reasons, ReasonDemandFromThrottle)
		}
		if in.forecastSet && d.Forecast > in.need*(1+o.Headroom) {
			d.Reasons = append(d.Reasons, ReasonSizedByForecast)
		}
		if in.rawTarget > in.ceiling && d.After >= in.ceiling*(1-1e-9) {
			d.Reasons = append(d.Reasons, ReasonCappedByCeiling)
		}
		if in.rawTarget < in.floor {
			d.Reasons = append(d.Reasons, ReasonRaisedToFloor)
		}
		if d.Ideal < in.target*(1-1e-9) {
			d.Reasons = append(d.Reasons, ReasonLimitedByCapacity)
			if b := a.limitedBy[i]; b >= 0 {
				d.Note = fmt.Sprintf("broker %d is full", s.Brokers[b].ID)
			}
			if known && p.Quota > p.Share && d.After < p.Quota*(1-1e-9) {
				d.Reasons = append(d.Reasons, ReasonReclaimed)
			}
		}
		if d.After < in.need*(1-1e-9) && (!known || d.After < p.Quota) {
			d.Reasons = append(d.Reasons, ReasonCutBelowDemand)
		}
		if in.target <= p.Share {
			d.Reasons = append(d.Reasons, ReasonWithinShare)
		}
	}
	a.attribute(s, plan.Decisions, final, owner)
	return plan
}

// fill water-fills a.q towards a.goal for the projects not held, weighted
// max-min, within each broker's slack. A broker whose slack runs out stops
// every project placed on it.
//
// It runs on a common level Λ: an active project's quota is q0 + w·Λ, and a
// broker's slack falls at the rate Σ w·coef of its active projects. Events
// are a project reaching its goal (projects sorted by the level at which
// they do) and a broker running out (an indexed heap keyed by the level at
// which it does). Each event touches only the brokers of the projects it
// stops, so a fill costs O((P·k + B) log B) for P projects on k brokers
// each.
func (a *allocator) fill(nP, nB int, owner []int) {
	if a.fillImpl != nil {
		a.fillImpl(a, nP, nB, owner)
		return
	}
	a.active = growBool(a.active, nP)
	a.rate = grow(a.rate, nB)
	a.nActive = growInt(a.nActive, nB)
	a.q0 = grow(a.q0, nP)
	a.at = grow(a.at, nB)
	a.sat = grow(a.sat, nB)
	a.heap = a.heap[:0]
	a.hpos = growInt(a.hpos, nB)
	list := a.list[:0]
	for i := 0; i < nP; i++ {
		if a.held[i] || !(a.goal[i] > a.q[i]*(1+1e-12)) {
			continue
		}
		if a.pStart[i] == a.pStart[i+1] {
			a.q[i] = a.goal[i] // placed nowhere: costs nothing
			continue
		}
		a.active[i] = true
		a.q0[i] = a.q[i]
		list = append(list, i)
		for j := a.pStart[i]; j < a.pStart[i+1]; j++ {
			a.rate[a.mBroker[j]] += a.w[i] * a.mCoef[j]
			a.nActive[a.mBroker[j]]++
		}
	}
	a.list = list
	if len(list) == 0 {
		return
	}
	slices.SortFunc(list, func(x, y int) int {
		kx := (a.goal[x] - a.q0[x]) / a.w[x]
		ky := (a.goal[y] - a.q0[y]) / a.w[y]
		switch {
		case kx < ky:
			return -1
		case kx > ky:
			return 1
		}
		return x - y
	})
	for b := 0; b < nB; b++ {
		a.hpos[b] = -1
		if a.nActive[b] > 0 {
			a.sat[b] = a.saturation(b, 0)
			a.heapPush(b)
		}
	}
	level := 0.0
	// stop deactivates project i at the current level.
	stop := func(i int) {
		a.active[i] = false
		a.q[i] = min(a.q0[i]+a.w[i]*level, a.goal[i])
		for j := a.pStart[i]; j < a.pStart[i+1]; j++ {
			b := a.mBroker[j]
			a.slack[b] -= a.rate[b] * (level - a.at[b])
			a.at[b] = level
			a.nActive[b]--
			if a.nActive[b] == 0 {
				a.rate[b] = 0
			} else {
				a.rate[b] -= a.w[i] * a.mCoef[j]
			}
			if a.hpos[b] >= 0 {
				a.sat[b] = a.saturation(b, level)
				a.heapFix(b)
			}
		}
	}
	next := 0
	for {
		for next < len(list) && !a.active[list[next]] {
			next++
		}
		pLevel := math.Inf(1)
		if next < len(list) {
			i := list[next]
			pLevel = (a.goal[i] - a.q0[i]) / a.w[i]
		}
		bLevel := math.Inf(1)
		if len(a.heap) > 0 {
			bLevel = a.sat[a.heap[0]]
		}
		if math.IsInf(pLevel, 1) && math.IsInf(bLevel, 1) {
			break
		}
		if pLevel <= bLevel {
			level = max(level, pLevel)
			i := list[next]
			stop(i)
			a.q[i] = a.goal[i]
			continue
		}
		level = max(level, bLevel)
		b := a.heapPop()
		a.slack[b] = 0
		a.at[b] = level
		for _, j := range a.bIdx[a.bStart[b]:a.bStart[b+1]] {
			if i := owner[j]; a.active[i] {
				a.limitedBy[i] = b
				stop(i)
			}
		}
		a.slack[b] = 0
	}
}

// saturation is the level at which broker b runs out of slack.
func (a *allocator) saturation(b int, level float64) float64 {
	if a.nActive[b] == 0 || !(a.rate[b] > 0) {
		return math.Inf(1)
	}
	return level + max(0, a.slack[b])/a.rate[b]
}

func (a *allocator) heapLess(x, y int) bool {
	bx, by := a.heap[x], a.heap[y]
	if a.sat[bx] != a.sat[by] {
		return a.sat[bx] < a.sat[by]
	}
	return bx < by
}

func (a *allocator) heapSwap(x, y int) {
	a.heap[x], a.heap[y] = a.heap[y], a.heap[x]
	a.hpos[a.heap[x]] = x
	a.hpos[a.heap[y]] = y
}

func (a *allocator) heapUp(k int) {
	for k > 0 {
		p := (k - 1) / 2
		if !a.heapLess(k, p) {
			return
		}
		a.heapSwap(k, p)
		k = p
	}
}

func (a *allocator) heapDown(k int) {
	n := len(a.heap)
	for {
		l := 2*k + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && a.heapLess(r, l) {
			m = r
		}
		if !a.heapLess(m, k) {
			return
		}
		a.heapSwap(k, m)
		k = m
	}
}

func (a *allocator) heapPush(b int) {
	a.heap = append(a.heap, b)
	a.hpos[b] = len(a.heap) - 1
	a.heapUp(len(a.heap) - 1)
}

func (a *allocator) heapFix(b int) {
	k := a.hpos[b]
	a.heapUp(k)
	a.heapDown(a.hpos[b])
}

func (a *allocator) heapPop() int {
	b := a.heap[0]
	last := len(a.heap) - 1
	a.heapSwap(0, last)
	a.heap = a.heap[:last]
	a.hpos[b] = -1
	if last > 0 {
		a.heapDown(0)
	}
	return b
}

// attribute names lenders and borrowers. On each broker, borrowers are
// lent the unused shares of the lenders there plus capacity no share
// reserves, in proportion to what each contributes.
func (a *allocator) attribute(s *State, ds []Decision, final []float64, owner []int) {
	nB := len(s.Brokers)
	type part struct {
		i   int
		amt float64
	}
	need := make([]bool, nB)
	for i := range s.Projects {
		if a.pStart[i] < a.pStart[i+1] && !a.held[i] {
			need[s.Projects[i].Loads[0].Broker] = true
			for j := a.pStart[i]; j < a.pStart[i+1]; j++ {
				if s.Brokers[a.mBroker[j]].ID == ds[i].HotBroker {
					need[a.mBroker[j]] = true
				}
			}
		}
	}
	// Per broker, only the largest few lenders and borrowers are named, so
	// a bounded insertion replaces a sort.
	type brokerParts struct {
		lenders, borrowers   [maxTransfers]part
		nl, nb               int
		lent, borrowed, pool float64
		unreserved           float64
	}
	insert := func(top *[maxTransfers]part, n *int, p part) {
		k := *n
		if k == maxTransfers {
			if p.amt <= top[k-1].amt {
				return
			}
			k--
		} else {
			*n++
		}
		for k > 0 && top[k-1].amt < p.amt {
			top[k] = top[k-1]
			k--
		}
		top[k] = p
	}
	bp := make([]brokerParts, nB)
	for b := 0; b < nB; b++ {
		if !need[b] {
			continue
		}
		x := &bp[b]
		var shares float64
		for _, j := range a.bIdx[a.bStart[b]:a.bStart[b+1]] {
			i := owner[j]
			sh := s.Projects[i].Share
			shares += sh
			if a.held[i] {
				continue
			}
			if diff := sh - final[i]; diff > 1e-9*sh {
				insert(&x.lenders, &x.nl, part{i, diff})
				x.lent += diff
			} else if diff < -1e-9*sh {
				insert(&x.borrowers, &x.nb, part{i, -diff})
				x.borrowed += -diff
			}
		}
		x.unreserved = max(0, a.safe[b]-shares)
		x.pool = x.lent + x.unreserved
	}
	const transfersCap = maxTransfers + 3
	transfers := make([]Transfer, 0, len(s.Projects)*transfersCap)
	next := func() []Transfer {
		n := len(transfers)
		transfers = transfers[:n+transfersCap]
		return transfers[n : n : n+transfersCap]
	}
	hotIndex := func(i int) int {
		for j := a.pStart[i]; j < a.pStart[i+1]; j++ {
			if s.Brokers[a.mBroker[j]].ID == ds[i].HotBroker {
				return a.mBroker[j]
			}
		}
		return s.Projects[i].Loads[0].Broker
	}
	for i := range s.Projects {
		if a.held[i] || a.pStart[i] == a.pStart[i+1] {
			continue
		}
		d := &ds[i]
		x := &bp[hotIndex(i)]
		sh := s.Projects[i].Share
		switch {
		case final[i] > sh*(1+1e-9):
			amt := final[i] - sh
			d.Reasons = append(d.Reasons, ReasonBorrowedFrom)
			d.BorrowedFrom = next()
			if x.pool <= 0 {
				d.BorrowedFrom = append(d.BorrowedFrom, Transfer{Overcommitted, amt})
				continue
			}
			covered := min(amt, x.pool)
			rest := covered
			for _, l := range x.lenders[:x.nl] {
				v := covered * l.amt / x.pool
				d.BorrowedFrom = append(d.BorrowedFrom, Transfer{s.Projects[l.i].Name, v})
				rest -= v
			}
			if x.unreserved > 0 {
				v := covered * x.unreserved / x.pool
				d.BorrowedFrom = append(d.BorrowedFrom, Transfer{Unreserved, v})
				rest -= v
			}
			if rest > 1e-9*amt {
				d.BorrowedFrom = append(d.BorrowedFrom, Transfer{Others, rest})
			}
			if amt > covered*(1+1e-9) {
				d.BorrowedFrom = append(d.BorrowedFrom, Transfer{Overcommitted, amt - covered})
			}
			sortTransfers(d.BorrowedFrom)
		case final[i] < sh*(1-1e-9) && x.borrowed > 0 && x.pool > 0:
			lent := sh - final[i]
			d.Reasons = append(d.Reasons, ReasonLentTo)
			d.LentTo = next()
			var named float64
			for _, bo := range x.borrowers[:x.nb] {
				v := min(bo.amt, x.pool) * lent / x.pool
				d.LentTo = append(d.LentTo, Transfer{s.Projects[bo.i].Name, v})
				named += v
			}
			if total := min(x.borrowed, x.pool) * lent / x.pool; total-named > 1e-9*total {
				d.LentTo = append(d.LentTo, Transfer{Others, total - named})
			}
		}
	}
}

func sortTransfers(ts []Transfer) {
	slices.SortStableFunc(ts, func(a, b Transfer) int {
		switch {
		case a.Bytes > b.Bytes:
			return -1
		case a.Bytes < b.Bytes:
			return 1
		}
		return 0
	})
}

// checkProject returns what is inconsistent about p, or "".
// stamp[b] == mark means broker b was already seen for this project.
func checkProject(p *Project, nB int, stamp []int, mark int) string {
	bad := func(x float64) bool { return math.IsNaN(x) || math.IsInf(x, 0) || x < 0 }
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

func finiteOr(x, def float64) float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) || x <= 0 {
		return def
	}
	return x
}

func grow(s []float64, n int) []float64 {
	if cap(s) < n {
		return make([]float64, n)
	}
	s = s[:n]
	clear(s)
	return s
}

func growInt(s []int, n int) []int {
	if cap(s) < n {
		return make([]int, n)
	}
	s = s[:n]
	clear(s)
	return s
}

func growBool(s []bool, n int) []bool {
	if cap(s) < n {
		return make([]bool, n)
	}
	s = s[:n]
	clear(s)
	return s
}
