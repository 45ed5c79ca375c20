package sim

import (
	"fmt"
	"math"
	"slices"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/optimize/convex/lp"
)

// oracle-kafka and oracle-causal set one quota per project, applied on
// every broker it leads partitions on, as Kafka does; on broker b project p
// is served min(d_pb, q_p). Both keep strict safety (Σ of the quotas of the
// projects on a broker ≤ margin × capacity) and each project's ceiling, and
// keep its floor where the floors fit.
//
// oracle-kafka knows the round's true demand d_pb and solves
//
//	maximise   Σ_p Σ_b s_pb
//	subject to s_pb ≤ d_pb,  s_pb ≤ q_p,
//	           Σ_{p on b} q_p ≤ safe_b,  floor_p ≤ q_p ≤ ceiling_p.
//
// For a given q_p the best s_pb is min(d_pb, q_p), so the program is the
// maximisation of Σ_p g_p(q_p) with g_p(q) = Σ_b min(d_pb, q): concave and
// piecewise linear with breakpoints at the d_pb, so it is written as a
// linear program over the segments of each g_p (q_p = floor_p + Σ_k x_pk,
// 0 ≤ x_pk ≤ length_k, gain slope_k = the number of brokers whose demand
// exceeds the segment), which the simplex fills in order because the
// slopes fall.
//
// oracle-causal knows each round's demand without its noise draw (μ_p:
// level, steps, waves, spikes, flash crowds, traces) and the noise's
// distribution (D_p = max(0, μ_p (1 + σ_p Z)), Z standard normal), not the
// draw. It minimises the expected throttled rate Σ_p Σ_b E[(w_pb D_p − q_p)+]
// under the same constraints: a convex separable objective, replaced by its
// chords at breakpoints around the hottest broker's share of μ_p (μ(1 + σz)
// for z from −2 to 3) and at every broker's share of μ_p, and solved by the same linear program. Its quota is then
// served against the true demand like oracle-kafka's, so on every round
// oracle-kafka throttles no more than oracle-causal: oracle-causal's quotas
// are a feasible point of oracle-kafka's program.
//
// Only brokers where the projects' largest useful quotas (the hottest
// demand for oracle-kafka, 8 standard deviations above it for
// oracle-causal, within the ceiling) do not fit are constraints: elsewhere
// every project can have all it can use. Projects that touch no such
// broker get that quota without a solve; the rest are split into connected
// components of the project–broker graph, one program each.
type kafkaOracle struct {
	g       *Group
	causal  bool
	members [][]int // projects per broker

	// scratch, reused round after round
	hi, lo   []float64
	tight    []bool
	comp     []int // component per project, -1 none
	parent   []int
	points   []float64
	solves   int
	restarts int
	exemptLoad
}

func init() {
	Register("oracle-kafka",
		"perfect foresight with Kafka's one quota per project on every broker, strict safety: an LP over all brokers (gonum optimize/convex/lp); the bound for strict policies",
		func(g *Group) (Policy, error) { return newKafkaOracle(g, false), nil })
	Register("oracle-causal",
		"one quota per project under strict safety from each round's demand without its noise draw and the noise's distribution, minimising expected throttling (LP over chords, gonum); what a causal policy could hope for",
		func(g *Group) (Policy, error) {
			if g.scen == nil {
				return nil, fmt.Errorf("oracle-causal needs the scenario of group %s", g.Scenario)
			}
			return newKafkaOracle(g, true), nil
		})
}

func newKafkaOracle(g *Group, causal bool) *kafkaOracle {
	n := len(g.Projects)
	o := &kafkaOracle{
		g: g, causal: causal,
		members: make([][]int, g.Brokers),
		hi:      make([]float64, n),
		lo:      make([]float64, n),
		tight:   make([]bool, g.Brokers),
		comp:    make([]int, n),
		parent:  make([]int, n),

		exemptLoad: exemptLoad{safe: g.SafeCapacity},
	}
	for i, p := range g.Projects {
		for _, bw := range p.Placement {
			o.members[bw.Broker] = append(o.members[bw.Broker], i)
		}
	}
	return o
}

