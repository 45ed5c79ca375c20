package sim

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/headroomhq/headroom/limiter"
	"github.com/headroomhq/headroom/simulations/scenario"
)

// BenchmarkRound measures one round (both directions, demand included) per
// op for each policy on the scale case and on the saturated group (whose
// first rounds, before its peak, solve no LP). The scale case is also run
// with its capacity cut to 40% as saturated-1000x100, so that every broker
// saturates and the oracle solves one program per broker and direction
// every round; that one takes about two seconds per round.
//
//	go test -run '^$' -bench 'Round/(scale-1000x100|saturated-group)/' -benchtime 200x ./simulations/sim/
//	go test -run '^$' -bench 'Round/saturated-1000x100/' -benchtime 5x ./simulations/sim/
func BenchmarkRound(b *testing.B) {
	scale, err := scenario.Load("../scenarios/scale-1000x100.yaml")
	if err != nil {
		b.Fatal(err)
	}
	saturated, err := scenario.Load("../scenarios/saturated-group.yaml")
	if err != nil {
		b.Fatal(err)
	}
	// Loaded twice so that the cut does not touch the scale case.
	scaleCut, err := scenario.Load("../scenarios/scale-1000x100.yaml")
	if err != nil {
		b.Fatal(err)
	}
	scaleCut.Name = "saturated-1000x100"
	scaleCut.Brokers.Capacity.Produce *= 0.4
	scaleCut.Brokers.Capacity.Fetch *= 0.4

	for _, s := range []*scenario.Scenario{scale, saturated} {
		for _, p := range realPolicies() {
			b.Run(s.Name+"/"+p, func(b *testing.B) { benchRun(b, s, p) })
		}
	}
	b.Run(scaleCut.Name+"/oracle", func(b *testing.B) { benchRun(b, scaleCut, "oracle") })
}

func benchRun(b *testing.B, s *scenario.Scenario, policy string) {
	b.ReportAllocs()
	res, err := Run(s, Options{Policies: []string{policy}, Rounds: b.N})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(res.Policies[0].RoundSeconds*1e6, "policy-µs/round")
	if n := res.Policies[0].LPSolves; n > 0 {
		b.ReportMetric(float64(n)/float64(b.N), "LPs/round")
	}
}

// fleetGroup builds one contended group of the fleet benchmark, as
// limiter's BenchmarkAllocateFleet does (the same rule, rewritten here
// because that generator is internal to the limiter's tests): a third of
// the projects idle, a third within share, a third borrowing at about three
// times the share, throttled where demand exceeds the share. It returns the
// limiter's state, the simulator's view of the same group and each
// project's true demand per placement broker, for the oracle.
//
// Shares and demand are sized for brokers of 1 GiB/s; capacity is what the
// brokers really have, so a smaller one saturates them.
func fleetGroup(r *rand.Rand, projects, brokers, perProject int, capacity float64) (*limiter.State, *Group, [][]float64) {
	s := &limiter.State{Group: "fleet", Margin: 0.9, Options: limiter.Options{Hysteresis: 0.05, Headroom: 0.1, LenderSpare: 0.1}}
	g := &Group{Scenario: "fleet", Brokers: brokers, Capacity: capacity, SafeCapacity: 0.9 * capacity, ThrottleWindow: ThrottleWindow}
	for b := range brokers {
		s.Brokers = append(s.Brokers, limiter.Broker{ID: int32(b), Capacity: capacity})
	}
	perBroker := float64(projects*perProject) / float64(brokers)
	share := 0.9 * (1 << 30) / perBroker * 0.8
	demand := make([][]float64, projects)
	for i := range projects {
		p := limiter.Project{Name: fmt.Sprintf("p%05d", i), Share: share, Floor: share / 10, Ceiling: share * 8, Weight: 1 + float64(i%3), Quota: share}
		level := [3]float64{share * 0.05, share * 0.7, share * 3}[i%3]
		start := r.IntN(brokers)
		byBroker := map[int]float64{}
		for k := range perProject {
			d := level * (0.5 + 0.5*r.Float64())
			b := (start + k) % brokers
			l := limiter.Load{Broker: b, Rate: min(d, p.Quota), Observed: min(d, p.Quota), Forecast: d * 1.1}
			if d > p.Quota {
				l.ThrottleMs = (d - p.Quota) / p.Quota * 11000
			}
			p.Loads = append(p.Loads, l)
			byBroker[b] = d
		}
		s.Projects = append(s.Projects, p)
		sp := Project{Name: p.Name, Share: share, Floor: share / 10, Ceiling: share * 8, Weight: p.Weight}
		for b := range brokers {
			if d, ok := byBroker[b]; ok {
				sp.Placement = append(sp.Placement, scenario.BrokerWeight{Broker: b, Weight: 1 / float64(perProject)})
				demand[i] = append(demand[i], d)
			}
		}
		g.Projects = append(g.Projects, sp)
	}
	return s, g, demand
}

// BenchmarkFleetAllocateVsOracle: one round of the fleet, 10,000 projects
// in 200 groups of 50 over 1,000 brokers (5 per group, 3 leaders each),
// one direction, one core: limiter.Allocate against the oracle's LP on the
// same instance (the oracle gets each project's true demand per broker).
// On the "contended" fleet (1 GiB/s brokers, as limiter's
// BenchmarkAllocateFleet) most brokers fit their demand and the oracle's
// presolve settles them without the simplex; on the "saturated" fleet the
// brokers have 40% of that capacity and every broker is an LP.
//
//	go test -run '^$' -bench FleetAllocateVsOracle -benchmem -count 5 ./simulations/sim/
func BenchmarkFleetAllocateVsOracle(b *testing.B) {
	for _, fleet := range []struct {
		name     string
		capacity float64
	}{{"contended", 1 << 30}, {"saturated", 0.4 * (1 << 30)}} {
		r := rand.New(rand.NewPCG(2, 2))
		const groups = 200
		states := make([]*limiter.State, groups)
		oracles := make([]*oracle, groups)
		demand := make([][][]float64, groups)
		served := make([][][]float64, groups)
		for k := range groups {
			var g *Group
			states[k], g, demand[k] = fleetGroup(r, 50, 5, 3, fleet.capacity)
			oracles[k] = newOracle(g)
			served[k] = make([][]float64, len(demand[k]))
			for i := range demand[k] {
				served[k][i] = make([]float64, len(demand[k][i]))
			}
		}
		b.Run(fleet.name+"/allocate", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				for _, s := range states {
					limiter.Allocate(s)
				}
			}
		})
		b.Run(fleet.name+"/oracle", func(b *testing.B) {
			b.ReportAllocs()
			solves := 0
			for b.Loop() {
				for k, o := range oracles {
					o.solves = 0
					if err := o.Serve(demand[k], served[k]); err != nil {
						b.Fatal(err)
					}
					solves += o.solves
				}
			}
			b.ReportMetric(float64(solves)/float64(b.N), "LPs/round")
		})
	}
}
