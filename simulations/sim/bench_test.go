package sim

import (
	"testing"

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