// Plan is never called for a Foresight policy.
func (o *kafkaOracle) Plan(*Observation, []float64) error { return nil }

// causalTail is how many standard deviations above the mean a quota stops
// being worth anything to oracle-causal.
const causalTail = 8.0

// causalZ are the breakpoints of oracle-causal's chords, in standard
// deviations from each broker's mean demand.
var causalZ = []float64{-2, -1, -0.5, 0, 0.5, 1, 2, 3}

// mean returns project i's demand without noise in round r and its noise.
func (o *kafkaOracle) mean(i, r int) (mu, sigma float64) {
	s := o.g.scen
	return s.RateMean(i, o.g.Direction, r), s.Noise(i, o.g.Direction)
}

// Quotas implements Foresight.
func (o *kafkaOracle) Quotas(r int, demand [][]float64, quotas []float64) error {
	g := o.g
	for i, p := range g.Projects {
		var top float64
		if o.causal {
			mu, sigma := o.mean(i, r)
			top = p.Hottest * mu * (1 + causalTail*sigma)
		} else {
			for _, d := range demand[i] {
				top = max(top, d)
			}
		}
		o.lo[i] = p.Floor
		o.hi[i] = max(p.Floor, min(p.Ceiling, top))
		quotas[i] = o.hi[i]
		o.comp[i] = -1
		o.parent[i] = i
	}
	any := false
	for b, ms := range o.members {
		var sum float64
		for _, i := range ms {
			sum += o.hi[i]
		}
		o.tight[b] = sum > o.safeAt(b)*(1+1e-12)
		any = any || o.tight[b]
	}
	if !any {
		return nil
	}
	// Components of the projects on tight brokers.
	var find func(int) int
	find = func(x int) int {
		for o.parent[x] != x {
			o.parent[x] = o.parent[o.parent[x]]
			x = o.parent[x]
		}
		return x
	}
	for b, ms := range o.members {
		if !o.tight[b] || len(ms) == 0 {
			continue
		}
		r0 := find(ms[0])
		for _, i := range ms[1:] {
			if ri := find(i); ri != r0 {
				o.parent[ri] = r0
			}
		}
	}
	comps := map[int][]int{}
	var roots []int
	for b, ms := range o.members {
		if !o.tight[b] {
			continue
		}
		for _, i := range ms {
			if o.comp[i] >= 0 {
				continue
			}
			root := find(i)
			o.comp[i] = root
			if _, ok := comps[root]; !ok {
				roots = append(roots, root)
			}
			comps[root] = append(comps[root], i)
		}
	}
	for _, root := range roots {
		if err := o.solve(r, comps[root], demand, quotas); err != nil {
			return fmt.Errorf("%s: round %d: %w", o.name(), r, err)
		}
	}
	return nil
}

func (o *kafkaOracle) name() string {
	if o.causal {
		return "oracle-causal"
	}
	return "oracle-kafka"
}

// segment is one piece of a project's objective.
type segment struct {
	project int
	length  float64
	cost    float64 // per byte/s of quota: −gain for oracle-kafka, Δ expected throttling for oracle-causal
}

// objective returns the project's objective at quota q: minus what it is
// served (oracle-kafka) or its expected throttled rate (oracle-causal).
func (o *kafkaOracle) objective(i, r int, demand [][]float64, q float64) float64 {
	var v float64
	if !o.causal {
		for _, d := range demand[i] {
			v -= min(d, q)
		}
		return v
	}
	mu, sigma := o.mean(i, r)
	for _, bw := range o.g.Projects[i].Placement {
		v += expectedShortfall(bw.Weight*mu, bw.Weight*mu*sigma, q)
	}
	return v
}

// expectedShortfall is E[(max(0, X) − q)+] for X normal with mean m and
// standard deviation s, q ≥ 0: s φ(z) + (m − q)(1 − Φ(z)), z = (q − m)/s.
func expectedShortfall(m, s, q float64) float64 {
	if s <= 0 {
		return max(0, m-q)
	}
	z := (q - m) / s
	phi := math.Exp(-z*z/2) / math.Sqrt(2*math.Pi)
	tail := 0.5 * math.Erfc(z/math.Sqrt2)
	return max(0, s*phi+(m-q)*tail)
}

