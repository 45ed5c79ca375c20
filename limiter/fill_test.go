package limiter

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// fillReference is the plain water-filling the event-driven fill replaced:
// every step scans all projects and brokers for the next event. It is kept
// to check the fast one against.
func fillReference(a *allocator, nP, nB int, owner []int) {
	a.active = growBool(a.active, nP)
	rate, nActive := make([]float64, nB), make([]int, nB)
	nAct := 0
	for i := 0; i < nP; i++ {
		a.active[i] = !a.held[i] && a.goal[i] > a.q[i]*(1+1e-12)
		if !a.active[i] {
			continue
		}
		nAct++
		for j := a.pStart[i]; j < a.pStart[i+1]; j++ {
			rate[a.mBroker[j]] += a.w[i] * a.mCoef[j]
			nActive[a.mBroker[j]]++
		}
	}
	deactivate := func(i int) {
		a.active[i] = false
		nAct--
		for j := a.pStart[i]; j < a.pStart[i+1]; j++ {
			b := a.mBroker[j]
			nActive[b]--
			if nActive[b] == 0 {
				rate[b] = 0
			} else {
				rate[b] -= a.w[i] * a.mCoef[j]
			}
		}
	}
	freezeBroker := func(b int) {
		for _, j := range a.bIdx[a.bStart[b]:a.bStart[b+1]] {
			if i := owner[j]; a.active[i] {
				a.limitedBy[i] = b
				deactivate(i)
			}
		}
	}
	// A project with no placement costs nothing anywhere; it still goes
	// to its goal.
	for i := 0; i < nP; i++ {
		if a.active[i] && a.pStart[i] == a.pStart[i+1] {
			a.q[i] = a.goal[i]
			deactivate(i)
		}
	}
	for b := 0; b < nB; b++ {
		if nActive[b] > 0 && a.slack[b] <= 0 {
			a.slack[b] = max(a.slack[b], 0)
			freezeBroker(b)
		}
	}
	list := make([]int, 0, nP)
	for i := 0; i < nP; i++ {
		if a.active[i] {
			list = append(list, i)
		}
	}
	for nAct > 0 {
		// Compact the active list.
		k := 0
		for _, i := range list {
			if a.active[i] {
				list[k] = i
				k++
			}
		}
		list = list[:k]
		lam := math.Inf(1)
		argP, argB := -1, -1
		for _, i := range list {
			if l := (a.goal[i] - a.q[i]) / a.w[i]; l < lam {
				lam, argP, argB = l, i, -1
			}
		}
		for b := 0; b < nB; b++ {
			if nActive[b] > 0 && rate[b] > 0 {
				if l := a.slack[b] / rate[b]; l < lam {
					lam, argP, argB = l, -1, b
				}
			}
		}
		lam = max(lam, 0)
		for _, i := range list {
			a.q[i] = min(a.q[i]+a.w[i]*lam, a.goal[i])
		}
		for b := 0; b < nB; b++ {
			if nActive[b] > 0 {
				a.slack[b] -= rate[b] * lam
			}
		}
		if argP >= 0 {
			a.q[argP] = a.goal[argP]
			deactivate(argP)
		}
		if argB >= 0 {
			a.slack[argB] = 0
			freezeBroker(argB)
		}
		for _, i := range list {
			if a.active[i] && a.q[i] >= a.goal[i]*(1-1e-12) {
				a.q[i] = a.goal[i]
				deactivate(i)
			}
		}
		for b := 0; b < nB; b++ {
			if nActive[b] > 0 && a.slack[b] <= 1e-12*a.safe[b] {
				a.slack[b] = max(a.slack[b], 0)
				freezeBroker(b)
			}
		}
	}
}

func TestFillMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	for n := range 1500 {
		opts := Options{Headroom: 0.1, LenderSpare: 0.05, Overcommit: n%3 == 0}
		g := randomGroup(r, opts)
		g.observe(nil, 0)
		var fast allocator
		ref := allocator{fillImpl: fillReference}
		pf, pr := fast.allocate(&g.state), ref.allocate(&g.state)
		for i := range pf.Decisions {
			f, rr := pf.Decisions[i].Ideal, pr.Decisions[i].Ideal
			if math.Abs(f-rr) > 1e-6*max(1, rr) {
				t.Fatalf("group %d project %s: fast fill %.3f, reference %.3f", n, pf.Decisions[i].Project, f, rr)
			}
		}
		g.apply(pf)
	}
}

// fillEvents runs every fill through the event loop on a heap, the
// general path, even where no broker can run out or few can.
func fillEvents(a *allocator, nP, nB int, owner []int) {
	queue := a.startFill(nP, nB)
	if len(queue) == 0 {
		return
	}
	a.events(queue, owner, false)
	a.endFill(nB)
}

