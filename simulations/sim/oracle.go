package sim

import (
	"fmt"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/optimize/convex/lp"
)

// The oracle is the physical limit: in every round it knows that round's
// true demand and serves as much of it as the brokers' safe capacity
// allows. Its linear program, per round and direction, is
//
//	maximise   Σ_{p,b} s_pb
//	subject to 0 ≤ s_pb ≤ u_pb = min(d_pb, ceiling_p)   for each project p on broker b
//	           Σ_p s_pb ≤ margin × capacity_b            for each broker b
//
// where d_pb is project p's demand on broker b. Any policy that keeps every
// broker within its safe capacity and every project within its ceiling
// serves a feasible point of this program, so none can throttle less than
// the oracle. It is a bound, not a plan: Kafka applies one quota per entity
// on every broker and cannot throttle a project on one broker only, so the
// bound may not be reachable, which is what makes it a bound.
//
// No constraint links two brokers, so the program splits into one small
// program per broker, solved with gonum's simplex. A broker whose demand
// fits its capacity has the obvious optimum s = u and is settled without
// calling the solver (a presolve step); the others are solved in standard
// form
//
//	minimise  -Σ s_j
//	subject to s_j + t_j = u_j,  Σ s_j + z = safe,  s, t, z ≥ 0.
//
// The simplex starts from a crash basis filled greedily: projects are
// served in full in order until the capacity runs out, the one at the
// boundary in part. It is feasible, and the simplex proves it optimal with
// a single factorisation instead of pivoting up from nothing served, which
// is some hundred times faster on 60-project brokers. Should rounding make
// the crash basis infeasible, the solve restarts from the slack basis
// {t, z} (nothing served).
type oracle struct {
	g       *Group
	members [][]member
	// solves counts the programs handed to the simplex, restarts those
	// whose crash basis rounding made infeasible.
	solves, restarts int
	a                *mat.Dense
	c, b             []float64
	basic            []int
	exemptLoad
}

type member struct{ project, slot int }

func init() {
	Register("oracle",
		"perfect foresight: each round's demand served up to every broker's safe capacity, by linear programming (gonum optimize/convex/lp); a lower bound on throttling",
		func(g *Group) (Policy, error) { return newOracle(g), nil })
}

func newOracle(g *Group) *oracle {
	o := &oracle{g: g, members: make([][]member, g.Brokers), exemptLoad: exemptLoad{safe: g.SafeCapacity}}
	for i, p := range g.Projects {
		for j, bw := range p.Placement {
			o.members[bw.Broker] = append(o.members[bw.Broker], member{i, j})
		}
	}
	return o
}

// Plan is never called for a Clairvoyant policy; it keeps quotas as they are.
func (o *oracle) Plan(*Observation, []float64) error { return nil }

// Serve solves the round's program broker by broker.
func (o *oracle) Serve(demand, served [][]float64) error {
	var u []float64
	for b, ms := range o.members {
		safe := o.safeAt(b)
		u = u[:0]
		var sum float64
		for _, m := range ms {
			v := max(0, min(demand[m.project][m.slot], o.g.Projects[m.project].Ceiling))
			u = append(u, v)
			sum += v
		}
		if sum <= safe {
			for k, m := range ms {
				served[m.project][m.slot] = u[k]
			}
			continue
		}
		s, err := o.solve(u, safe)
		if err != nil {
			return fmt.Errorf("oracle: broker %d: %w", b, err)
		}
		for k, m := range ms {
			served[m.project][m.slot] = s[k]
		}
	}
	return nil
}

// solve maximises Σ s subject to 0 ≤ s ≤ u and Σ s ≤ safe with the simplex.
func (o *oracle) solve(u []float64, safe float64) ([]float64, error) {
	o.solves++
	k := len(u)
	n := 2*k + 1
	rows := k + 1
	if o.a == nil || o.a.RawMatrix().Rows != rows {
		o.a = mat.NewDense(rows, n, nil)
		o.c = make([]float64, n)
		o.b = make([]float64, rows)
		o.basic = make([]int, rows)
	} else {
		o.a.Zero()
		clear(o.c)
	}
	for j := range k {
		o.c[j] = -1
		o.a.Set(j, j, 1)   // s_j
		o.a.Set(j, k+j, 1) // t_j
		o.a.Set(k, j, 1)   // Σ s_j
		o.b[j] = u[j]
	}
	o.a.Set(k, 2*k, 1) // z
	o.b[k] = safe
	_, x, err := lp.Simplex(o.c, o.a, o.b, 0, o.crashBasis(u, safe))
	if err != nil {
		o.restarts++
		for j := range k {
			o.basic[j] = k + j
		}
		o.basic[k] = 2 * k
		if _, x, err = lp.Simplex(o.c, o.a, o.b, 0, o.basic); err != nil {
			return nil, err
		}
	}
	s := x[:k]
	for j := range s {
		s[j] = max(0, min(s[j], u[j]))
	}
	return s, nil
}

// crashBasis fills the basis greedily: s_j for the projects served in full,
// t_j for those not served, and both s and t for the one at the capacity
// boundary. If everything fits, z takes the boundary's place.
func (o *oracle) crashBasis(u []float64, safe float64) []int {
	k := len(u)
	basic := o.basic[:0]
	left := safe
	split := -1
	for j := range k {
		switch {
		case split < 0 && u[j] <= left:
			left -= u[j]
			basic = append(basic, j) // s_j = u_j
		case split < 0:
			split = j
			basic = append(basic, j, k+j) // s_j = left, t_j = u_j - left
		default:
			basic = append(basic, k+j) // t_j = u_j
		}
	}
	if split < 0 {
		basic = append(basic, 2*k) // z = safe - Σu
	}
	return basic
}