// solve runs the program of one component and writes its quotas: the
// component's tight brokers, its projects' floors where they fit, each
// project's objective as segments, then the linear program over the
// segments with the brokers' safe capacity as constraints.
func (o *kafkaOracle) solve(r int, projects []int, demand [][]float64, quotas []float64) error {
	brokers := o.tightBrokers(projects)
	o.fitFloors(projects, brokers)
	var segs []segment
	for _, i := range projects {
		segs = o.segments(segs, i, r, demand)
	}
	if len(segs) == 0 {
		for _, i := range projects {
			quotas[i] = o.lo[i]
		}
		return nil
	}
	x, err := o.program(segs, brokers)
	if err != nil {
		return err
	}
	for _, i := range projects {
		quotas[i] = o.lo[i]
	}
	for k, sg := range segs {
		quotas[sg.project] += max(0, min(x[k]*lpUnit, sg.length))
	}
	o.keepSafe(brokers, quotas)
	return nil
}

// tightBrokers returns, in order, the tight brokers the component's
// projects are placed on.
func (o *kafkaOracle) tightBrokers(projects []int) []int {
	var brokers []int
	seenB := map[int]bool{}
	for _, i := range projects {
		for _, bw := range o.g.Projects[i].Placement {
			if o.tight[bw.Broker] && !seenB[bw.Broker] {
				seenB[bw.Broker] = true
				brokers = append(brokers, bw.Broker)
			}
		}
	}
	slices.Sort(brokers)
	return brokers
}

// fitFloors keeps the floors where they fit: if they do not on some
// broker, the component's projects start from nothing.
func (o *kafkaOracle) fitFloors(projects, brokers []int) {
	for _, b := range brokers {
		var sum float64
		for _, i := range o.members[b] {
			sum += o.lo[i]
		}
		if sum > o.safeAt(b) {
			for _, i := range projects {
				o.lo[i] = 0
			}
			return
		}
	}
}

// segments appends project i's objective between its floor and its
// ceiling as segments of constant cost, cut at the points where the
// objective bends.
func (o *kafkaOracle) segments(segs []segment, i, r int, demand [][]float64) []segment {
	g := o.g
	lo, hi := o.lo[i], o.hi[i]
	pts := append(o.points[:0], lo, hi)
	if o.causal {
		mu, sigma := o.mean(i, r)
		// Chords around the hottest broker's demand, where the
		// quota binds first, and at every other broker's mean:
		// few segments keep the simplex small.
		hot := g.Projects[i].Hottest * mu
		for _, bw := range g.Projects[i].Placement {
			pts = append(pts, bw.Weight*mu)
		}
		if sigma > 0 {
			for _, z := range causalZ {
				pts = append(pts, hot*(1+sigma*z))
			}
		}
	} else {
		pts = append(pts, demand[i]...)
	}
	for k := range pts {
		pts[k] = max(lo, min(hi, pts[k]))
	}
	slices.Sort(pts)
	pts = slices.Compact(pts)
	o.points = pts
	prev := o.objective(i, r, demand, pts[0])
	for k := 1; k < len(pts); k++ {
		l := pts[k] - pts[k-1]
		if l <= 1e-9*max(1, pts[k]) {
			continue
		}
		v := o.objective(i, r, demand, pts[k])
		segs = append(segs, segment{project: i, length: l, cost: (v - prev) / l})
		prev = v
	}
	return segs
}

// lpUnit scales rates to MiB/s so that the simplex works on numbers near
// one.
const lpUnit = 1 << 20