// TestDrainMatchesEvents: a fill in which no broker runs out takes drain,
// which skips the broker events, and one in which few can takes the event
// loop on a sorted queue; the plan must be the one the event loop on a
// heap gives, to the last bit (the slack a fill leaves is where the next
// one starts, so a difference in rounding would show in later fills).
func TestDrainMatchesEvents(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 11))
	tiers := []Tier{Standard, Critical, BestEffort}
	drained := 0
	for n := range 600 {
		opts := Options{Headroom: 0.1 * r.Float64(), LenderSpare: 0.1 * r.Float64(), Overcommit: n%4 == 0}
		if n%2 == 0 {
			opts.Hysteresis = 0.05
		}
		g := randomGroup(r, opts)
		for round := range 4 {
			g.observe(r, 0.1)
			for i := range g.state.Projects {
				if n%3 == 0 {
					g.state.Projects[i].Tier = tiers[r.IntN(3)]
				}
				for k := range g.state.Projects[i].Loads {
					l := &g.state.Projects[i].Loads[k]
					l.Measured = l.Rate * r.Float64()
					l.Forecast = l.Rate * (0.8 + 0.6*r.Float64())
				}
			}
			var fast allocator
			fast.fillImpl = func(a *allocator, nP, nB int, owner []int) {
				a.fillImpl = nil
				if q := a.startFill(nP, nB); len(q) > 0 && len(a.heap) == 0 {
					drained++
				}
				a.fill(nP, nB, owner)
				a.fillImpl = fast.fillImpl
			}
			general := allocator{fillImpl: fillEvents}
			pf, pg := fast.allocate(&g.state), general.allocate(&g.state)
			if f, w := fmt.Sprintf("%+v", pf), fmt.Sprintf("%+v", pg); f != w {
				t.Fatalf("group %d round %d: drained plan\n%s\nevent loop's plan\n%s", n, round, f, w)
			}
			g.apply(pf)
			for i := range g.state.Projects {
				if r.IntN(3) == 0 {
					g.setDemand(r, i)
				}
			}
		}
	}
	if drained < 1000 {
		t.Fatalf("only %d fills took drain: the test does not exercise it", drained)
	}
}

// TestSortDesc: fit's candidates, keyed by their negated excess, come out
// largest excess first, then by project index, short lists and long.
func TestSortDesc(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 5))
	for _, n := range []int{0, 1, 2, 13, 60, 255, 256, 700} {
		t.Run(fmt.Sprintf("n=%d", n), func(t *testing.T) {
			excess := make([]float64, n)
			kept := make([]fillItem, n)
			for i := range kept {
				excess[i] = float64(1 + r.IntN(max(1, n/3))) // ties
				kept[i] = fillItem{-excess[i], i}
			}
			sortDesc(kept)
			for k := 1; k < n; k++ {
				x, y := kept[k-1], kept[k]
				if excess[x.i] < excess[y.i] || excess[x.i] == excess[y.i] && x.i > y.i {
					t.Fatalf("position %d: project %d (excess %v) before project %d (excess %v)", k, x.i, excess[x.i], y.i, excess[y.i])
				}
			}
		})
	}
}

func TestSortQueue(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	for _, n := range []int{0, 1, 2, 12, 13, 50, 255, 256, 257, 1000, 5000} {
		for _, ties := range []bool{false, true} {
			t.Run(fmt.Sprintf("n=%d/ties=%v", n, ties), func(t *testing.T) {
				q := make([]fillItem, n)
				for i := range q {
					l := r.ExpFloat64() * 1e6
					if ties {
						l = float64(1+r.IntN(7)) / 2 // many equal levels
					}
					if i%97 == 5 {
						l = math.Inf(1) // a goal at an infinite ceiling
					}
					q[i] = fillItem{l, i}
				}
				var a allocator
				a.sortQueue(q)
				seen := make([]bool, n)
				for k, it := range q {
					if k > 0 && !q[k-1].before(it) {
						t.Fatalf("items %d and %d out of order: %+v %+v", k-1, k, q[k-1], it)
					}
					if seen[it.i] {
						t.Fatalf("item %d twice", it.i)
					}
					seen[it.i] = true
				}
			})
		}
	}
}

// TestFillWeightsFarApart: weights many orders of magnitude apart must not
// let a project grow for free. In the pool, a (weight 1, demand 10) and b
// (weight 1e-20, demand 30) share one broker of 100: their targets are 11
// and 33 (headroom 10%), so the pool shares 56, with weights 1 × 10 and
// 1e-20 × 30. a reaches its ceiling 20 first; b then takes the rest of the
// broker alone: 100 − 20 = 80. Were the broker's rate left at (10 +
// 3e-19) − 10, which is 0 in float64, b's growth would cost nothing and it
// would go to its ceiling 1000. The second case gives a a weight near
// float64's largest (b 1e300), where a's weight × demand overflows: the
// pool keeps the proportions, and a still takes its ceiling 20 first and b
// the other 80 (before, a's infinite pool weight let it reach its goal at
// level 0 without costing the broker anything).
func TestFillWeightsFarApart(t *testing.T) {
	cases := []struct {
		name     string
		wA, wB   float64
		wantB    float64
		wantA    float64
		capacity float64
		tol      float64 // relative: weights this far apart cost float64 some digits
	}{
		{"a tiny weight next to a large one", 1, 1e-20, 80, 20, 100, 1e-9},
		{"a weight whose product with demand overflows", math.MaxFloat64 / 2, 1e300, 80, 20, 100, 1e-6},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := lp("a", 50, 0, 10, 10, 0)
			a.Ceiling, a.Weight = 20, tc.wA
			b := lp("b", 50, 0, 30, 30, 0)
			b.Weight = tc.wB
			s := oneBroker(tc.capacity, a, b)
			plan := Allocate(s)
			da, db := plan.Decisions[0], plan.Decisions[1]
			if math.Abs(da.After-tc.wantA) > tc.tol*tc.wantA || math.Abs(db.After-tc.wantB) > tc.tol*tc.wantB {
				t.Fatalf("a %v, b %v; want %v and %v", da.After, db.After, tc.wantA, tc.wantB)
			}
			if c := plan.Brokers[0].Committed; c > tc.capacity*(1+1e-12) {
				t.Fatalf("committed %v above %v", c, tc.capacity)
			}
		})
	}
}
