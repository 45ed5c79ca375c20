package limiter

import (
	"math"
	"strings"
	"testing"
)

// twoBrokers is a small group: safe capacity 90 on each of two brokers.
func twoBrokers(projects ...Project) *State {
	return &State{
		Group: "g", Margin: 0.9,
		Brokers:  []Broker{{ID: 10, Capacity: 100 * mib}, {ID: 11, Capacity: 100 * mib}},
		Projects: projects,
	}
}

// proj places a project on both brokers with the same served rate and
// throttle time on each. A throttled load's Rate is what the demand stage
// estimates at the onset of throttling, Kafka's formula over the default
// 11 s window: quota × (1 + throttle/window).
func proj(name string, share, quota, rate, throttleMs float64) Project {
	l := Load{Rate: rate * mib, Observed: rate * mib, Hold: rate * mib, ThrottleMs: throttleMs}
	if throttleMs > 0 {
		l.Rate, l.FromThrottle = max(l.Rate, quota*mib*(1+throttleMs/11000)), true
	}
	l1 := l
	l1.Broker = 1
	return Project{
		Name: name, Share: share * mib, Floor: mib, Ceiling: 90 * mib, Weight: 1, Quota: quota * mib,
		Loads: []Load{l, l1},
	}
}

func decision(t *testing.T, p Plan, name string) Decision {
	t.Helper()
	for _, d := range p.Decisions {
		if d.Project == name {
			return d
		}
	}
	t.Fatalf("no decision for %s", name)
	return Decision{}
}

func TestAllocateHoldsAndBadInput(t *testing.T) {
	cases := []struct {
		name     string
		edit     func(s *State)
		project  string
		reason   Reason
		after    float64 // MiB/s; NaN: not checked
		write    bool
		noteHas  string
		busyGets float64 // the borrower's quota, MiB/s; 0: not checked
	}{
		{
			name:    "stale project keeps its last-good quota",
			edit:    func(s *State) { s.Projects[0].Stale = true },
			project: "quiet", reason: ReasonHeldMissingData, after: 40, noteHas: "stale",
			busyGets: 50,
		},
		{
			name:    "stale broker holds the projects on it",
			edit:    func(s *State) { s.Brokers[1].Stale = true },
			project: "quiet", reason: ReasonHeldMissingData, after: 40,
		},
		{
			name:    "NaN demand",
			edit:    func(s *State) { s.Projects[0].Loads[0].Rate = math.NaN() },
			project: "quiet", reason: ReasonHeldBadInput, after: 40, noteHas: "demand NaN",
		},
		{
			name:    "negative throttle time",
			edit:    func(s *State) { s.Projects[0].Loads[1].ThrottleMs = -3 },
			project: "quiet", reason: ReasonHeldBadInput, after: 40, noteHas: "throttle time -3",
		},
		{
			name:    "unknown broker",
			edit:    func(s *State) { s.Projects[0].Loads[1].Broker = 7 },
			project: "quiet", reason: ReasonHeldBadInput, after: 40, noteHas: "unknown broker index 7",
		},
		{
			name:    "missing placement",
			edit:    func(s *State) { s.Projects[0].Loads = nil },
			project: "quiet", reason: ReasonHeldBadInput, after: 40, noteHas: "no placement",
		},
		{
			name:    "broker placed twice",
			edit:    func(s *State) { s.Projects[0].Loads[1].Broker = 0 },
			project: "quiet", reason: ReasonHeldBadInput, after: 40, noteHas: "placed twice",
		},
		{
			name:    "negative share",
			edit:    func(s *State) { s.Projects[0].Share = -1 },
			project: "quiet", reason: ReasonHeldBadInput, after: 40, noteHas: "share -1",
		},
		{
			name:    "stale with no quota known writes nothing",
			edit:    func(s *State) { s.Projects[0].Stale, s.Projects[0].Quota = true, 0 },
			project: "quiet", reason: ReasonNoQuotaKnown, after: 0,
		},
		{
			name: "held borrower is cut to its share when a lender reclaims",
			edit: func(s *State) {
				// busy borrowed 70 while quiet was idle at 20; busy's
				// data goes stale just as quiet wants its share back.
				s.Projects[1].Stale, s.Projects[1].Quota = true, 70*mib
				s.Projects[0].Quota = 20 * mib
				for k := range s.Projects[0].Loads {
					s.Projects[0].Loads[k].Rate = 40 * mib // throttled: demand 40, its share
					s.Projects[0].Loads[k].FromThrottle = true
					s.Projects[0].Loads[k].ThrottleMs = 11000
				}
			},
			project: "busy", reason: ReasonCutForSafety, after: 45, write: true,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// quiet: share 45, uses 5. busy: share 45, throttled at 40
			// (demand 80).
			s := twoBrokers(proj("quiet", 45, 40, 5, 0), proj("busy", 45, 40, 40, 11000))
			tc.edit(s)
			p := Allocate(s)
			d := decision(t, p, tc.project)
			if !d.Has(tc.reason) {
				t.Fatalf("reasons %v lack %s (note %q)", d.Reasons, tc.reason, d.Note)
			}
			if got := d.After / mib; math.Abs(got-tc.after) > 1e-9 {
				t.Fatalf("quota %v MiB/s, want %v", got, tc.after)
			}
			if d.Write != tc.write {
				t.Fatalf("write %v, want %v", d.Write, tc.write)
			}
			if !strings.Contains(d.Note, tc.noteHas) {
				t.Fatalf("note %q lacks %q", d.Note, tc.noteHas)
			}
			if tc.busyGets > 0 {
				if got := decision(t, p, "busy").After / mib; math.Abs(got-tc.busyGets) > 1e-6 {
					t.Fatalf("busy got %v MiB/s, want %v", got, tc.busyGets)
				}
			}
			for b, bl := range p.Brokers {
				if bl.Committed > bl.Safe*(1+1e-9) {
					t.Fatalf("broker %d committed %.0f of %.0f", b, bl.Committed, bl.Safe)
				}
			}
		})
	}
}

