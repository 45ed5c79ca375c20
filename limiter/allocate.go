package limiter

import (
	"math"
	"strconv"
)

// maxTransfers bounds the lenders or borrowers named per decision; the rest
// is summed under Others.
const maxTransfers = 5

// reasonsCap bounds the reasons of one decision (at most eight apply).
const reasonsCap = 8

// transfersCap bounds the transfers of one decision: the named lenders or
// borrowers plus Unreserved, Others and Overcommitted.
const transfersCap = maxTransfers + 3

// Allocate plans one group's quotas in one direction. It is pure: the same
// state gives the same plan, and nothing outside the state is read. The
// plan is the caller's.
//
// The algorithm, per round, in named phases (each a method below):
//  1. need: each project's demand on each broker is its load's Rate, the
//     demand stage's estimate (limiter/demand owns the throttle formula and
//     every rule that corrects for Kafka's muting). Its need is the demand
//     on its hottest broker; its target is the larger of need and the
//     forecast's upper bound (need × (1 + headroom) for a project without
//     a forecast), within floor and ceiling. Projects with stale or inconsistent data are held at their
//     last-good quota (startQuotas; held borrowers go back to their share
//     where the others' bases do not fit).
//  2. baseFill: every other project starts at its floor. Capacity is
//     water-filled, weighted max-min, up to each project's base
//     min(target, share): lenders get back what they need before anyone
//     borrows. The bases fill in three steps: first what measured demand
//     earns (Load.Measured), then what each project's quota window holds
//     (Load.Hold, within the quota in force), then the rest of the bases (a
//     muted lender's guessed share). A borrower is cut below the rate
//     Kafka's window remembers only as far as a lender's measured demand
//     needs, since such a cut throttles it even when its demand is lower.
//  3. borrowFill: what is left is water-filled, weighted max-min, from the
//     base up to the target: the borrowing. Projects whose demand exceeds
//     their base are filled first, to their demand and then to their
//     target; only then do lenders take spare above their base. A quota
//     costs capacity on every broker the project is placed on, so the
//     broker that fills first stops it.
//  4. pool: in strict mode, what no target claims is shared out in
//     proportion to each project's demand (times its weight), up to its
//     ceiling, as a reserve against the next round's noise. No capacity is
//     left unassigned; a quota is demand plus a common multiple of demand,
//     which for noise that scales with the level is where one quota per
//     project throttles least.
//  5. hysteresis keeps the quota in force when the change is small and no
//     cut below demand is needed, as long as every broker still fits. A
//     small increase held for a project whose demand is above its quota
//     is owed to it (Decision.Owed, fed back as Project.Owed) and written
//     once what is owed adds up to the band: a throttled project waits
//     for its increase, but not forever. With
//     hysteresis on, a change that only the pool makes (the project's own
//     claim is within the quota in force) is held however large: the pool
//     reshuffles with every round's demand, and a release is written only
//     when a broker needs the room (fit), largest release first and only
//     as many as the broker needs.
//
// Then explain gives each decision its reasons and attribute names the
// lenders and borrowers.
func Allocate(s *State) Plan {
	var a allocator
	return a.allocate(s)
}

// An Allocator plans round after round with the same scratch space and
// output buffers, allocating nothing once it has seen the largest group:
// the plan it returns is valid until its next call. Use it where each plan
// is consumed before the next one is made (the simulator); Allocate returns
// a plan the caller keeps. The zero value is ready; it is not safe for
// concurrent use.
type Allocator struct{ a allocator }

// Allocate plans s as the package's Allocate does; the plan's slices are
// reused by the next call.
func (x *Allocator) Allocate(s *State) Plan { return x.a.allocate(s) }

// allocator holds scratch space and the plan's buffers. The zero value is
// ready.
type allocator struct {
	// Per broker.
	safe, slack  []float64
	brokerBad    []bool
	bStart, bIdx []int // membership indexes (into the flat arrays below) by broker
	pos          []int // index's scratch
	fb           []fillBroker
	heap         []int // fill's brokers that can run out, by saturation
	load         []float64
	fullNote     []string // "broker N is full", built once per broker ID
	fullID       []int32
	parts        []brokerParts
	hot          []int // per project: its hot broker's index (attribute)
	// Per membership (a project's load on one broker), flat, by project.
	mBroker []int
	mCoef   []float64
	owner   []int
	// Per project.
	pStart                     []int // range in the membership arrays
	infos                      []projectInfo
	held, active, keptAbove    []bool
	q, goal, w, q0, claim, fin []float64
	limitedBy, stamp           []int
	// rank is each project's tier rank; tierRank[:tiers] the ranks the
	// group has, critical first.
	rank          []int
	tierRank      [3]int
	tiers         int
	queue, queue2 []fillItem
	counts        *[8][256]int // sortQueue's byte counts
	live          int          // active projects in the fill
	// fillImpl replaces fill in tests that compare it with a reference.
	fillImpl func(a *allocator, nP, nB int, owner []int)
	// The plan's buffers, reused by the next call.
	decisions []Decision
	brokers   []BrokerLoad
	reasons   []Reason
	transfers []Transfer
}

