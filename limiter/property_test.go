package limiter

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// group is a random resource group with true per-broker demand, used to
// derive what Kafka would show a round: served = min(demand, quota) and
// throttle = (demand - quota) / quota × window.
type group struct {
	state  State
	demand [][]float64 // [project][load]
}

const mib = 1 << 20

func randomGroup(r *rand.Rand, opts Options) *group {
	nB := 1 + r.IntN(12)
	nP := 1 + r.IntN(30)
	g := &group{state: State{Group: "g", Margin: 0.5 + 0.5*r.Float64(), Options: opts}}
	for b := range nB {
		g.state.Brokers = append(g.state.Brokers, Broker{ID: int32(b + 1), Capacity: float64(50+r.IntN(200)) * mib})
	}
	for i := range nP {
		p := Project{Name: fmt.Sprintf("p%02d", i), Weight: 0.5 + 3.5*r.Float64(), Share: float64(1+r.IntN(100)) * mib}
		// Placement: a random non-empty subset of brokers.
		perm := r.Perm(nB)
		for _, b := range perm[:1+r.IntN(nB)] {
			p.Loads = append(p.Loads, Load{Broker: b})
		}
		g.state.Projects = append(g.state.Projects, p)
	}
	// Scale shares so that they fit on every broker, as configuration
	// validation requires.
	scale := math.Inf(1)
	for b, br := range g.state.Brokers {
		var sum float64
		for _, p := range g.state.Projects {
			for _, l := range p.Loads {
				if l.Broker == b {
					sum += p.Share
				}
			}
		}
		if sum > 0 {
			scale = min(scale, br.Capacity*g.state.Margin/sum)
		}
	}
	scale *= 0.6 + 0.4*r.Float64()
	g.demand = make([][]float64, nP)
	for i := range g.state.Projects {
		p := &g.state.Projects[i]
		p.Share *= scale
		p.Floor = p.Share * 0.3 * r.Float64()
		p.Ceiling = p.Share * (1 + 4*r.Float64())
		if r.IntN(4) == 0 {
			p.Ceiling = math.Inf(1)
		}
		p.Quota = p.Share
		g.demand[i] = make([]float64, len(p.Loads))
		g.setDemand(r, i)
	}
	return g
}

// setDemand draws project i's demand: idle, within its share, or above it,
// with a skew between brokers.
func (g *group) setDemand(r *rand.Rand, i int) {
	p := &g.state.Projects[i]
	var level float64
	switch r.IntN(4) {
	case 0:
		level = 0
	case 1:
		level = p.Share * r.Float64()
	default:
		level = p.Share * (1 + 3*r.Float64())
	}
	for k := range g.demand[i] {
		g.demand[i][k] = level * (0.3 + 0.7*r.Float64())
	}
	g.demand[i][r.IntN(len(g.demand[i]))] = level
}

// observe fills the signals from the true demand and the quotas in force.
func (g *group) observe(noise *rand.Rand, rel float64) {
	window := float64(DefaultThrottleWindow.Milliseconds())
	for i := range g.state.Projects {
		p := &g.state.Projects[i]
		for k := range p.Loads {
			d := g.demand[i][k]
			served := min(d, p.Quota)
			n := 1.0
			if noise != nil {
				n = max(0, 1+rel*noise.NormFloat64())
			}
			p.Loads[k].Observed = served * n
			p.Loads[k].Rate = served * n
			p.Loads[k].Hold = served * n
			p.Loads[k].ThrottleMs = 0
			p.Loads[k].FromThrottle = false
			if d > p.Quota {
				// The demand stage's estimate at the onset of throttling,
				// Kafka's formula solved for the rate: exactly d here.
				p.Loads[k].ThrottleMs = (d - p.Quota) / p.Quota * window
				p.Loads[k].Rate = max(p.Loads[k].Rate, p.Quota*(1+p.Loads[k].ThrottleMs/window))
				p.Loads[k].FromThrottle = true
			}
		}
	}
}

// apply puts the plan in force.
func (g *group) apply(pl Plan) {
	for i, d := range pl.Decisions {
		if d.Write {
			g.state.Projects[i].Quota = d.After
		}
	}
}

func (g *group) need(i int) float64 {
	var n float64
	for _, d := range g.demand[i] {
		n = max(n, d)
	}
	return n
}

const tol = 1e-9

