package sim

import (
	"fmt"
	"math"
)

// Shortfall is one target a policy missed on one scenario.
type Shortfall struct {
	Scenario string
	// Target names the target, e.g. "near-oracle-kafka" or
	// "below-pulsar-rg".
	Target string
	// Detail gives the figures.
	Detail string
}

func (s Shortfall) String() string { return s.Scenario + ": " + s.Target + ": " + s.Detail }

// Peers are the policies Headroom must throttle less than.
var Peers = []string{"static", "doorman-fair", "doorman-proportional", "pulsar-rg"}

// Targets holds policy to the targets a policy must meet on every public
// scenario (the issue "Win on real traffic"), from runs that include the
// policy, every peer and the three references, and returns each target
// it misses, by scenario and name:
//
//   - near-oracle-kafka: throttled bytes at most 1.10× oracle-kafka's, or
//     at most 0.5% of demand above them, or at most 1.05× oracle-causal's;
//   - below-<peer>: fewer throttled bytes than each peer (static,
//     doorman-fair, doorman-proportional, pulsar-rg), unless both are zero;
//   - lender-violations: lender-violation rounds no more than the fewest
//     of doorman-fair, doorman-proportional and pulsar-rg;
//   - no-overload: no overload round;
//   - strict-safety: quotas within margin × capacity on every broker in
//     every round;
//   - writes: at most 12 quota writes per project per hour, over the
//     whole run;
//   - policy-missing: a policy the targets need was not run.
func Targets(results []*Result, policy string) []Shortfall {
	var out []Shortfall
	for _, res := range results {
		add := func(target, format string, args ...any) {
			out = append(out, Shortfall{Scenario: res.Scenario, Target: target, Detail: fmt.Sprintf(format, args...)})
		}
		by := map[string]*PolicyResult{}
		for i := range res.Policies {
			by[res.Policies[i].Name] = &res.Policies[i]
		}
		need := append([]string{policy, "oracle-kafka", "oracle-causal"}, Peers...)
		missing := false
		for _, n := range need {
			if by[n] == nil {
				add("policy-missing", "no run of %s", n)
				missing = true
			}
		}
		if missing {
			continue
		}
		h, ok, oc := by[policy], by["oracle-kafka"], by["oracle-causal"]
		pct := func(b float64) float64 { return 100 * b / h.DemandBytes }
		if !(h.ThrottledBytes <= 1.10*ok.ThrottledBytes ||
			h.ThrottledBytes-ok.ThrottledBytes <= 0.005*h.DemandBytes ||
			h.ThrottledBytes <= 1.05*oc.ThrottledBytes) {
			add("near-oracle-kafka", "%s throttled %.4g bytes (%.3f%% of demand): %s× oracle-kafka's %.4g (%.3f%%), %.3f%% of demand above it, %s× oracle-causal's %.4g; want ≤1.10×, ≤0.5%% above, or ≤1.05× oracle-causal",
				policy, h.ThrottledBytes, pct(h.ThrottledBytes), ratioText(h.ThrottledBytes, ok.ThrottledBytes), ok.ThrottledBytes, pct(ok.ThrottledBytes),
				pct(h.ThrottledBytes-ok.ThrottledBytes), ratioText(h.ThrottledBytes, oc.ThrottledBytes), oc.ThrottledBytes)
		}
		for _, peer := range Peers {
			p := by[peer]
			if !(h.ThrottledBytes < p.ThrottledBytes || h.ThrottledBytes == 0 && p.ThrottledBytes == 0) {
				add("below-"+peer, "%s throttled %.4g bytes (%.3f%%), %s %.4g (%.3f%%); want fewer",
					policy, h.ThrottledBytes, pct(h.ThrottledBytes), peer, p.ThrottledBytes, pct(p.ThrottledBytes))
			}
		}
		fewest, who := math.MaxInt, ""
		for _, peer := range Peers[1:] {
			if v := by[peer].LenderViolationRounds; v < fewest {
				fewest, who = v, peer
			}
		}
		if h.LenderViolationRounds > fewest {
			add("lender-violations", "%s had %d lender-violation rounds, %s %d; want no more than the fewest peer",
				policy, h.LenderViolationRounds, who, fewest)
		}
		if h.OverloadRounds > 0 {
			add("no-overload", "%s overloaded a broker in %d rounds (%.4g bytes above safe capacity)", policy, h.OverloadRounds, h.OverloadBytes)
		}
		if !h.StrictSafe {
			add("strict-safety", "%s's quotas summed above margin × capacity on some broker in %d rounds", policy, h.UnsafeRounds)
		}
		if h.WritesPerProjectHour > 12 {
			add("writes", "%s wrote %.2f quotas per project per hour; want at most 12", policy, h.WritesPerProjectHour)
		}
	}
	return out
}

// ReferenceOrder checks the references against each other on each result:
// throttled(oracle) ≤ throttled(oracle-kafka) ≤ throttled(oracle-causal),
// within a relative 1e-6 (the simplex's rounding). It returns what breaks.
func ReferenceOrder(results []*Result) []Shortfall {
	var out []Shortfall
	for _, res := range results {
		t := map[string]float64{}
		for _, p := range res.Policies {
			t[p.Name] = p.ThrottledBytes
		}
		chain := []string{"oracle", "oracle-kafka", "oracle-causal"}
		for k := 1; k < len(chain); k++ {
			a, okA := t[chain[k-1]]
			b, okB := t[chain[k]]
			if !okA || !okB {
				out = append(out, Shortfall{res.Scenario, "reference-order", fmt.Sprintf("needs runs of %s and %s", chain[k-1], chain[k])})
				continue
			}
			if a > b*(1+1e-6)+1 {
				out = append(out, Shortfall{res.Scenario, "reference-order",
					fmt.Sprintf("%s throttled %.6g bytes, more than %s's %.6g", chain[k-1], a, chain[k], b)})
			}
		}
	}
	return out
}

func ratioText(a, b float64) string { return ratioString(ratio(a, b)) }
