package limiter

import "math"

// explain settles each decision: whether it is written, and why the quota
// is what it is.
func (a *allocator) explain(s *State, plan *Plan, o Options) {
	for i := range s.Projects {
		p := &s.Projects[i]
		d := &plan.Decisions[i]
		in := &a.infos[i]
		d.After = a.fin[i]
		known := p.Quota > 0 && !math.IsInf(p.Quota, 0)
		changed := math.Abs(d.After-p.Quota) > 1e-9*max(d.After, p.Quota)
		if in.held {
			// Only a safety cut, or floor and ceiling, change a held quota.
			d.Write = known && changed
			if !d.Write {
				d.After = p.Quota
			}
			continue
		}
		d.Write = !known || changed
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
				d.Note = a.brokerFull(s.Brokers[b].ID, b)
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
}

type part struct {
	i   int
	amt float64
}

// brokerParts is what attribute knows of one broker: its largest lenders
// and borrowers (a bounded insertion replaces a sort), and the totals.
type brokerParts struct {
	lenders, borrowers   [maxTransfers]part
	nl, nb               int
	lent, borrowed, pool float64
	unreserved           float64
	needed               bool
}

// insert adds p to the top list when it is among the largest.
func insert(top *[maxTransfers]part, n *int, p part) {
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

// attribute names lenders and borrowers. On each broker, borrowers are
// lent the unused shares of the lenders there plus capacity no share
// reserves, in proportion to what each contributes.
func (a *allocator) attribute(s *State, ds []Decision) {
	nB, nP := len(s.Brokers), len(s.Projects)
	a.parts = resize(a.parts, nB)
	bp := a.parts
	for b := range bp {
		bp[b] = brokerParts{}
	}
	// hot is each project's hot broker index, -1 for a project not
	// attributed (held or placed nowhere).
	a.hot = resize(a.hot, nP)
	hot, held, pStart := a.hot, a.held[:nP], a.pStart[:nP+1]
	for i := range nP {
		if pStart[i] == pStart[i+1] || held[i] {
			hot[i] = -1
			continue
		}
		h := a.hotIndex(s, ds, i)
		hot[i] = h
		bp[s.Projects[i].Loads[0].Broker].needed = true
		bp[h].needed = true
	}
	for b := range nB {
		if bp[b].needed {
			a.tally(s, b, &bp[b])
		}
	}
	for i := range nP {
		h := hot[i]
		if h < 0 {
			continue
		}
		d := &ds[i]
		x := &bp[h]
		sh, fin := s.Projects[i].Share, a.fin[i]
		switch {
		case fin > sh*(1+1e-9):
			d.Reasons = append(d.Reasons, ReasonBorrowedFrom)
			d.BorrowedFrom = a.borrowedFrom(s, x, fin-sh)
		case fin < sh*(1-1e-9) && x.borrowed > 0 && x.pool > 0:
			d.Reasons = append(d.Reasons, ReasonLentTo)
			d.LentTo = a.lentTo(s, x, sh-fin)
		}
	}
}

// hotIndex is the index of project i's hot broker.
func (a *allocator) hotIndex(s *State, ds []Decision, i int) int {
	id := ds[i].HotBroker
	for _, b := range a.mBroker[a.pStart[i]:a.pStart[i+1]] {
		if s.Brokers[b].ID == id {
			return b
		}
	}
	return s.Projects[i].Loads[0].Broker
}

// tally sums broker b's lenders (final quota below share), borrowers
// (above) and the capacity no share reserves.
func (a *allocator) tally(s *State, b int, x *brokerParts) {
	projects, owner, held, fin := s.Projects, a.owner, a.held, a.fin
	var shares, lent, borrowed float64
	for _, j := range a.members(b) {
		i := owner[j]
		sh := projects[i].Share
		shares += sh
		if held[i] {
			continue
		}
		if diff := sh - fin[i]; diff > 1e-9*sh {
			insert(&x.lenders, &x.nl, part{i, diff})
			lent += diff
		} else if diff < -1e-9*sh {
			insert(&x.borrowers, &x.nb, part{i, -diff})
			borrowed += -diff
		}
	}
	x.lent, x.borrowed = lent, borrowed
	x.unreserved = max(0, a.safe[b]-shares)
	x.pool = x.lent + x.unreserved
}

// borrowedFrom splits amt, what a borrower holds above its share, over
// its hot broker's lenders and unreserved capacity, largest first.
func (a *allocator) borrowedFrom(s *State, x *brokerParts, amt float64) []Transfer {
	ts := a.nextTransfers()
	if x.pool <= 0 {
		return append(ts, Transfer{Overcommitted, amt})
	}
	covered := min(amt, x.pool)
	rest := covered
	for _, l := range x.lenders[:x.nl] {
		v := covered * l.amt / x.pool
		ts = append(ts, Transfer{s.Projects[l.i].Name, v})
		rest -= v
	}
	if x.unreserved > 0 {
		v := covered * x.unreserved / x.pool
		ts = append(ts, Transfer{Unreserved, v})
		rest -= v
	}
	if rest > 1e-9*amt {
		ts = append(ts, Transfer{Others, rest})
	}
	if amt > covered*(1+1e-9) {
		ts = append(ts, Transfer{Overcommitted, amt - covered})
	}
	sortTransfers(ts)
	return ts
}

// lentTo splits lent, what a lender leaves of its share, over its hot
// broker's borrowers.
func (a *allocator) lentTo(s *State, x *brokerParts, lent float64) []Transfer {
	ts := a.nextTransfers()
	var named float64
	for _, bo := range x.borrowers[:x.nb] {
		v := min(bo.amt, x.pool) * lent / x.pool
		ts = append(ts, Transfer{s.Projects[bo.i].Name, v})
		named += v
	}
	if total := min(x.borrowed, x.pool) * lent / x.pool; total-named > 1e-9*total {
		ts = append(ts, Transfer{Others, total - named})
	}
	return ts
}

// sortTransfers orders ts by bytes, largest first, keeping the order of
// equal ones (an insertion sort: there are at most transfersCap).
func sortTransfers(ts []Transfer) {
	for k := 1; k < len(ts); k++ {
		t := ts[k]
		j := k
		for j > 0 && ts[j-1].Bytes < t.Bytes {
			ts[j] = ts[j-1]
			j--
		}
		ts[j] = t
	}
}