// checkStatic asserts the clauses that hold of any single plan.
func checkStatic(t *testing.T, g *group, pl Plan) {
	t.Helper()
	s := &g.state
	o := s.Options.withDefaults()
	if len(pl.Decisions) != len(s.Projects) {
		t.Fatalf("plan has %d decisions for %d projects", len(pl.Decisions), len(s.Projects))
	}
	load := make([]float64, len(s.Brokers))
	for i, d := range pl.Decisions {
		p := &s.Projects[i]
		after := d.After
		if math.IsNaN(after) || math.IsInf(after, 0) || after <= 0 {
			t.Fatalf("%s: quota %v is not a positive number", p.Name, after)
		}
		// Floor and ceiling.
		if after < max(p.Floor, o.MinQuota)*(1-tol) {
			t.Fatalf("%s: quota %.0f below floor %.0f", p.Name, after, p.Floor)
		}
		if after > p.Ceiling*(1+tol) {
			t.Fatalf("%s: quota %.0f above ceiling %.0f", p.Name, after, p.Ceiling)
		}
		if d.Write && d.After == d.Before {
			t.Fatalf("%s: write of an unchanged quota", p.Name)
		}
		if !d.Write && d.After != d.Before {
			t.Fatalf("%s: quota changes %.0f -> %.0f without a write", p.Name, d.Before, d.After)
		}
		for _, l := range p.Loads {
			if s.Options.Overcommit {
				continue
			}
			load[l.Broker] += after
		}
	}
	// Safety in overcommit mode: a project counts on each broker in
	// proportion to its expected load there relative to its hottest
	// broker, and those loads fit.
	if s.Options.Overcommit {
		over := make([]float64, len(s.Brokers))
		for i, d := range pl.Decisions {
			p := &s.Projects[i]
			var top float64
			for _, l := range p.Loads {
				top = max(top, max(l.Rate, l.Forecast))
			}
			for _, l := range p.Loads {
				c := 1.0
				if top > 0 {
					c = max(l.Rate, l.Forecast) / top
				}
				over[l.Broker] += d.After * c
			}
		}
		for b, br := range s.Brokers {
			if safe := br.Capacity * s.Margin; over[b] > safe*(1+1e-6) && !pl.Brokers[b].Infeasible {
				t.Fatalf("overcommit broker %d: expected load %.0f above margin × capacity %.0f", br.ID, over[b], safe)
			}
		}
	}
	// Safety (strict mode).
	if !s.Options.Overcommit {
		for b, br := range s.Brokers {
			if safe := br.Capacity * s.Margin; load[b] > safe*(1+tol) {
				t.Fatalf("broker %d: quotas sum to %.0f, above margin × capacity %.0f", br.ID, load[b], safe)
			}
		}
	}
}

// checkReclaim asserts that no project that is not held gets less than its
// demand where that demand is within its share and ceiling.
func checkReclaim(t *testing.T, g *group, pl Plan) {
	t.Helper()
	for i, d := range pl.Decisions {
		p := &g.state.Projects[i]
		if d.Has(ReasonHeldMissingData) || d.Has(ReasonHeldBadInput) {
			continue
		}
		if need := g.need(i); need <= p.Share && need <= p.Ceiling && d.After < need*(1-tol) {
			t.Fatalf("%s: demand %.0f within share %.0f but quota %.0f (reasons %v)", p.Name, need, p.Share, d.After, d.Reasons)
		}
	}
}

