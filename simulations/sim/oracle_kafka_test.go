package sim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/headroomhq/headroom/config"
	"github.com/headroomhq/headroom/simulations/scenario"
)

// randomGroup builds a small group: n projects on up to 3 brokers with
// random placements, floors and ceilings, and random demand per broker.
func randomGroup(rng *rand.Rand, n, brokers int) (*Group, [][]float64) {
	g := &Group{Scenario: "random", Brokers: brokers, Capacity: 100, SafeCapacity: 90}
	demand := make([][]float64, n)
	for i := range n {
		p := Project{Name: fmt.Sprintf("p%d", i), Share: 90 / float64(n), Weight: 1}
		p.Floor = p.Share * rng.Float64() * 0.5
		p.Ceiling = 90 * (0.3 + 0.7*rng.Float64())
		k := 1 + rng.IntN(brokers)
		start := rng.IntN(brokers)
		for j := range k {
			p.Placement = append(p.Placement, scenario.BrokerWeight{Broker: (start + j) % brokers, Weight: 1 / float64(k)})
			demand[i] = append(demand[i], 80*rng.Float64())
		}
		for _, bw := range p.Placement {
			p.Hottest = max(p.Hottest, bw.Weight)
		}
		g.Projects = append(g.Projects, p)
	}
	return g, demand
}

func feasible(g *Group, q []float64) bool {
	sums := make([]float64, g.Brokers)
	for i, p := range g.Projects {
		if q[i] < p.Floor-1e-6 || q[i] > p.Ceiling+1e-6 {
			return false
		}
		for _, bw := range p.Placement {
			sums[bw.Broker] += q[i]
		}
	}
	for _, s := range sums {
		if s > g.SafeCapacity*(1+1e-9) {
			return false
		}
	}
	return true
}

func servedBy(demand [][]float64, q []float64) float64 {
	var s float64
	for i := range demand {
		for _, d := range demand[i] {
			s += min(d, q[i])
		}
	}
	return s
}

// oracle-kafka against brute force: a grid over every project's quota
// (its floor to its ceiling in 1/120ths) for two and three projects. The
// LP's plan must be feasible, serve at least what the best grid point
// serves, and at most that plus what the grid's coarseness can lose.
func TestOracleKafkaMatchesBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for n := range 60 {
		np := 2 + n%2
		g, demand := randomGroup(rng, np, 1+rng.IntN(3))
		o := newKafkaOracle(g, false)
		q := make([]float64, np)
		if err := o.Quotas(0, demand, q); err != nil {
			t.Fatalf("instance %d: %v", n, err)
		}
		if !feasible(g, q) {
			t.Fatalf("instance %d: plan %v breaks safety, floor or ceiling", n, q)
		}
		got := servedBy(demand, q)
		const steps = 120
		best := math.Inf(-1)
		cand := make([]float64, np)
		var walk func(k int)
		walk = func(k int) {
			if k == np {
				if feasible(g, cand) {
					best = max(best, servedBy(demand, cand))
				}
				return
			}
			p := g.Projects[k]
			for s := 0; s <= steps; s++ {
				cand[k] = p.Floor + (p.Ceiling-p.Floor)*float64(s)/steps
				walk(k + 1)
			}
		}
		walk(0)
		// The grid point below the optimum loses at most one step per
		// project on each broker.
		slack := 0.0
		for _, p := range g.Projects {
			slack += (p.Ceiling - p.Floor) / steps * float64(len(p.Placement))
		}
		if got < best-1e-6 || got > best+slack+1e-6 {
			t.Fatalf("instance %d: LP serves %v, brute force %v (slack %v); plan %v", n, got, best, slack, q)
		}
	}
}

// oracle-causal minimises expected throttling: on small instances its
// plan is feasible and its expected throttling is within 2% (or a
// thousandth of the mean demand) of the best grid point's.
func TestOracleCausalMatchesBruteForce(t *testing.T) {
	s, err := scenario.Parse([]byte(`
name: causal
round: 10s
duration: 1m
brokers: {count: 2, capacity: {produce: 100MiB/s, fetch: 100MiB/s}}
projects:
  - {name: a, placement: {0: 1, 1: 1}, produce: {share: 30MiB/s, floor: 0}, fetch: {share: 30MiB/s}, demand: {produce: {base: 100MiB/s, noise: 0.2}}}
  - {name: b, placement: {0: 3, 1: 1}, produce: {share: 30MiB/s, floor: 0}, fetch: {share: 30MiB/s}, demand: {produce: {base: 60MiB/s, noise: 0.1}}}
  - {name: c, placement: {1: 1}, produce: {share: 30MiB/s, floor: 0}, fetch: {share: 30MiB/s}, demand: {produce: {base: 30MiB/s, noise: 0.3}}}
`), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	g := NewGroup(s, config.Produce)
	o := newKafkaOracle(g, true)
	q := make([]float64, 3)
	demand := [][]float64{{0, 0}, {0, 0}, {0}}
	if err := o.Quotas(0, demand, q); err != nil {
		t.Fatal(err)
	}
	if !feasible(g, q) {
		t.Fatalf("plan %v breaks safety, floor or ceiling", q)
	}
	expected := func(q []float64) float64 {
		var v float64
		for i := range q {
			v += o.objective(i, 0, demand, q[i])
		}
		return v
	}
	got := expected(q)
	best := math.Inf(1)
	const steps = 90
	cand := make([]float64, 3)
	for x := 0; x <= steps; x++ {
		for y := 0; y <= steps; y++ {
			for z := 0; z <= steps; z++ {
				cand[0], cand[1], cand[2] = g.SafeCapacity*float64(x)/steps, g.SafeCapacity*float64(y)/steps, g.SafeCapacity*float64(z)/steps
				if feasible(g, cand) {
					best = min(best, expected(cand))
				}
			}
		}
	}
	if got > best*1.02+0.001*190*mib {
		t.Errorf("expected throttling %v MiB/s at plan %v MiB/s; brute force finds %v", got/mib, []float64{q[0] / mib, q[1] / mib, q[2] / mib}, best/mib)
	}
	t.Logf("expected throttling %.3f MiB/s, brute force %.3f MiB/s", got/mib, best/mib)
}

func TestExpectedShortfall(t *testing.T) {
	// Against a numerical integral of (max(0, x) - q)+ under the normal
	// density.
	for _, c := range []struct{ m, s, q float64 }{{10, 2, 9}, {10, 2, 14}, {10, 0, 7}, {1, 2, 0.5}, {5, 1, 0}} {
		want := 0.0
		if c.s == 0 {
			want = max(0, c.m-c.q)
		} else {
			const n = 200000
			lo, hi := c.m-12*c.s, c.m+12*c.s
			h := (hi - lo) / n
			for k := range n {
				x := lo + (float64(k)+0.5)*h
				pdf := math.Exp(-(x-c.m)*(x-c.m)/(2*c.s*c.s)) / (c.s * math.Sqrt(2*math.Pi))
				want += max(0, max(0, x)-c.q) * pdf * h
			}
		}
		if got := expectedShortfall(c.m, c.s, c.q); math.Abs(got-want) > 1e-6*max(1, want) {
			t.Errorf("E[(X-%v)+] for N(%v, %v²): %v, want %v", c.q, c.m, c.s, got, want)
		}
	}
}
