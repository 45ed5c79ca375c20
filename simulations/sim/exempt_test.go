package sim

import (
	"os"
	"testing"

	"github.com/headroomhq/headroom/simulations/scenario"
)

// TestExemptScenario runs scenarios/exempt.yaml. Per broker: safe capacity
// 90 MiB/s; the idle project uses 5; the busy one wants 20 + 40 × (1 +
// cos(2π(t − 20h)/24h))/2 and the mirror maker 10 + 30 × (1 + cos(2π(t −
// 14h)/24h))/2. At 17h that is 5 + 54.1 + 35.6 = 94.7 MiB/s: a policy that
// lends the whole safe capacity and knows nothing of the mirror's traffic
// loads the brokers past it for hours each day. Every causal policy sees
// the mirror's traffic as the brokers last reported it; the peers take
// that off the capacity they share out, and the mirror's rise and its 2%
// noise between rounds still take pulsar-rg past safe capacity. Headroom
// reserves the larger of that measurement and the detector's upper bound
// and must never overload; nor must oracle-kafka, which knows each
// round's mirror traffic.
func TestExemptScenario(t *testing.T) {
	text, err := os.ReadFile("../scenarios/exempt.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s, err := scenario.Parse(text, "../scenarios")
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(s, Options{Policies: []string{"pulsar-rg", "headroom", "oracle-kafka"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"headroom", "oracle-kafka"} {
		if f := find(t, res, name).Figures; f.OverloadRounds != 0 {
			t.Errorf("%s: %d overload rounds (%.4g bytes past safe capacity), want none", name, f.OverloadRounds, f.OverloadBytes)
		}
	}
	if f := find(t, res, "pulsar-rg").Figures; f.OverloadRounds == 0 {
		t.Errorf("pulsar-rg, blind to the mirror, never overloaded: the scenario no longer tests the reserve")
	}
}
