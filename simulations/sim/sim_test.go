package sim

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/headroomhq/headroom/simulations/scenario"
)

// recorder is a test policy: it keeps every observation it is shown and,
// from round raiseAt on, asks for quota raiseTo for every project.
type recorder struct {
	mu      sync.Mutex
	seen    []Observation
	raiseAt int
	raiseTo float64
}

var (
	recordersMu sync.Mutex
	recorders   = map[string]*recorder{} // by scenario name and direction
)

func init() {
	Register("test-recorder", "records observations; raises every quota to 200MiB/s from round 2",
		func(g *Group) (Policy, error) {
			r := &recorder{raiseAt: 2, raiseTo: 200 << 20}
			recordersMu.Lock()
			recorders[g.Scenario+"/"+g.Direction.String()] = r
			recordersMu.Unlock()
			return r, nil
		})
	Register("test-nan", "returns NaN for its second project",
		func(g *Group) (Policy, error) { return nanPolicy{}, nil })
}

func (r *recorder) Plan(obs *Observation, quotas []float64) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	cp := Observation{Round: obs.Round}
	for _, p := range obs.Projects {
		cp.Projects = append(cp.Projects, ProjectObservation{
			Quota:    p.Quota,
			Rate:     slices.Clone(p.Rate),
			Throttle: slices.Clone(p.Throttle),
		})
	}
	r.seen = append(r.seen, cp)
	if obs.Round >= r.raiseAt {
		for i := range quotas {
			quotas[i] = r.raiseTo
		}
	}
	return nil
}

type nanPolicy struct{}

func (nanPolicy) Plan(_ *Observation, quotas []float64) error {
	quotas[1] = math.NaN()
	return nil
}

// realPolicies are the registered policies other than the test ones.
func realPolicies() []string { return DefaultPolicies() }

func TestDefaultPoliciesOrder(t *testing.T) {
	got := DefaultPolicies()
	if len(got) < 5 || got[0] != "static" || got[len(got)-1] != "oracle" || slices.Contains(got, "test-recorder") {
		t.Errorf("default policies %v", got)
	}
	for _, want := range []string{"doorman-fair", "doorman-proportional", "pulsar-rg"} {
		if !slices.Contains(got, want) {
			t.Errorf("default policies %v lack %s", got, want)
		}
	}
}

func parse(t *testing.T, doc string) *scenario.Scenario {
	t.Helper()
	s, err := scenario.Parse([]byte(doc), t.TempDir())
	if err != nil {
		t.Fatalf("parse scenario: %v", err)
	}
	return s
}

func find(t *testing.T, r *Result, name string) PolicyResult {
	t.Helper()
	for _, p := range r.Policies {
		if p.Name == name {
			return p
		}
	}
	t.Fatalf("no result for policy %s", name)
	return PolicyResult{}
}

func near(a, b, rel float64) bool { return math.Abs(a-b) <= rel*math.Max(math.Abs(a), math.Abs(b)) }

// One broker, one project wanting twice its share: Kafka holds it to about
// its quota and reports the throttle time of a muted client.
const twiceTheShare = `
name: twice
round: 10s
duration: 1m
brokers: {count: 1, capacity: {produce: 100MiB/s, fetch: 100MiB/s}}
projects:
  - name: a
    produce: {share: 20MiB/s}
    fetch: {share: 20MiB/s}
    demand: {produce: {base: 40MiB/s}}
`

