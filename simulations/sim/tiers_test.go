package sim

import (
	"os"
	"strings"
	"testing"

	"github.com/headroomhq/headroom/simulations/scenario"
)

// TestTiersScenario runs scenarios/tiers.yaml under the headroom policy.
// Per broker: safe capacity 90 MiB/s, shares 30 each, both borrowers want
// 50. For four hours the lender uses 4, so about 26 are left above the
// shares: the critical borrower is served its 50, the best-effort one
// about 36. Then the lender wants 20 and only about 8 are left: the
// critical borrower gets them (38), the best-effort one its share (30).
// So with quotas at demand the critical borrower would lose about 12 per
// broker for four hours and the best-effort one about 14 + 20: some 1/3
// as much. Quotas are not at demand: a throttled borrower's demand is
// guessed, and the 2% noise throttles whoever sits at its demand, so the
// critical borrower loses a little in the first phase too. The test asks
// for less than 0.6, against about 1 untiered (which it runs too).
func TestTiersScenario(t *testing.T) {
	text, err := os.ReadFile("../scenarios/tiers.yaml")
	if err != nil {
		t.Fatal(err)
	}
	throttled := func(doc string) map[string]float64 {
		s, err := scenario.Parse([]byte(doc), "../scenarios")
		if err != nil {
			t.Fatal(err)
		}
		res, err := Run(s, Options{Policies: []string{"headroom"}, SeriesPoints: s.Rounds(), SeriesProjects: len(s.Projects)})
		if err != nil {
			t.Fatal(err)
		}
		se := find(t, res, "headroom").Series
		out := map[string]float64{}
		for i, name := range se.Projects {
			for k := range se.Demand[i] {
				out[name] += max(0, se.Demand[i][k]-se.Served[i][k])
			}
		}
		return out
	}
	tiered := throttled(string(text))
	ratio := tiered["critical"] / tiered["besteffort"]
	t.Logf("tiered: critical lost %.4g, best-effort %.4g (ratio %.3f; about 1/3 with quotas at demand)", tiered["critical"], tiered["besteffort"], ratio)
	if !(ratio < 0.6) {
		t.Errorf("critical/best-effort throttled %.3f, want well below the untiered 1 (below 0.6)", ratio)
	}
	untiered := throttled(strings.NewReplacer("tier: critical", "", "tier: best-effort", "").Replace(string(text)))
	u := untiered["critical"] / untiered["besteffort"]
	t.Logf("untiered: %.4g and %.4g (ratio %.3f)", untiered["critical"], untiered["besteffort"], u)
	if !(u > 0.8 && u < 1.25) {
		t.Errorf("without tiers the two borrowers lost %.4g and %.4g: want about the same", untiered["critical"], untiered["besteffort"])
	}
}
