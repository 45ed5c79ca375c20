package demand

import (
	"testing"
	"time"

	"github.com/headroomhq/headroom/limiter"
)

// The demo's bad rounds, late in project b's peak: a (the lender, share
// 2.5 MB/s, lent down to 0.4) sends a few percent over its quota, and b
// borrows 3.9 MB/s against demand now falling. One broker of 5 MB/s; the
// demo's round is 2 s, so Kafka's 11 s window spans six rounds.
type demo struct {
	p   Params
	mem [2]Memory
}

func newDemo() *demo {
	p := DefaultParams()
	p.Round = 2 * time.Second
	p.WarmRounds = 0 // mid-run: the daemon has long been warm
	return &demo{p: p}
}

// round feeds one round of what the broker showed and returns the state
// Allocate plans from.
func (d *demo) round(aServed, aThrottleMs, bServed, bThrottleMs float64) *limiter.State {
	s := &limiter.State{Group: "vivo", Margin: 1, Brokers: []limiter.Broker{{ID: 0, Capacity: 5e6}},
		Options: limiter.Options{Hysteresis: 0.05, Headroom: 0.1, LenderSpare: 0.1}}
	for i, pr := range []struct {
		name                    string
		quota, served, throttle float64
		expected, upper         float64
	}{
		{"a", 0.4e6, aServed, aThrottleMs, 0.4e6, 0.5e6},
		{"b", 3.9e6, bServed, bThrottleMs, 2.6e6, 2.8e6},
	} {
		in := Input{Quota: pr.quota, Share: 2.5e6, Expected: pr.expected, Upper: pr.upper,
			Loads: []Observed{{Broker: 0, Weight: 1, Served: pr.served, ThrottleMs: pr.throttle}}}
		est := make([]Estimate, 1)
		d.p.Estimates(&in, est)
		s.Projects = append(s.Projects, limiter.Project{Name: pr.name, Share: 2.5e6, Floor: 1024, Ceiling: 5e6, Weight: 1,
			Quota: pr.quota, Loads: d.p.Loads(&d.mem[i], &in, est, nil)})
	}
	return s
}

func demoRound(aServed, aThrottleMs, bServed, bThrottleMs float64) *limiter.State {
	return newDemo().round(aServed, aThrottleMs, bServed, bThrottleMs)
}

// TestMarginalLenderDoesNotTakeBackItsShare: a lender muted a few percent
// over its lent-down quota probes up; it does not take back its whole share
// and cut the borrower to its share in the same round (both quotas back at
// exactly their shares).
func TestMarginalLenderDoesNotTakeBackItsShare(t *testing.T) {
	plan := limiter.Allocate(demoRound(0.4e6, 250, 2.6e6, 0))
	a, b := plan.Decisions[0], plan.Decisions[1]
	if a.After >= 2.5e6*(1-1e-9) && b.After <= 2.5e6*(1+1e-9) {
		t.Fatalf("both quotas back at their shares: a %.0f, b %.0f", a.After, b.After)
	}
	if a.After < 0.8e6 {
		t.Fatalf("a muted at 0.4 MB/s gets %.0f; want at least a probe step (0.8 MB/s)", a.After)
	}
	if b.After < 2.6e6 {
		t.Fatalf("b cut to %.0f, below its demand of 2.6 MB/s, for a lender that asked for a probe step", b.After)
	}
}

// TestCutKeepsWhatTheWindowHolds: b was served 3.9 MB/s for five rounds
// and its demand now fell to 2.6 MB/s, but Kafka's 11 s window still holds
// most of the 3.9 it was served; a cut to its demand plus headroom (2.86)
// would throttle it for (3.68 − 2.86)/2.86 × 11 s ≈ 3 s. With nobody else
// asking, it keeps what its window holds; the release follows as the
// window forgets.
func TestCutKeepsWhatTheWindowHolds(t *testing.T) {
	d := newDemo()
	for range 5 {
		d.round(0.3e6, 0, 3.9e6, 0)
	}
	plan := limiter.Allocate(d.round(0.3e6, 0, 2.6e6, 0))
	b := plan.Decisions[1]
	held := (5*3.9e6 + 2.6e6) / 6
	if b.After < held*(1-1e-9) {
		t.Fatalf("b cut to %.0f below the %.0f its window holds (reasons %v)", b.After, held, b.Reasons)
	}
	// Six rounds later the window holds only the new rate: the quota
	// may come down to it.
	for range 5 {
		d.round(0.3e6, 0, 2.6e6, 0)
	}
	s := d.round(0.3e6, 0, 2.6e6, 0)
	if h := s.Projects[1].Loads[0].Hold; h != 2.6e6 {
		t.Fatalf("after a whole window at 2.6 MB/s the hold is %.0f", h)
	}
	// A lender throttled for a whole window still gets its probe step:
	// the hold gives way to a lender's base, never the other way round.
	d = newDemo()
	for range 5 {
		d.round(0.3e6, 0, 3.9e6, 0)
	}
	plan = limiter.Allocate(d.round(0.4e6, 11000, 3.9e6, 0))
	a, b := plan.Decisions[0], plan.Decisions[1]
	if a.After < 0.8e6 {
		t.Fatalf("lender throttled a whole window gets %.0f, want at least 0.8 MB/s", a.After)
	}
	if a.After+b.After > 5e6*(1+1e-9) {
		t.Fatalf("a %.0f + b %.0f above the broker's 5 MB/s", a.After, b.After)
	}
}