func TestKafkaEnforcementAndThrottleTime(t *testing.T) {
	s := parse(t, twiceTheShare)
	res, err := Run(s, Options{Policies: []string{"static", "test-recorder"}})
	if err != nil {
		t.Fatal(err)
	}
	st := find(t, res, "static")
	// 6 rounds of 10s at 40MiB/s.
	if want := 6 * 10 * 40.0 * mib; !near(st.DemandBytes, want, 1e-12) {
		t.Errorf("demand bytes %v, want %v", st.DemandBytes, want)
	}
	// Held to its 20MiB/s quota by Kafka's window, the client loses about
	// half its demand. It is served at least the quota's 1200MiB in 60s,
	// and at most 11 × 20MiB plus one 1MiB request per 11 consecutive
	// 1s samples: 6 such spans cover the run (the first from an empty
	// window), 6 × 221MiB.
	if lo, hi := 100*(2400-6*221.0)/2400, 50.0; st.ThrottledPercent < lo-1e-9 || st.ThrottledPercent > hi+1e-9 {
		t.Errorf("throttled %v%%, want %v%% to %v%%", st.ThrottledPercent, lo, hi)
	}
	if st.Writes != 0 || st.OverloadRounds != 0 || !st.StrictSafe {
		t.Errorf("static: writes %d, overload rounds %d, strict %v; want 0, 0, true", st.Writes, st.OverloadRounds, st.StrictSafe)
	}

	rec := recorders["twice/produce"]
	if rec == nil || len(rec.seen) != 6 {
		t.Fatalf("recorder saw %v", rec)
	}
	// Round 0 (see TestEnforcerTwiceTheQuotaFromAnEmptyWindow): 225MiB
	// accepted, the windowed rate 225/11 MiB/s, and Kafka's throttle-time
	// sensor: 5.25s over the 25 throttled requests.
	o := rec.seen[0].Projects[0]
	if o.Quota != 20*mib || !near(o.Rate[0], 225.0/11*mib, 1e-12) {
		t.Errorf("round 0: quota %v rate %v MiB/s, want 20 and 225/11", o.Quota/mib, o.Rate[0]/mib)
	}
	if want := 5.25 / 25; math.Abs(o.Throttle[0].Seconds()-want) > 1e-9 {
		t.Errorf("round 0: throttle %v, want %v", o.Throttle[0], want)
	}
	// The recorder raises quotas after round 2: the plan applies from
	// round 3, when the backlog drains and then nothing is throttled. The
	// throttle-time sensor's window (11 s) still holds the last second of
	// round 2 at the end of round 3, and nothing throttled from round 4
	// on; by round 5 the window holds only the 40MiB/s demand.
	for r, want := range []float64{20, 20, 20, 200, 200, 200} {
		got := rec.seen[r].Projects[0]
		if got.Quota != want*mib {
			t.Errorf("round %d: quota in force %v, want %vMiB/s", r, got.Quota/mib, want)
		}
		if r == 3 && got.Throttle[0] <= 0 {
			t.Errorf("round 3: throttle %v, want round 2's last throttled second still in the window", got.Throttle[0])
		}
		if r >= 4 && got.Throttle[0] != 0 {
			t.Errorf("round %d: throttle %v, want none under a 200MiB/s quota", r, got.Throttle[0])
		}
	}
	if got := rec.seen[5].Projects[0].Rate[0]; !near(got, 40*mib, 1e-12) {
		t.Errorf("round 5: rate %v MiB/s, want 40", got/mib)
	}
	// The recorder raised the produce and the fetch quota once each.
	if rp := find(t, res, "test-recorder"); rp.Writes != 2 {
		t.Errorf("recorder writes %d, want 2", rp.Writes)
	}
}

func TestControlDelay(t *testing.T) {
	for _, delay := range []int{1, 3} {
		t.Run("delay"+string(rune('0'+delay)), func(t *testing.T) {
			doc := strings.Replace(twiceTheShare, "name: twice", "name: delay"+string(rune('0'+delay))+"\ncontrol_delay: "+string(rune('0'+delay)), 1)
			s := parse(t, doc)
			if _, err := Run(s, Options{Policies: []string{"test-recorder"}}); err != nil {
				t.Fatal(err)
			}
			rec := recorders[s.Name+"/produce"]
			// Raised at the end of round 2: in force from 2+delay.
			for r, o := range rec.seen {
				raised := o.Projects[0].Quota > 20<<20
				if raised != (r >= 2+delay) {
					t.Errorf("round %d: raised=%v with delay %d", r, raised, delay)
				}
			}
		})
	}
}

