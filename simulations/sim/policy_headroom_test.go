package sim

import (
	"path/filepath"
	"testing"

	"github.com/headroomhq/headroom/simulations/scenario"
)

// TestHeadroomPolicyReclaimsInOneRound checks the lender scenario: the
// lender's returning demand is served from the round after it returns.
func TestHeadroomPolicyReclaimsInOneRound(t *testing.T) {
	s, err := scenario.Load(filepath.Join("..", "scenarios", "lender-returns.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(s, Options{Policies: []string{"headroom"}})
	if err != nil {
		t.Fatal(err)
	}
	f := res.Policies[0].Figures
	if f.ReclaimMaxRounds > 1 {
		t.Errorf("a lender waited %d rounds to be served again; the contract allows one", f.ReclaimMaxRounds)
	}
	if f.WritesPerProjectHour > 12 {
		t.Errorf("%.2f writes per project per hour at steady demand; at most 12 allowed", f.WritesPerProjectHour)
	}
}

func TestHeadroomPolicyRejectsMismatchedObservation(t *testing.T) {
	g := &Group{Scenario: "x", Brokers: 1, SafeCapacity: 100, ThrottleWindow: ThrottleWindow, Projects: []Project{{Name: "a", Share: 10, Ceiling: 100, Weight: 1}}}
	p, err := newHeadroomPolicy(g, DefaultHeadroomConfig())
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Plan(&Observation{}, make([]float64, 1)); err == nil {
		t.Fatal("an observation without the group's projects was accepted")
	}
	if _, err := newHeadroomPolicy(&Group{Scenario: "empty"}, DefaultHeadroomConfig()); err == nil {
		t.Fatal("a group without brokers was accepted")
	}
}

// BenchmarkHeadroomVsOracle times the headroom policy and the oracle's LP
// on the same instance: the first rounds of scale-1000x100 (1,000 projects
// on 100 brokers). The figures are per round, both directions.
func BenchmarkHeadroomVsOracle(b *testing.B) {
	s, err := scenario.Load(filepath.Join("..", "scenarios", "scale-1000x100.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	var h, o float64
	n := 0
	for b.Loop() {
		res, err := Run(s, Options{Rounds: 20, Policies: []string{"headroom", "oracle"}})
		if err != nil {
			b.Fatal(err)
		}
		for _, p := range res.Policies {
			switch p.Name {
			case "headroom":
				h += p.RoundSeconds
			case "oracle":
				o += p.RoundSeconds
			}
		}
		n++
	}
	b.ReportMetric(h/float64(n)*1e3, "headroom-ms/round")
	b.ReportMetric(o/float64(n)*1e3, "oracle-ms/round")
	b.ReportMetric(o/h, "oracle/headroom")
}
