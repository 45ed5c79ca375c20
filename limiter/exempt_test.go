package limiter

import (
	"math"
	"slices"
	"testing"
)

// TestReservedComesOffSafeCapacity: traffic Headroom never throttles (a
// cluster's exempt entities) takes its measured rate off each broker's safe
// capacity, margin × capacity − reserved, before anything is lent. Each
// broker here has 100 MiB/s at margin 0.9.
func TestReservedComesOffSafeCapacity(t *testing.T) {
	for _, tc := range []struct {
		name     string
		reserved float64 // MiB/s on each broker
		wantSafe float64 // MiB/s
	}{
		{"none", 0, 90},
		{"a mirror maker", 30, 60},
		{"more than the margin leaves", 120, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := twoBrokers(
				proj("lender", 30, 30, 0.5, 0),
				proj("borrower", 30, 30, 200, 500),
			)
			for i := range s.Brokers {
				s.Brokers[i].Reserved = tc.reserved * mib
			}
			p := Allocate(s)
			for _, b := range p.Brokers {
				if math.Abs(b.Safe/mib-tc.wantSafe) > 1e-9 {
					t.Errorf("broker %d: safe %.3f MiB/s, want %v", b.ID, b.Safe/mib, tc.wantSafe)
				}
				// Floors (1 MiB/s each) are the contract's least; above
				// them nothing is handed out past the reduced safe capacity.
				if limit := max(tc.wantSafe, 2); b.Committed/mib > limit*(1+1e-9) {
					t.Errorf("broker %d: committed %.3f MiB/s, past %v", b.ID, b.Committed/mib, limit)
				}
			}
			if tc.wantSafe >= 2 {
				// The borrower wants more than there is: it takes all the
				// lender leaves, so the broker is full.
				lender, borrower := decision(t, p, "lender"), decision(t, p, "borrower")
				if got := (lender.After + borrower.After) / mib; math.Abs(got-tc.wantSafe) > 1e-6 {
					t.Errorf("quotas sum to %.4f MiB/s, want the whole safe %v", got, tc.wantSafe)
				}
			}
		})
	}
}

// TestUnknownReserveHoldsTheBroker: a reserve that is not a rate (NaN,
// negative, infinite) is missing data, so the projects on the broker keep
// their quotas, with the reason recorded.
func TestUnknownReserveHoldsTheBroker(t *testing.T) {
	for _, r := range []float64{math.NaN(), -1, math.Inf(1)} {
		s := twoBrokers(proj("lender", 30, 30, 0.5, 0), proj("borrower", 30, 30, 200, 500))
		s.Brokers[1].Reserved = r
		p := Allocate(s)
		for _, name := range []string{"lender", "borrower"} {
			d := decision(t, p, name)
			if d.After != 30*mib || !slices.Contains(d.Reasons, ReasonHeldMissingData) {
				t.Errorf("reserve %v: %s planned %.3f MiB/s (%v), want held at 30", r, name, d.After/mib, d.Reasons)
			}
		}
	}
}