// Placement weights shape per-broker demand, and the quota applies on each
// broker: with weights 3:1 the hot broker throttles, the cold one does not.
func TestPlacementShapesDemandPerBroker(t *testing.T) {
	s := parse(t, `
name: placed
round: 10s
duration: 30s
brokers: {count: 2, capacity: {produce: 100MiB/s, fetch: 100MiB/s}}
projects:
  - name: a
    placement: {0: 3, 1: 1}
    produce: {share: 20MiB/s}
    fetch: {share: 20MiB/s}
    demand: {produce: {base: 40MiB/s}}
`)
	res, err := Run(s, Options{Policies: []string{"test-recorder", "static"}})
	if err != nil {
		t.Fatal(err)
	}
	// Round 2: the window holds 30MiB/s on the hot broker, held to its
	// 20MiB/s quota, and 10MiB/s on the cold one, not throttled.
	o := recorders["placed/produce"].seen[2].Projects[0]
	if o.Rate[0] < 20*mib || o.Rate[0] > 21*mib || !near(o.Rate[1], 10*mib, 1e-12) {
		t.Errorf("rates %v MiB/s, want [about 20, 10]", []float64{o.Rate[0] / mib, o.Rate[1] / mib})
	}
	if o.Throttle[0] <= 0 || o.Throttle[1] != 0 {
		t.Errorf("throttle %v, want [above 0, 0]", o.Throttle)
	}
	// The cold broker serves its 300MiB; the hot one, wanting 900MiB in
	// 30s, at least the quota's 600MiB and at most 3 × 221MiB (11 × 20MiB
	// plus one request per 11 consecutive 1s samples, the first span
	// from an empty window): 10 of 40 MiB/s lost, less what the empty
	// window let through.
	st := find(t, res, "static")
	if lo, hi := 100*(900-3*221.0)/1200, 25.0; st.ThrottledPercent < lo-1e-9 || st.ThrottledPercent > hi+1e-9 {
		t.Errorf("static throttled %v%%, want %v%% to %v%%", st.ThrottledPercent, lo, hi)
	}
}