// checkMaxMin asserts the weighted max-min fairness of the fills
// with hysteresis off. A project's position is its fill level (up to its
// base, up to its demand, up to its target for a borrower, then up to its
// target for a lender) and its progress in that level per unit of weight. Every project short of its target has a full broker
// on which no other project is further along.
func checkMaxMin(t *testing.T, g *group, pl Plan) {
	t.Helper()
	s := &g.state
	o := s.Options.withDefaults()
	load := make([]float64, len(s.Brokers))
	for i, d := range pl.Decisions {
		for _, l := range s.Projects[i].Loads {
			load[l.Broker] += d.After
		}
	}
	type pos struct {
		level int
		x     float64
	}
	// positionOf places project i; a project at the end of a level is
	// placed there when it stopped at its goal (atEnd), or at the start of
	// the next level when it was still filling (the limited project).
	positionOf := func(i int, atEnd bool) pos {
		p := &s.Projects[i]
		d := &pl.Decisions[i]
		fl := max(p.Floor, o.MinQuota)
		base := min(max(min(d.Demand*(1+o.LenderSpare), d.Target, p.Share), fl), p.Ceiling)
		mid := max(base, min(d.Demand, d.Target))
		w := weightOf(p)
		// Above mid, projects whose demand exceeds their base fill
		// first (level 3); lenders take spare above their base after
		// them (level 4).
		top := 3
		if !(d.Demand > base) {
			top = 4
		}
		if !atEnd {
			switch {
			case d.After >= mid*(1-1e-7):
				return pos{top, max(0, d.After-mid) / w}
			case d.After >= base*(1-1e-7):
				return pos{2, max(0, d.After-base) / w}
			}
			return pos{1, (d.After - fl) / w}
		}
		switch {
		case d.After < base*(1-1e-7):
			return pos{1, (d.After - fl) / w}
		case d.After <= base*(1+1e-7):
			return pos{1, (base - fl) / w}
		case d.After < mid*(1-1e-7):
			return pos{2, (d.After - base) / w}
		case d.After <= mid*(1+1e-7):
			return pos{2, (mid - base) / w}
		default:
			return pos{top, (d.After - mid) / w}
		}
	}
	position := func(i int) pos { return positionOf(i, true) }
	further := func(a, b pos) bool { // a further along than b
		if a.level != b.level {
			return a.level > b.level
		}
		return a.x > b.x*(1+1e-6)+1e-3
	}
	for i, d := range pl.Decisions {
		// The pool: in strict mode nothing is left unassigned, so every
		// project not held ends at its ceiling or on a full broker.
		if !o.Overcommit && !d.Has(ReasonHeldMissingData) && !d.Has(ReasonHeldBadInput) && d.After < s.Projects[i].Ceiling*(1-1e-7) {
			full := false
			for _, l := range s.Projects[i].Loads {
				full = full || load[l.Broker] >= s.Brokers[l.Broker].Capacity*s.Margin*(1-1e-7)
			}
			if !full {
				for _, l := range s.Projects[i].Loads {
					t.Logf("broker %d load %.0f safe %.0f", l.Broker, load[l.Broker], s.Brokers[l.Broker].Capacity*s.Margin)
				}
				t.Fatalf("%s: quota %.0f (ideal %.0f, before %.0f, reasons %v) below its ceiling %.0f and no broker of it is full: capacity left unassigned", d.Project, d.After, d.Ideal, d.Before, d.Reasons, s.Projects[i].Ceiling)
			}
		}
		if d.After >= d.Target*(1-1e-7) {
			continue
		}
		if !d.Has(ReasonLimitedByCapacity) {
			t.Fatalf("%s: short of target without limited_by_capacity: %v", d.Project, d.Reasons)
		}
		pi := positionOf(i, false)
		ok := false
		for _, l := range s.Projects[i].Loads {
			b := l.Broker
			if load[b] < s.Brokers[b].Capacity*s.Margin*(1-1e-7) {
				continue
			}
			worst := true
			for j := range s.Projects {
				if j == i {
					continue
				}
				for _, l2 := range s.Projects[j].Loads {
					if l2.Broker == b && further(position(j), pi) {
						t.Logf("broker %d: %s at %+v (after %.0f demand %.0f target %.0f share %.0f) further than %s", b, pl.Decisions[j].Project, position(j), pl.Decisions[j].After, pl.Decisions[j].Demand, pl.Decisions[j].Target, s.Projects[j].Share, d.Project)
						worst = false
					}
				}
			}
			if worst {
				ok = true
				break
			}
		}
		if !ok {
			for b := range s.Brokers {
				t.Logf("broker %d load %.0f safe %.0f", b, load[b], s.Brokers[b].Capacity*s.Margin)
			}
			for j, p := range s.Projects {
				var bs []int
				for _, l := range p.Loads {
					bs = append(bs, l.Broker)
				}
				t.Logf("%s w %.2f brokers %v after %.0f pos %+v dem %.0f target %.0f share %.0f %v", p.Name, p.Weight, bs, pl.Decisions[j].After, position(j), pl.Decisions[j].Demand, pl.Decisions[j].Target, p.Share, pl.Decisions[j].Reasons)
			}
			t.Fatalf("%s: quota %.0f short of target %.0f but no full broker where it is the least served (position %+v)", d.Project, d.After, d.Target, pi)
		}
	}
}

func weightOf(p *Project) float64 {
	if p.Weight > 0 {
		return p.Weight
	}
	return 1
}