func (a *allocator) allocate(s *State) Plan {
	o := s.Options.withDefaults()
	plan := a.newPlan(s)
	a.need(s, &plan, o)
	a.index(len(s.Projects), len(s.Brokers))
	a.rankTiers(s)
	a.startQuotas(s, &plan)
	a.baseFill()
	a.borrowFill()
	pooled := !o.Overcommit
	if pooled {
		a.pool()
	}
	a.hysteresis(s, &plan, o.Hysteresis, pooled)
	a.fit(&plan)
	a.explain(s, &plan, o)
	a.attribute(s, plan.Decisions)
	return plan
}

// newPlan sizes the plan and the scratch space, and works out each
// broker's safe capacity.
func (a *allocator) newPlan(s *State) Plan {
	nB, nP := len(s.Brokers), len(s.Projects)
	// One backing array for every decision's reasons and one for the
	// transfers: the plan is made of a handful of pieces, reused by this
	// allocator's next call.
	a.decisions = resize(a.decisions, nP)
	a.brokers = resize(a.brokers, nB)
	a.reasons = resize(a.reasons, nP*reasonsCap)
	if cap(a.transfers) < nP*transfersCap {
		a.transfers = make([]Transfer, 0, nP*transfersCap)
	}
	a.transfers = a.transfers[:0]
	plan := Plan{Group: s.Group, Direction: s.Direction, Decisions: a.decisions, Brokers: a.brokers}
	margin := s.Margin
	if !(margin > 0 && margin <= 1) {
		margin = 1 // an invalid margin is a config error caught upstream; never hand out more than capacity
	}
	a.safe = grow(a.safe, nB)
	a.brokerBad = growBool(a.brokerBad, nB)
	for b, br := range s.Brokers {
		c := br.Capacity * margin
		if !(c >= 0) || math.IsInf(c, 0) {
			c, a.brokerBad[b] = 0, true
		}
		switch r := br.Reserved; {
		case r == 0:
		case r > 0 && !math.IsInf(r, 1):
			c = max(0, c-r)
		default:
			// A reserve that is not a rate is missing data: the broker's
			// projects keep their last-good quotas (contract rule 8).
			a.brokerBad[b] = true
		}
		a.safe[b] = c
		plan.Brokers[b] = BrokerLoad{ID: br.ID, Safe: c}
		if r := br.Reserved; r > 0 && !math.IsInf(r, 1) {
			plan.Brokers[b].Reserved = r
		}
	}
	return plan
}

// nextTransfers returns an empty slice for one decision's transfers.
func (a *allocator) nextTransfers() []Transfer {
	n := len(a.transfers)
	a.transfers = a.transfers[:n+transfersCap]
	return a.transfers[n : n : n+transfersCap]
}

// index builds the broker → membership index (need laid out the
// memberships and their owners).
func (a *allocator) index(nP, nB int) {
	m := a.pStart[nP]
	mBroker := a.mBroker[:m]
	bStart := growInt(a.bStart, nB+1)
	for _, b := range mBroker {
		bStart[b+1]++
	}
	for b := range nB {
		bStart[b+1] += bStart[b]
	}
	bIdx := growInt(a.bIdx, m)
	pos := growInt(a.pos, nB)
	copy(pos, bStart[:nB])
	for j, b := range mBroker {
		bIdx[pos[b]] = j
		pos[b]++
	}
	a.bStart, a.bIdx, a.pos = bStart, bIdx, pos
}

// members returns the memberships on broker b.
func (a *allocator) members(b int) []int { return a.bIdx[a.bStart[b]:a.bStart[b+1]] }

// fullNote returns the note for a project stopped by broker index b.
func (a *allocator) brokerFull(id int32, b int) string {
	if len(a.fullNote) <= b {
		a.fullNote = resize(a.fullNote, b+1)
		a.fullID = resize(a.fullID, b+1)
	}
	if a.fullNote[b] == "" || a.fullID[b] != id {
		a.fullNote[b], a.fullID[b] = "broker "+strconv.Itoa(int(id))+" is full", id
	}
	return a.fullNote[b]
}

func finiteOr(x, def float64) float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) || x <= 0 {
		return def
	}
	return x
}

// resize returns s with length n, reusing its array when large enough; the
// contents are not cleared.
func resize[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
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
