package limiter

import (
	"math"
	"slices"
)

// hysteresis is phase 5: each project's final quota is its ideal (what the
// fills gave it) unless keepInForce holds the quota in force. h is the
// relative band; pooled says the pool ran.
func (a *allocator) hysteresis(s *State, plan *Plan, h float64, pooled bool) {
	nP := len(s.Projects)
	a.fin = resize(a.fin, nP)
	a.keptAbove = growBool(a.keptAbove, nP)
	for i := range s.Projects {
		d := &plan.Decisions[i]
		in := &a.infos[i]
		ideal := a.q[i]
		d.Ideal = ideal
		a.fin[i] = ideal
		if in.held {
			continue
		}
		cur := s.Projects[i].Quota
		if !(cur >= in.floor && cur <= in.ceiling) || math.IsInf(cur, 0) {
			continue // nothing valid in force: write the plan
		}
		claim := ideal
		if pooled {
			claim = a.claim[i]
		}
		if !keepInForce(ideal, cur, claim, in.need, in.base, s.Projects[i].Share, h, pooled) {
			continue
		}
		if ideal > cur && in.need > cur {
			// An increase held for a project short of its demand is
			// bytes throttled every round it waits: it is owed, and
			// written once what is owed adds up to the band.
			owed := s.Projects[i].Owed
			if !(owed > 0) || math.IsInf(owed, 0) {
				owed = 0
			}
			if owed += (ideal - cur) / cur; owed > h {
				continue
			}
			d.Owed = owed
		}
		a.fin[i] = cur
		a.keptAbove[i] = ideal < cur
	}
}

// keepInForce says whether the quota in force cur is kept instead of the
// ideal. claim is what the project had before the pool, need its demand,
// base its guaranteed base, h the band; pooled says the pool ran.
//
// A cut that newly puts the quota below demand is always made; a small one
// that does not, or that trims a quota already below demand, is not.
// Releasing unused quota is never urgent, so its band is twice as wide as
// that of increases. A small increase is not made, unless the project is
// short of its guaranteed base (a lender reclaiming).
//
// With the pool and hysteresis on, pool moves are held like small changes,
// whatever their size: the pool reshuffles with every round's demand. A
// quota that covers what the project claims is kept however far above its
// ideal (a release is written only when a broker needs the room: fit), and
// an increase only the pool gives is not made at or above the share. Below
// its share (a lender) it is made only once the lender's claim comes
// within one band of the quota in force (claim × (1+h) > cur): a lender's
// reserve is written again before its demand can reach the quota, and it
// then takes back what a borrower holds from the pool, but a quota that
// already covers the lender's claim by the band is not rewritten at every
// reshuffle of the pool.
func keepInForce(ideal, cur, claim, need, base, share, h float64, pooled bool) bool {
	sticky := pooled && h > 0
	switch {
	case ideal < cur:
		return (ideal >= need || cur < need) && (cur <= ideal*(1+2*h) || sticky && cur >= claim)
	case ideal > cur:
		return cur >= min(need, base) && (ideal <= cur*(1+h) || sticky && claim <= cur*(1+h) && (cur >= share || claim*(1+h) <= cur))
	}
	return false
}

// fit makes every broker fit again after hysteresis: where the quotas kept
// above their ideal overfill a feasible broker, those on it go back to
// their ideal, the largest excess first, only until the broker fits (a
// release nobody needs is a write that buys nothing). It records each
// broker's committed load.
func (a *allocator) fit(plan *Plan) {
	nB := len(plan.Brokers)
	a.load = grow(a.load, nB)
	load, safe, fin, q, keptAbove, owner, mCoef := a.load[:nB], a.safe[:nB], a.fin, a.q, a.keptAbove, a.owner, a.mCoef
	for b := range nB {
		l := load[b]
		for _, j := range a.members(b) {
			l += fin[owner[j]] * mCoef[j]
		}
		load[b] = l
	}
	for b := range nB {
		if load[b] <= safe[b]*(1+1e-12) || plan.Brokers[b].Infeasible {
			continue
		}
		// Candidates keyed by their negated excess: ascending order is
		// the largest excess first, then the lowest project index.
		kept := a.queue2[:0]
		for _, j := range a.members(b) {
			if i := owner[j]; keptAbove[i] {
				kept = append(kept, fillItem{-((fin[i] - q[i]) * mCoef[j]), i})
			}
		}
		sortDesc(kept)
		for _, it := range kept {
			if load[b] <= safe[b]*(1+1e-12) {
				break
			}
			i := it.i
			keptAbove[i] = false
			for jj := a.pStart[i]; jj < a.pStart[i+1]; jj++ {
				load[a.mBroker[jj]] -= (fin[i] - q[i]) * mCoef[jj]
			}
			fin[i] = q[i]
		}
		a.queue2 = kept
	}
	for b := range plan.Brokers {
		plan.Brokers[b].Committed = load[b]
	}
}

// sortDesc orders fit's candidates, keyed by their negated excess, by
// excess, largest first, then by project index.
func sortDesc(kept []fillItem) {
	if len(kept) < 256 {
		sortItems(kept)
		return
	}
	slices.SortFunc(kept, func(x, y fillItem) int {
		if x.before(y) {
			return -1
		}
		return 1 // no two items are equal: their projects differ
	})
}
