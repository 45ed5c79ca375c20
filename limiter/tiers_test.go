package limiter

import (
	"math"
	"testing"
)

// tiered is proj with a tier.
func tiered(name string, t Tier, share, quota, rate float64) Project {
	p := proj(name, share, quota, rate, 0)
	p.Tier = t
	return p
}

// TestTiers: capacity short of what the projects want is handed out by
// tier, critical first, within every fill; a lender's reclaim still comes
// first. Each broker's safe capacity is 90 MiB/s and every project is
// placed on both with the same rate, so each case is one broker's sums.
func TestTiers(t *testing.T) {
	for _, tc := range []struct {
		name     string
		projects []Project
		// want is each project's planned quota, MiB/s.
		want map[string]float64
	}{
		{
			// Bases 20 each leave 30 to borrow; untiered each would get
			// 10 of it. The critical borrower takes all 30 it wants.
			name: "borrowing by tier",
			projects: []Project{
				tiered("crit", Critical, 20, 20, 50),
				tiered("std", Standard, 20, 20, 50),
				tiered("be", BestEffort, 20, 20, 50),
			},
			want: map[string]float64{"crit": 50, "std": 20, "be": 20},
		},
		{
			// The standard lender wants its whole share back; the 20
			// left go to the critical borrower first, so the cut falls
			// on the best-effort one (untiered: 30 and 30).
			name: "reclaim cuts best-effort first",
			projects: []Project{
				tiered("lender", Standard, 30, 10, 30),
				tiered("crit", Critical, 20, 40, 40),
				tiered("be", BestEffort, 20, 40, 40),
			},
			want: map[string]float64{"lender": 30, "crit": 40, "be": 20},
		},
		{
			// Shares sold beyond the broker (3 × 40 > 90): the critical
			// project keeps min(demand, share), then standard, and
			// best-effort has the rest (untiered: 30 each).
			name: "oversold shares",
			projects: []Project{
				tiered("crit", Critical, 40, 40, 40),
				tiered("std", Standard, 40, 40, 40),
				tiered("be", BestEffort, 40, 40, 40),
			},
			want: map[string]float64{"crit": 40, "std": 40, "be": 10},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := Allocate(twoBrokers(tc.projects...))
			for name, want := range tc.want {
				d := decision(t, p, name)
				if math.Abs(d.After/mib-want) > 1e-6 {
					t.Errorf("%s: quota %.4f MiB/s, want %v (%v)", name, d.After/mib, want, d.Reasons)
				}
			}
			for _, b := range p.Brokers {
				if b.Committed > 90*mib*(1+1e-9) {
					t.Errorf("broker %d: committed %.3f MiB/s, over the safe 90", b.ID, b.Committed/mib)
				}
			}
		})
	}
}

// TestOneTierIsUntiered: a group whose projects share one tier, whichever,
// is allocated exactly as one without tiers.
func TestOneTierIsUntiered(t *testing.T) {
	mk := func(tier Tier) []Project {
		return []Project{
			tiered("a", tier, 30, 10, 30),
			tiered("b", tier, 20, 40, 55),
			tiered("c", tier, 20, 40, 45),
			tiered("d", tier, 20, 5, 3),
		}
	}
	base := Allocate(twoBrokers(mk(Standard)...))
	for _, tier := range []Tier{Critical, BestEffort} {
		p := Allocate(twoBrokers(mk(tier)...))
		for i, d := range p.Decisions {
			if d.After != base.Decisions[i].After {
				t.Errorf("all %v: %s planned %v, untiered %v", tier, d.Project, d.After, base.Decisions[i].After)
			}
		}
	}
}

// TestParseTier: the names the configuration accepts, and String back.
func TestParseTier(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Tier
	}{{"critical", Critical}, {"standard", Standard}, {"best-effort", BestEffort}, {"", Standard}} {
		if got := ParseTier(tc.in); got != tc.want {
			t.Errorf("ParseTier(%q) = %v, want %v", tc.in, got, tc.want)
		}
		if tc.in != "" && ParseTier(tc.in).String() != tc.in {
			t.Errorf("%q does not round-trip: %q", tc.in, ParseTier(tc.in).String())
		}
	}
}