func TestAllocateProperties(t *testing.T) {
	const groups = 1500
	cases := []struct {
		name string
		opts Options
	}{
		{"no hysteresis", Options{}},
		{"hysteresis and headroom", Options{Hysteresis: 0.05, Headroom: 0.1}},
		{"lender spare, no hysteresis", Options{Headroom: 0.1, LenderSpare: 0.05}},
		{"overcommit", Options{Overcommit: true, Headroom: 0.1, LenderSpare: 0.05}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, 2))
			for n := range groups {
				g := randomGroup(r, tc.opts)
				ok := t.Run(fmt.Sprintf("group%d", n), func(t *testing.T) {
					for round := range 4 {
						g.observe(nil, 0)
						pl := Allocate(&g.state)
						checkStatic(t, g, pl)
						if round > 0 {
							// From the second round every throttled
							// project's demand has been estimated.
							checkReclaim(t, g, pl)
						}
						if tc.opts.Hysteresis == 0 {
							checkMaxMin(t, g, pl)
						}
						g.apply(pl)
					}
				})
				if !ok {
					return
				}
			}
		})
	}
}

// TestReclaimWithinOneRound lets borrowers borrow until steady, then brings
// random lenders' demand back to at most their share: the very next plan
// serves them, and only borrowers lose quota.
func TestReclaimWithinOneRound(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for n := range 1000 {
		g := randomGroup(r, Options{Hysteresis: 0.05, Headroom: 0.1, LenderSpare: 0.05})
		for range 6 {
			g.observe(nil, 0)
			g.apply(Allocate(&g.state))
		}
		returning := map[int]bool{}
		for i := range g.state.Projects {
			p := &g.state.Projects[i]
			if r.IntN(2) == 0 || p.Quota >= p.Share {
				continue
			}
			returning[i] = true
			level := p.Share * (0.5 + 0.5*r.Float64())
			for k := range g.demand[i] {
				g.demand[i][k] = level * (0.5 + 0.5*r.Float64())
			}
			g.demand[i][0] = min(level, p.Ceiling)
		}
		before := make([]float64, len(g.state.Projects))
		for i := range g.state.Projects {
			before[i] = g.state.Projects[i].Quota
		}
		// The round the lender comes back: it is throttled, and its
		// throttle time tells its demand.
		g.observe(nil, 0)
		pl := Allocate(&g.state)
		checkStatic(t, g, pl)
		for i := range returning {
			if need, q := g.need(i), pl.Decisions[i].After; q < need*(1-tol) {
				t.Fatalf("group %d: lender %s wants %.0f within share %.0f, got %.0f (reasons %v)",
					n, g.state.Projects[i].Name, need, g.state.Projects[i].Share, q, pl.Decisions[i].Reasons)
			}
		}
		// Borrowers cut first: a project that lost quota and was not
		// borrowing must still have all it needs.
		for i, d := range pl.Decisions {
			p := &g.state.Projects[i]
			if d.After < before[i]*(1-tol) && before[i] <= p.Share && d.After < min(g.need(i), p.Share)*(1-tol) {
				t.Fatalf("group %d: non-borrower %s cut from %.0f to %.0f below its demand %.0f", n, p.Name, before[i], d.After, g.need(i))
			}
		}
	}
}

// TestSteadyDemandConverges runs random groups at steady demand with
// observation noise: after a few rounds the plan stops writing.
func TestSteadyDemandConverges(t *testing.T) {
	cases := []struct {
		name  string
		noise float64
	}{
		{"exact", 0},
		// Rate is the detector's denoised signal; 1% is what is left of
		// the noise after denoising.
		{"1% noise", 0.01},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(5, 6))
			noise := rand.New(rand.NewPCG(7, 8))
			var late, projects int
			for n := range 400 {
				g := randomGroup(r, Options{Hysteresis: 0.05, Headroom: 0.1, LenderSpare: 0.05})
				projects += len(g.state.Projects)
				for round := range 60 {
					g.observe(noise, tc.noise)
					pl := Allocate(&g.state)
					checkStatic(t, g, pl)
					for _, d := range pl.Decisions {
						if d.Write && round >= 20 {
							late++
							if tc.noise == 0 {
								t.Fatalf("group %d round %d: %s still written %.0f -> %.0f (reasons %v)", n, round, d.Project, d.Before, d.After, d.Reasons)
							}
						}
					}
					g.apply(pl)
				}
			}
			// With noise, a write in the last 40 rounds must stay rare:
			// on average under one per twenty projects.
			if rate := float64(late) / float64(projects); rate > 0.05 {
				t.Fatalf("%d late writes over %d projects (%.3f per project in 40 rounds): the plan flaps", late, projects, rate)
			}
			t.Logf("%d late writes over %d projects", late, projects)
		})
	}
}
