package sim

import (
	"testing"

	"github.com/headroomhq/headroom/simulations/scenario"
)

// BenchmarkRound measures one round (both directions, demand included) per
// op for each policy on the scale case and on the saturated group, where
// the oracle has linear programs to solve. The scale case is also run with
// its capacity cut to 40%, so that most brokers saturate and the oracle
// solves one program per broker and direction every round.
//
//	go test -run '^$' -bench Round -benchtime 200x ./simulations/sim/
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
	scaleCut.Name = "scale-1000x100-cut"
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