func TestAllocateDemandFromThrottle(t *testing.T) {
	// Quota 20 and a throttle time of a full window: Kafka saw twice the
	// quota, so the demand is 40 even though 20 was served.
	s := twoBrokers(proj("a", 45, 20, 20, 11000), proj("b", 45, 45, 5, 0))
	d := decision(t, Allocate(s), "a")
	if math.Abs(d.Demand-40*mib) > 1 || !d.Has(ReasonDemandFromThrottle) || d.After < 40*mib {
		t.Fatalf("demand %v after %v reasons %v", d.Demand/mib, d.After/mib, d.Reasons)
	}
}

func TestAllocateFloorCeilingAndAttribution(t *testing.T) {
	s := twoBrokers(proj("idle", 40, 40, 0, 0), proj("capped", 20, 20, 20, 11000), proj("big", 20, 20, 20, 33000))
	s.Projects[0].Floor = 3 * mib
	s.Projects[1].Ceiling = 30 * mib
	p := Allocate(s)
	idle, capped, big := decision(t, p, "idle"), decision(t, p, "capped"), decision(t, p, "big")
	if idle.After != 3*mib || !idle.Has(ReasonRaisedToFloor) || !idle.Has(ReasonLentTo) {
		t.Fatalf("idle: %v MiB/s %v", idle.After/mib, idle.Reasons)
	}
	if capped.After != 30*mib || !capped.Has(ReasonCappedByCeiling) || !capped.Has(ReasonBorrowedFrom) {
		t.Fatalf("capped: %v MiB/s %v", capped.After/mib, capped.Reasons)
	}
	// big wants 80: it gets what is left of 90.
	if math.Abs(big.After-57*mib) > 1 || !big.Has(ReasonLimitedByCapacity) {
		t.Fatalf("big: %v MiB/s %v", big.After/mib, big.Reasons)
	}
	var from float64
	for _, tr := range big.BorrowedFrom {
		from += tr.Bytes
	}
	if math.Abs(from-(big.After-big.Share)) > 1 || big.BorrowedFrom[0].Project != "idle" {
		t.Fatalf("big borrowed %v in total from %v; its quota is %v above its share", from/mib, big.BorrowedFrom, (big.After-big.Share)/mib)
	}
	if len(idle.LentTo) == 0 || idle.LentTo[0].Project != "big" {
		t.Fatalf("idle lent to %v", idle.LentTo)
	}
}

func TestAllocateOvercommit(t *testing.T) {
	// Each project sends nearly everything to one broker and little to
	// the other. Strict mode counts every quota in full on both brokers;
	// overcommit counts the forecast share.
	mk := func() *State {
		a := proj("a", 45, 45, 0, 0)
		b := proj("b", 45, 45, 0, 0)
		a.Loads[0].Rate, a.Loads[1].Rate = 90*mib, 1*mib // throttled at 45 for a window: demand 90 on broker 0
		a.Loads[0].ThrottleMs, a.Loads[0].FromThrottle = 11000, true
		b.Loads[0].Rate, b.Loads[1].Rate = 1*mib, 90*mib
		b.Loads[1].ThrottleMs, b.Loads[1].FromThrottle = 11000, true
		return twoBrokers(a, b)
	}
	strict := Allocate(mk())
	if qa, qb := decision(t, strict, "a").After, decision(t, strict, "b").After; qa+qb > 90*mib*(1+1e-9) {
		t.Fatalf("strict: %v + %v above 90", qa/mib, qb/mib)
	}
	s := mk()
	s.Options.Overcommit = true
	over := Allocate(s)
	qa, qb := decision(t, over, "a").After, decision(t, over, "b").After
	if !(qa+qb > 90*mib) {
		t.Fatalf("overcommit did not overcommit: %v + %v", qa/mib, qb/mib)
	}
	for _, bl := range over.Brokers {
		if bl.Committed > bl.Safe*(1+1e-9) {
			t.Fatalf("overcommit: forecast load %v above safe %v on broker %d", bl.Committed/mib, bl.Safe/mib, bl.ID)
		}
	}
}
