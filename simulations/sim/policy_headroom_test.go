package sim

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/headroomhq/headroom/simulations/scenario"
)

// TestHeadroomPolicyReclaimsWithinARoundAndAWindow checks the lender
// scenario: the lender's measured demand is served from the round after it
// returns, and the rest of its share, which a muted client's throttle time
// cannot show and the policy guesses, once the borrower's quota window no
// longer holds the rate a cut would throttle: within one round and the
// rounds Kafka's window spans (the lab's end-to-end test holds the live
// daemon to the same).
func TestHeadroomPolicyReclaimsWithinARoundAndAWindow(t *testing.T) {
	s, err := scenario.Load(filepath.Join("..", "scenarios", "lender-returns.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(s, Options{Policies: []string{"headroom"}})
	if err != nil {
		t.Fatal(err)
	}
	f := res.Policies[0].Figures
	n, sample := s.Enforcement.Window()
	window := time.Duration(n) * sample
	allowed := 1 + int((window+s.RoundInterval()-1)/s.RoundInterval())
	if f.ReclaimMaxRounds > allowed {
		t.Errorf("a lender waited %d rounds to be served again; one round and a %s window allow %d", f.ReclaimMaxRounds, window, allowed)
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