func TestBadPolicies(t *testing.T) {
	s := parse(t, strings.Replace(twiceTheShare, "projects:", `projects:
  - {name: b, produce: {share: 10MiB/s}, fetch: {share: 10MiB/s}, demand: {fetch: {base: 1MiB/s}}}`, 1))
	tests := []struct {
		policies []string
		want     string
	}{
		{[]string{"no-such-policy"}, `unknown policy "no-such-policy"`},
		{[]string{"static", "static"}, `policy "static" listed twice`},
		{[]string{"test-nan"}, "scenario twice, policy test-nan, produce, round 0: quota NaN for project a: must be finite and above zero"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			_, err := Run(s, Options{Policies: tt.policies})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestRunsRepeat(t *testing.T) {
	s, err := scenario.Load("../scenarios/spike-noise.yaml")
	if err != nil {
		t.Fatal(err)
	}
	opt := Options{Policies: []string{"doorman-fair", "pulsar-rg"}, Rounds: 500}
	a, err := Run(s, opt)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Run(s, opt)
	if err != nil {
		t.Fatal(err)
	}
	for i := range a.Policies {
		fa, fb := a.Policies[i].Figures, b.Policies[i].Figures
		fa.RoundSeconds, fb.RoundSeconds = 0, 0
		// %v prints NaN the same way each time, unlike == on NaN.
		if fmt.Sprintf("%v", fa) != fmt.Sprintf("%v", fb) {
			t.Errorf("%s: figures differ between runs:\n%+v\n%+v", a.Policies[i].Name, fa, fb)
		}
	}
}

// The acceptance of the simulator and of the headroom policy on the public
// suite: the synthetic scenarios and the real-trace ones (scenarios/real),
// each run whole as `headroom simulate` runs it. The simulator's own
// invariants always hold: the references in order (oracle ≤ oracle-kafka
// ≤ oracle-causal), every one-quota policy that keeps strict safety
// throttling at least oracle-kafka's bytes less its window credit, every
// policy judged on the same demand, the peers keeping strict safety and,
// on the synthetic scenarios, no strict peer overloading a broker, static
// writing nothing and throttling in the vivo case. The targets of the
// issue "Win on real traffic" (see Targets) are evaluated for the headroom
// policy and every shortfall is reported by scenario and target; they fail
// the test when HEADROOM_PUBLIC_SUITE=1 and are logged otherwise, until the
// policy meets them. -short runs six hours of each scenario.
func TestPublicSuite(t *testing.T) {
	synthetic, err := filepath.Glob("../scenarios/*.yaml")
	if err != nil || len(synthetic) < 8 {
		t.Fatalf("want the public suite, found %v (%v)", synthetic, err)
	}
	traces, err := filepath.Glob("../scenarios/real/*.yaml")
	if err != nil || len(traces) < 6 {
		t.Fatalf("want the real-trace suite, found %v (%v)", traces, err)
	}
	files := append(synthetic, traces...)
	var results []*Result
	for _, f := range files {
		fromTrace := slices.Contains(traces, f)
		t.Run(filepath.Base(f), func(t *testing.T) {
			s, err := scenario.Load(f)
			if err != nil {
				t.Fatal(err)
			}
			// Every scenario runs whole, as `headroom simulate` runs it
			// for the targets, but the scale case, which gets its first
			// ten minutes here (the benchmarks and `headroom simulate`
			// run its week). -short runs six hours, but all of vivo's
			// day (two projects, cheap), whose peaks come at 09:00 and
			// 15:00.
			opt := Options{Policies: realPolicies()}
			if testing.Short() && s.Name != "vivo-two-projects" {
				opt.Rounds = 2160
			}
			if len(s.Projects) > 100 {
				opt.Rounds = 60
			}
			res, err := Run(s, opt)
			if err != nil {
				t.Fatal(err)
			}
			results = append(results, res)
			for _, sf := range ReferenceOrder([]*Result{res}) {
				t.Error(sf)
			}
			or, ok := find(t, res, "oracle"), find(t, res, "oracle-kafka")
			for _, p := range res.Policies {
				if p.DemandBytes != or.DemandBytes {
					t.Errorf("%s saw demand %v, the oracle %v", p.Name, p.DemandBytes, or.DemandBytes)
				}
				// oracle-kafka bounds every policy that sets one quota
				// per project and keeps strict safety, headroom
				// included, but for what Kafka's window let it send
				// above its quotas. The oracle sets a rate per project
				// and broker: ReferenceOrder holds it below.
				if p.Name != "oracle" && p.StrictSafe && p.ThrottledBytes+p.WindowCreditBytes < ok.ThrottledBytes*(1-1e-6)-1 {
					t.Errorf("%s throttled %v bytes under strict safety (window credit %v), below oracle-kafka's %v",
						p.Name, p.ThrottledBytes, p.WindowCreditBytes, ok.ThrottledBytes)
				}
				if p.Name == "headroom" {
					continue // judged by the targets below
				}
				if len(s.Exempt) > 0 && !strings.HasPrefix(p.Name, "oracle") {
					// Traffic no policy controls: a causal peer knows
					// only its last measurement, so keeping below safe
					// capacity is no longer its construction's theorem.
					// TestExemptScenario judges this case.
					continue
				}
				if fromTrace && !strings.HasPrefix(p.Name, "oracle") {
					// On a real trace a strict peer's brokers can still
					// report rates above safe capacity: Kafka's window
					// lets a client that was quiet send above its quota
					// for a round, and remembers the rate of before a
					// cut. The report's overload column shows it; the
					// peers' strict safety is still asserted.
					if !p.StrictSafe {
						t.Errorf("%s broke strict safety in %d rounds", p.Name, p.UnsafeRounds)
					}
					continue
				}
				if p.OverloadRounds != 0 || p.OverloadBytes != 0 {
					t.Errorf("%s overloaded: %d rounds, %v bytes", p.Name, p.OverloadRounds, p.OverloadBytes)
				}
				if p.Name != "oracle" && !p.StrictSafe {
					t.Errorf("%s broke strict safety in %d rounds", p.Name, p.UnsafeRounds)
				}
			}
			st := find(t, res, "static")
			if st.Writes != 0 {
				t.Errorf("static wrote %d quotas", st.Writes)
			}
			if s.Name == "vivo-two-projects" && !(st.ThrottledBytes > 0 && st.ThrottledBytes > 10*or.ThrottledBytes) {
				t.Errorf("vivo: static throttled %v, oracle %v: static must throttle where borrowing need not", st.ThrottledBytes, or.ThrottledBytes)
			}
		})
	}
	if len(results) != len(files) {
		return
	}
	var buf bytes.Buffer
	if err := WriteMarkdown(&buf, results); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", buf.String())
	short := Targets(results, "headroom")
	enforce := os.Getenv("HEADROOM_PUBLIC_SUITE") == "1"
	for _, sf := range short {
		if enforce {
			t.Errorf("headroom misses a target: %s", sf)
		} else {
			t.Logf("headroom misses a target: %s", sf)
		}
	}
	if len(short) > 0 && !enforce {
		t.Logf("%d shortfalls of the headroom policy; set HEADROOM_PUBLIC_SUITE=1 to fail on them", len(short))
	}
}

// Targets names each missed target from the figures; a result that meets
// them all has no shortfall.
func TestTargets(t *testing.T) {
	base := func() *Result {
		return &Result{Scenario: "s", Policies: []PolicyResult{
			{Name: "headroom", Figures: Figures{DemandBytes: 1000, ThrottledBytes: 10, StrictSafe: true, LenderViolationRounds: 1, WritesPerProjectHour: 3}},
			{Name: "static", Figures: Figures{DemandBytes: 1000, ThrottledBytes: 100, StrictSafe: true}},
			{Name: "doorman-fair", Figures: Figures{DemandBytes: 1000, ThrottledBytes: 50, StrictSafe: true, LenderViolationRounds: 2}},
			{Name: "doorman-proportional", Figures: Figures{DemandBytes: 1000, ThrottledBytes: 50, StrictSafe: true, LenderViolationRounds: 1}},
			{Name: "pulsar-rg", Figures: Figures{DemandBytes: 1000, ThrottledBytes: 40, StrictSafe: true, LenderViolationRounds: 5}},
			{Name: "oracle-kafka", Figures: Figures{DemandBytes: 1000, ThrottledBytes: 9.5, StrictSafe: true}},
			{Name: "oracle-causal", Figures: Figures{DemandBytes: 1000, ThrottledBytes: 9.8, StrictSafe: true}},
		}}
	}
	set := func(r *Result, name string, f func(*Figures)) {
		for i := range r.Policies {
			if r.Policies[i].Name == name {
				f(&r.Policies[i].Figures)
			}
		}
	}
	tests := []struct {
		name   string
		change func(*Result)
		want   []string
	}{
		{"all met", func(*Result) {}, nil},
		{"far from both oracles", func(r *Result) {
			set(r, "headroom", func(f *Figures) { f.ThrottledBytes = 30 })
			set(r, "oracle-kafka", func(f *Figures) { f.ThrottledBytes = 20 })
			set(r, "oracle-causal", func(f *Figures) { f.ThrottledBytes = 25 })
		}, []string{"near-oracle-kafka"}},
		{"within 0.5% of demand of oracle-kafka", func(r *Result) {
			set(r, "headroom", func(f *Figures) { f.ThrottledBytes = 14 })
			set(r, "oracle-kafka", func(f *Figures) { f.ThrottledBytes = 10 })
			set(r, "oracle-causal", func(f *Figures) { f.ThrottledBytes = 10 })
		}, nil},
		{"within 1.05× oracle-causal", func(r *Result) {
			set(r, "headroom", func(f *Figures) { f.ThrottledBytes = 31 })
			set(r, "oracle-kafka", func(f *Figures) { f.ThrottledBytes = 20 })
			set(r, "oracle-causal", func(f *Figures) { f.ThrottledBytes = 30 })
			set(r, "pulsar-rg", func(f *Figures) { f.ThrottledBytes = 35 })
		}, nil},
		{"a peer throttles less", func(r *Result) { set(r, "pulsar-rg", func(f *Figures) { f.ThrottledBytes = 10 }) }, []string{"below-pulsar-rg"}},
		{"lenders", func(r *Result) { set(r, "headroom", func(f *Figures) { f.LenderViolationRounds = 2 }) }, []string{"lender-violations"}},
		{"overload, safety, writes", func(r *Result) {
			set(r, "headroom", func(f *Figures) {
				f.OverloadRounds, f.StrictSafe, f.UnsafeRounds, f.WritesPerProjectHour = 1, false, 3, 12.5
			})
		}, []string{"no-overload", "strict-safety", "writes"}},
		{"missing peer", func(r *Result) { r.Policies = r.Policies[:4] }, []string{"policy-missing", "policy-missing", "policy-missing"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := base()
			tt.change(r)
			var got []string
			for _, sf := range Targets([]*Result{r}, "headroom") {
				got = append(got, sf.Target)
				if sf.Scenario != "s" || sf.Detail == "" {
					t.Errorf("shortfall %+v", sf)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("shortfalls %v, want %v", got, tt.want)
			}
		})
	}
}

func TestOracleLPMatchesItsClosedForm(t *testing.T) {
	// The per-broker program has the value min(Σu, safe); the simplex
	// must find it, within bounds, on random instances.
	rng := rand.New(rand.NewPCG(1, 2))
	o := newOracle(&Group{Brokers: 1})
	for n := range 200 {
		k := 1 + rng.IntN(40)
		u := make([]float64, k)
		var sum float64
		for j := range u {
			if rng.IntN(5) > 0 {
				u[j] = rng.Float64() * 100e6
			}
			sum += u[j]
		}
		safe := sum * (0.05 + 0.9*rng.Float64())
		s, err := o.solve(slices.Clone(u), safe)
		if err != nil {
			t.Fatalf("instance %d: %v", n, err)
		}
		var got float64
		for j := range s {
			if s[j] < 0 || s[j] > u[j]*(1+1e-9) {
				t.Fatalf("instance %d: s[%d]=%v outside [0, %v]", n, j, s[j], u[j])
			}
			got += s[j]
		}
		if !near(got, min(sum, safe), 1e-7) {
			t.Fatalf("instance %d: LP served %v, want %v", n, got, min(sum, safe))
		}
	}
	if o.restarts != 0 {
		t.Errorf("%d of %d solves restarted from the slack basis: the crash basis should be feasible", o.restarts, o.solves)
	}
}

func TestShareRules(t *testing.T) {
	tests := []struct {
		name     string
		rule     shareRule
		capacity float64
		want     []float64
		weight   []float64
		out      []float64
	}{
		{"fair: all fit", fairShare, 100, []float64{10, 20, 30}, []float64{1, 1, 1}, []float64{10, 20, 30}},
		{"fair: max-min", fairShare, 90, []float64{10, 50, 100}, []float64{1, 1, 1}, []float64{10, 40, 40}},
		{"fair: weighted", fairShare, 90, []float64{100, 100, 5}, []float64{2, 1, 1}, []float64{56.666666666666664, 28.333333333333332, 5}},
		{"proportional: all fit", proportionalShare, 100, []float64{10, 20, 30}, []float64{1, 1, 1}, []float64{10, 20, 30}},
		// Equal part 30: c1 keeps 10; 20 left over goes to c2 and c3 in
		// proportion to their wants above 30 (20 and 70).
		{"proportional: extra by want", proportionalShare, 90, []float64{10, 50, 100}, []float64{1, 1, 1}, []float64{10, 30 + 20*20.0/90, 30 + 20*70.0/90}},
		{"pulsar: spare by usage", usageProportional, 100, []float64{10, 30}, []float64{1, 1}, []float64{25, 75}},
		{"pulsar: over limit cut by usage", usageProportional, 40, []float64{20, 60}, []float64{1, 1}, []float64{10, 30}},
		{"pulsar: no usage split by weight", usageProportional, 90, []float64{0, 0}, []float64{2, 1}, []float64{60, 30}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			idx := make([]int, len(tt.want))
			for i := range idx {
				idx[i] = i
			}
			out := make([]float64, len(idx))
			tt.rule(tt.capacity, idx, tt.want, tt.weight, out, make([]int, len(idx)))
			var sum float64
			for i := range out {
				if !near(out[i], tt.out[i], 1e-12) {
					t.Errorf("out %v, want %v", out, tt.out)
					break
				}
				sum += out[i]
			}
			if sum > tt.capacity*(1+1e-12) {
				t.Errorf("allocated %v of %v", sum, tt.capacity)
			}
		})
	}
}

func TestReportFormats(t *testing.T) {
	s := parse(t, twiceTheShare)
	res, err := Run(s, Options{Policies: []string{"static", "oracle", "doorman-fair"}, SeriesPoints: 4})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := WriteJSON(&buf, []*Result{res}); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Scenario string                       `json:"scenario"`
		Policies []map[string]json.RawMessage `json:"policies"`
	}
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("JSON does not parse: %v\n%s", err, buf.String())
	}
	if doc.Scenario != "twice" || len(doc.Policies) != 3 {
		t.Fatalf("scenario %q with %d policies", doc.Scenario, len(doc.Policies))
	}
	for _, key := range []string{"name", "demand_bytes", "throttled_bytes", "overload_rounds", "overload_bytes", "lender_violation_rounds", "writes", "round_seconds",
		"throttled_vs_oracle_kafka", "throttled_vs_oracle_causal", "strict_safe", "unsafe_rounds"} {
		if _, ok := doc.Policies[0][key]; !ok {
			t.Errorf("JSON policy lacks %q: %s", key, buf.String())
		}
	}
	// static throttled, the oracle served everything: static / oracle is
	// infinite and rendered null, not an invalid number.
	if got := string(doc.Policies[0]["throttled_vs_oracle"]); got != "null" {
		t.Errorf("throttled_vs_oracle %s, want null", got)
	}

	buf.Reset()
	if err := WriteMarkdown(&buf, []*Result{res}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 5 || !strings.Contains(lines[2], "| twice | static | ") || !strings.Contains(lines[2], " | yes | ") ||
		!strings.Contains(lines[0], "| vs oracle-kafka | vs oracle-causal | strict safety |") {
		t.Errorf("markdown:\n%s", buf.String())
	}
	// Round 0 serves 225MiB of the demand in 10s (see
	// TestEnforcerTwiceTheQuotaFromAnEmptyWindow).
	se := res.Policies[0].Series
	if se == nil || len(se.Hours) != 3 || se.Demand[0][0] != 40<<20 || se.Served[0][0] != 22.5*mib || se.Quota[0][0] != 20<<20 {
		t.Errorf("series %+v", se)
	}
}

func TestProgressReachesTheEnd(t *testing.T) {
	s := parse(t, twiceTheShare)
	var last, total int
	_, err := Run(s, Options{Policies: []string{"static"}, Progress: func(d, n int) { last, total = d, n }})
	if err != nil {
		t.Fatal(err)
	}
	if last != 6 || total != 6 {
		t.Errorf("progress ended at %d/%d, want 6/6", last, total)
	}
}

func TestPolicyTimeUsesInjectedClock(t *testing.T) {
	s := parse(t, twiceTheShare)
	var now time.Time
	clock := func() time.Time { now = now.Add(time.Millisecond); return now }
	res, err := Run(s, Options{Policies: []string{"static"}, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	// Each Plan call is timed by two clock reads, 1ms apart; two
	// directions per round.
	if got := find(t, res, "static").RoundSeconds; !near(got, 0.002, 1e-9) {
		t.Errorf("round seconds %v, want 0.002", got)
	}
}

func TestWriteReport(t *testing.T) {
	s := parse(t, twiceTheShare)
	res, err := Run(s, Options{Policies: []string{"static", "doorman-fair"}, SeriesPoints: 100})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	files, err := WriteReport(dir, []*Result{res})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"report.md", "twice-throttled.svg", "twice-static.svg", "twice-doorman-fair.svg"}
	if len(files) != len(want) {
		t.Fatalf("files %v, want %v", files, want)
	}
	for i, f := range files {
		if filepath.Base(f) != want[i] {
			t.Errorf("file %d is %s, want %s", i, f, want[i])
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(f, ".svg") {
			var root struct {
				XMLName xml.Name
			}
			if err := xml.Unmarshal(b, &root); err != nil || root.XMLName.Local != "svg" {
				t.Errorf("%s is not SVG: %v", f, err)
			}
		}
	}
	md, _ := os.ReadFile(files[0])
	for _, w := range []string{"| twice | static |", "![throttled bytes per policy](twice-throttled.svg)", "(twice-doorman-fair.svg)"} {
		if !strings.Contains(string(md), w) {
			t.Errorf("report.md lacks %q:\n%s", w, md)
		}
	}
}

func TestProgressBar(t *testing.T) {
	var buf bytes.Buffer
	bar := ProgressBar(&buf, "vivo")
	bar(5, 10)
	bar(10, 10)
	out := buf.String()
	if !strings.Contains(out, "\rvivo") || !strings.Contains(out, " 50%") || !strings.HasSuffix(out, "100%\n") {
		t.Errorf("progress output %q", out)
	}
}