// program builds and solves the linear program over the segments: each
// segment's quota between zero and its length, the segments of the
// projects on each tight broker within what its safe capacity leaves above
// the floors. It returns each segment's quota in lpUnit.
func (o *kafkaOracle) program(segs []segment, brokers []int) ([]float64, error) {
	g := o.g
	ns, nb := len(segs), len(brokers)
	rows, cols := ns+nb, 2*ns+nb
	a := mat.NewDense(rows, cols, nil)
	c := make([]float64, cols)
	bv := make([]float64, rows)
	basic := make([]int, rows)
	row := make(map[int]int, nb)
	for t, b := range brokers {
		row[b] = ns + t
		left := o.safeAt(b)
		for _, i := range o.members[b] {
			left -= o.lo[i]
		}
		bv[ns+t] = max(0, left)
		a.Set(ns+t, 2*ns+t, 1)
		basic[ns+t] = 2*ns + t
	}
	for k, sg := range segs {
		c[k] = sg.cost
		a.Set(k, k, 1)
		a.Set(k, ns+k, 1)
		bv[k] = sg.length / lpUnit
		basic[k] = ns + k
		for _, bw := range g.Projects[sg.project].Placement {
			if rr, ok := row[bw.Broker]; ok {
				a.Set(rr, k, 1)
			}
		}
	}
	for t := range brokers {
		bv[ns+t] /= lpUnit
	}
	o.crash(segs, brokers, row, bv, basic)
	o.solves++
	_, x, err := lp.Simplex(c, a, bv, 1e-10, basic)
	if err != nil {
		o.restarts++
		if _, x, err = lp.Simplex(c, a, bv, 1e-10, nil); err != nil {
			return nil, err
		}
	}
	return x, nil
}

// keepSafe keeps rounding from breaking strict safety: it scales a
// broker's component quotas above their floors down if they do.
func (o *kafkaOracle) keepSafe(brokers []int, quotas []float64) {
	for _, b := range brokers {
		var sum, above float64
		for _, i := range o.members[b] {
			sum += quotas[i]
			above += quotas[i] - o.lo[i]
		}
		if over := sum - o.safeAt(b); over > 0 && above > 0 {
			f := max(0, 1-over/above)
			for _, i := range o.members[b] {
				quotas[i] = o.lo[i] + (quotas[i]-o.lo[i])*f
			}
		}
	}
}

// crash fills basic with the basis of a greedy plan, so that the simplex
// starts near the optimum instead of from nothing: segments in order of
// cost, each as far as its tight brokers have room. A segment at its
// length has x basic, one left empty its slack u, and one cut short by a
// broker both x and u, with that broker's slack z leaving the basis;
// every other broker keeps z. The plan is feasible, so the basis is too.
func (o *kafkaOracle) crash(segs []segment, brokers []int, row map[int]int, bv []float64, basic []int) {
	ns, nb := len(segs), len(brokers)
	left := make([]float64, nb)
	copy(left, bv[ns:])
	order := make([]int, ns)
	for k := range order {
		order[k] = k
	}
	slices.SortStableFunc(order, func(x, y int) int {
		switch {
		case segs[x].cost < segs[y].cost:
			return -1
		case segs[x].cost > segs[y].cost:
			return 1
		}
		return 0
	})
	taken := make([]bool, nb)
	basic = basic[:0]
	for _, k := range order {
		sg := segs[k]
		length := sg.length / lpUnit
		if sg.cost >= 0 {
			basic = append(basic, ns+k) // u_k = length
			continue
		}
		lim, arg := length, -1
		for _, bw := range o.g.Projects[sg.project].Placement {
			if rr, ok := row[bw.Broker]; ok && left[rr-ns] < lim {
				lim, arg = left[rr-ns], rr-ns
			}
		}
		lim = max(lim, 0)
		for _, bw := range o.g.Projects[sg.project].Placement {
			if rr, ok := row[bw.Broker]; ok {
				left[rr-ns] -= lim
			}
		}
		switch {
		case lim >= length:
			basic = append(basic, k)
		case lim <= 0:
			basic = append(basic, ns+k)
		default:
			basic = append(basic, k, ns+k)
			taken[arg] = true
		}
	}
	for t := range nb {
		if !taken[t] {
			basic = append(basic, 2*ns+t)
		}
	}
	slices.Sort(basic)
}
