package limiter

import "math"

// startQuotas sets where the fills start: a held project at its last-good
// quota (within floor and ceiling), every other one at its floor. Where
// held quotas and the others' bases do not fit a broker, held borrowers go
// back to their share: safety before anything else. Then each broker's
// slack is what the starting quotas leave of its safe capacity.
func (a *allocator) startQuotas(s *State, plan *Plan) {
	nB, nP := len(s.Brokers), len(s.Projects)
	a.q = grow(a.q, nP)
	a.goal = grow(a.goal, nP)
	a.w = grow(a.w, nP)
	a.held = growBool(a.held, nP)
	for i := range s.Projects {
		p := &s.Projects[i]
		in := &a.infos[i]
		a.held[i] = in.held
		a.w[i] = weight(p)
		if !in.held {
			a.q[i] = in.floor
			continue
		}
		q := p.Quota
		if !(q > 0) || math.IsInf(q, 0) {
			// Nothing known to hold: count the share against the brokers,
			// write nothing.
			q = finiteOr(p.Share, in.floor)
			plan.Decisions[i].Reasons = append(plan.Decisions[i].Reasons, ReasonNoQuotaKnown)
		}
		a.q[i] = min(max(q, in.floor), in.ceiling)
	}
	for b := 0; b < nB; b++ {
		var used float64
		for _, j := range a.members(b) {
			i := a.owner[j]
			if a.held[i] {
				used += a.q[i]
			} else {
				used += a.infos[i].base * a.mCoef[j]
			}
		}
		if used <= a.safe[b]*(1+1e-12) {
			continue
		}
		for _, j := range a.members(b) {
			i := a.owner[j]
			if !a.held[i] {
				continue
			}
			in := &a.infos[i]
			if lim := max(in.floor, min(s.Projects[i].Share, in.ceiling)); a.q[i] > lim {
				a.q[i] = lim
				if d := &plan.Decisions[i]; !d.Has(ReasonCutForSafety) {
					d.Reasons = append(d.Reasons, ReasonCutForSafety)
				}
			}
		}
	}
	a.slack = grow(a.slack, nB)
	for b := 0; b < nB; b++ {
		used := 0.0
		for _, j := range a.members(b) {
			used += a.q[a.owner[j]] * a.mCoef[j]
		}
		a.slack[b] = a.safe[b] - used
		if a.slack[b] < -1e-9*max(1, a.safe[b]) {
			plan.Brokers[b].Infeasible = true
		}
	}
	a.limitedBy = growInt(a.limitedBy, nP)
	for i := range a.limitedBy {
		a.limitedBy[i] = -1
	}
}

// weight is a project's weight, 1 where it is not a positive number.
func weight(p *Project) float64 {
	if w := p.Weight; w > 0 && !math.IsInf(w, 0) {
		return w
	}
	return 1
}

// baseFill is phase 2: from the floors up to the bases, in the order a
// lender's reclaim needs. First the bases measured demand earns; then
// nobody is cut below what its quota window holds (keep), once every base
// measured demand earns is met; then the rest of the bases (a muted
// lender's guessed demand: its whole share); then each project up to its
// demand within its target (mid).
//
// With tiers, each fill serves critical projects first, then standard,
// then best-effort; and a critical project's whole base (its guessed
// demand too) comes before what the others' quota windows hold, so that a
// critical project is never held below min(demand, share) for another's
// window.
func (a *allocator) baseFill() {
	a.fillTo(func(in *projectInfo) float64 { return in.baseM })
	if a.tiers > 1 && a.tierRank[0] == 0 {
		a.fillRank(0, func(in *projectInfo) float64 { return in.base })
	}
	a.fillTo(func(in *projectInfo) float64 { return max(in.baseM, in.keep) })
	a.fillTo(func(in *projectInfo) float64 { return max(in.base, in.keep) })
	a.fillTo(func(in *projectInfo) float64 { return max(in.keep, in.mid) })
}

// borrowFill is phase 3: from the bases up to the targets. Borrowers
// (demand above their base) are filled to their targets before a lender
// takes spare above its base: under contention what a lender keeps beyond
// its base and LenderSpare would only sit unused while a borrower is
// throttled.
func (a *allocator) borrowFill() {
	a.fillTo(func(in *projectInfo) float64 {
		if in.need > in.base {
			return max(in.keep, in.target)
		}
		return max(in.keep, in.mid)
	})
	a.fillTo(func(in *projectInfo) float64 { return max(in.keep, in.target) })
}

// pool is phase 4, in strict mode: what no target claims is shared out in
// proportion to each project's demand (times its weight), up to its
// ceiling, as a reserve against the noise of the next round. Quotas then
// sit at demand plus a common multiple of demand, which is where one quota
// per project throttles least for a given capacity when the noise scales
// with the level; capacity left unassigned protects nobody. claim keeps
// what each project had before the pool, for hysteresis.
func (a *allocator) pool() {
	nP := len(a.infos)
	a.claim = resize(a.claim, nP)
	copy(a.claim, a.q[:nP])
	var wMax, nMax float64
	for i := range a.infos {
		in := &a.infos[i]
		a.goal[i] = in.ceiling
		wMax, nMax = max(wMax, a.w[i]), max(nMax, in.need, in.floor)
	}
	// A weight times a demand beyond float64 (a weight near its largest
	// value) keeps the same proportions with each factor scaled to at most
	// 1, so that no product or sum overflows.
	scale := math.IsInf(wMax*nMax, 0)
	for i := range a.infos {
		in := &a.infos[i]
		if scale {
			a.w[i] = a.w[i] / wMax * (max(in.need, in.floor) / nMax)
		} else {
			a.w[i] *= max(in.need, in.floor)
		}
	}
	a.fill(nP, len(a.safe), a.owner)
}

// fillTo fills every project not held towards goal(its info): tier by
// tier when the group has more than one, critical first.
func (a *allocator) fillTo(goal func(in *projectInfo) float64) {
	if a.tiers <= 1 {
		for i := range a.infos {
			a.goal[i] = goal(&a.infos[i])
		}
		a.fill(len(a.infos), len(a.safe), a.owner)
		return
	}
	for _, r := range a.tierRank[:a.tiers] {
		a.fillRank(r, goal)
	}
}

// fillRank fills the projects of tier rank r towards goal; every other
// project keeps its quota.
func (a *allocator) fillRank(r int, goal func(in *projectInfo) float64) {
	for i := range a.infos {
		if a.rank[i] == r {
			a.goal[i] = goal(&a.infos[i])
		} else {
			a.goal[i] = a.q[i]
		}
	}
	a.fill(len(a.infos), len(a.safe), a.owner)
}

// rankTiers notes each project's tier rank and which ranks the group has,
// in order.
func (a *allocator) rankTiers(s *State) {
	a.rank = growInt(a.rank, len(s.Projects))
	var seen [3]bool
	for i := range s.Projects {
		r := s.Projects[i].Tier.rank()
		a.rank[i] = r
		seen[r] = true
	}
	a.tiers = 0
	for r, ok := range seen {
		if ok {
			a.tierRank[a.tiers] = r
			a.tiers++
		}
	}
}
