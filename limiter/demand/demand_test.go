package demand

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/headroomhq/headroom/limiter"
)

func TestEstimate(t *testing.T) {
	p := DefaultParams()
	const window = 11000.0
	for _, tc := range []struct {
		name                           string
		served, throttle, quota, share float64
		want                           float64
		fromThrottle                   bool
	}{
		{"not throttled: the served rate", 300, 0, 1000, 2000, 300, false},
		{"no quota known: the served rate", 300, 50, 0, 2000, 300, false},
		{"infinite quota: the served rate", 300, 50, math.Inf(1), 2000, 300, false},
		{"lender muted below its share gets its share", 990, 10, 1000, 5000, 5000, true},
		{"lender muted near its share: a probe step above it", 990, 10, 1000, 1500, 1000 * (1 + DefaultProbeStep), true},
		{"lender grazed its quota: Kafka's formula only", 850, 20, 1000, 2000, 1000 * (1 + 20.0/window), true},
		{"lender cut hard, served far below: muted, its share", 400, 3500, 1000, 5000, 5000, true},
		{"borrower grazed its quota: no probe step", 2000, 20, 2500, 2000, 2500 * (1 + 20.0/window), true},
		{"borrower throttled at onset: Kafka's formula", 3000, 22000, 2500, 2000, 7500, true},
		{"borrower muted: at least a probe step", 2500, 10, 2500, 2000, 2500 * (1 + DefaultProbeStep), true},
		{"served above the estimate wins", 6000, 10, 2500, 2000, 6000, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := p.Estimate(tc.served, tc.throttle, tc.quota, tc.share)
			if math.Abs(e.Rate-tc.want) > 1e-9*tc.want || e.FromThrottle != tc.fromThrottle {
				t.Fatalf("Estimate = %+v, want %v (from throttle %v)", e, tc.want, tc.fromThrottle)
			}
		})
	}
}

func TestEstimateWindow(t *testing.T) {
	// A 30 s window: 11 s of throttle time means 11/30 above the quota.
	p := DefaultParams()
	p.Window = 30 * time.Second
	p.ProbeStep = 0 // the formula alone
	if e := p.Estimate(3000, 11000, 3000, 1000); math.Abs(e.Rate-3000*(1+11.0/30)) > 1e-6 {
		t.Fatalf("30s window: %v", e.Rate)
	}
	// The zero window is Kafka's default.
	p.Window = 0
	if e := p.Estimate(3000, 11000, 3000, 1000); math.Abs(e.Rate-6000) > 1e-6 {
		t.Fatalf("default window: %v", e.Rate)
	}
}

func TestLoadsSpreadAndSplit(t *testing.T) {
	p := DefaultParams()
	p.WarmRounds = 0 // TestWarmUp
	for _, tc := range []struct {
		name            string
		in              Input
		wantForecast    []float64
		wantRate        []float64
		wantHold        []float64
		wantFromThrottl []bool
	}{
		{
			name:         "no forecast: zero bound, rates as served",
			in:           Input{Quota: 100, Share: 100, Loads: []Observed{{Broker: 0, Served: 30}, {Broker: 1, Served: 10}}},
			wantForecast: []float64{0, 0}, wantRate: []float64{30, 10}, wantHold: []float64{30, 10}, wantFromThrottl: []bool{false, false},
		},
		{
			name:         "upper bound split by the estimates",
			in:           Input{Quota: 100, Share: 100, Expected: 40, Upper: 50, Loads: []Observed{{Broker: 0, Served: 30}, {Broker: 1, Served: 10}}},
			wantForecast: []float64{37.5, 12.5}, wantRate: []float64{30, 10}, wantHold: []float64{30, 10}, wantFromThrottl: []bool{false, false},
		},
		{
			name:         "spread caps a wide bound at 1.5 × max(expected, current)",
			in:           Input{Quota: 100, Share: 100, Expected: 20, Upper: 400, Loads: []Observed{{Broker: 0, Served: 30}, {Broker: 1, Served: 10}}},
			wantForecast: []float64{45, 15}, wantRate: []float64{30, 10}, wantHold: []float64{30, 10}, wantFromThrottl: []bool{false, false},
		},
		{
			name:         "nothing served: split by weight",
			in:           Input{Quota: 100, Share: 100, Expected: 10, Upper: 12, Loads: []Observed{{Broker: 0, Weight: 3}, {Broker: 1, Weight: 1}}},
			wantForecast: []float64{9, 3}, wantRate: []float64{0, 0}, wantHold: []float64{0, 0}, wantFromThrottl: []bool{false, false},
		},
		{
			name:         "throttled load: estimate from the formula, hold the served rate",
			in:           Input{Quota: 50, Share: 40, Loads: []Observed{{Broker: 2, Served: 50, ThrottleMs: 11000}}},
			wantForecast: []float64{0}, wantRate: []float64{100}, wantHold: []float64{50}, wantFromThrottl: []bool{true},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var m Memory
			est := make([]Estimate, len(tc.in.Loads))
			p.Estimates(&tc.in, est)
			loads := p.Loads(&m, &tc.in, est, nil)
			for k, l := range loads {
				if l.Broker != tc.in.Loads[k].Broker || math.Abs(l.Forecast-tc.wantForecast[k]) > 1e-9 ||
					math.Abs(l.Rate-tc.wantRate[k]) > 1e-9 || math.Abs(l.Hold-tc.wantHold[k]) > 1e-9 || l.FromThrottle != tc.wantFromThrottl[k] {
					t.Fatalf("load %d = %+v, want forecast %v rate %v hold %v from throttle %v", k, l,
						tc.wantForecast[k], tc.wantRate[k], tc.wantHold[k], tc.wantFromThrottl[k])
				}
			}
		})
	}
}

func TestConfirm(t *testing.T) {
	// Share 100, bound 1.5 × 60 = 90 from a steady 60: a jump to 200
	// unthrottled widens the bound only from its second round.
	p := DefaultParams()
	p.WarmRounds = 0 // TestWarmUp
	var m Memory
	step := func(served, throttle float64) limiter.Load {
		in := Input{Quota: 250, Share: 100, Expected: 60, Upper: 1000, Loads: []Observed{{Served: served, ThrottleMs: throttle}}}
		est := make([]Estimate, 1)
		p.Estimates(&in, est)
		return p.Loads(&m, &in, est, nil)[0]
	}
	if l := step(60, 0); l.Forecast != 90 {
		t.Fatalf("steady: forecast %v, want 90", l.Forecast)
	}
	l := step(200, 0)
	if l.Rate != 200 {
		t.Fatalf("first round above: rate %v, want the served 200 (never below what was served)", l.Rate)
	}
	if want := 150.0; l.Forecast != want { // the bound from max(expected 60, the limit 100) × 1.5
		t.Fatalf("first round above: forecast %v, want %v (not widened by 200)", l.Forecast, want)
	}
	if l := step(200, 0); l.Forecast != 300 {
		t.Fatalf("second round above: forecast %v, want 300", l.Forecast)
	}
	// Throttling needs no confirming.
	m.Reset()
	step(60, 0)
	if l := step(250, 3000); !l.FromThrottle || l.Forecast < l.Rate {
		t.Fatalf("throttled: %+v, want the bound from the throttled estimate at once", l)
	}
}

// TestNeverBelowServed: whatever was observed, no load's estimate is below
// the served rate it was built from, and every output is finite.
func TestNeverBelowServed(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	p := DefaultParams()
	for n := range 20000 {
		var m Memory
		in := Input{Quota: r.Float64() * 1000, Share: r.Float64() * 1000, Expected: r.Float64() * 2000, Upper: r.Float64() * 3000}
		if n%7 == 0 {
			in.Quota = 0
		}
		k := 1 + r.IntN(4)
		for range k {
			o := Observed{Broker: r.IntN(10), Served: r.Float64() * 1500, Weight: r.Float64()}
			if r.IntN(2) == 0 {
				o.ThrottleMs = r.Float64() * 20000
			}
			in.Loads = append(in.Loads, o)
		}
		est := make([]Estimate, k)
		for round := range 3 {
			p.Estimates(&in, est)
			for j, l := range p.Loads(&m, &in, est, nil) {
				o := in.Loads[j]
				if l.Rate < o.Served || l.Hold != o.Served || math.IsNaN(l.Forecast) || math.IsInf(l.Forecast, 0) || l.Forecast < 0 {
					t.Fatalf("case %d round %d load %d: %+v from %+v (input %+v)", n, round, j, l, o, in)
				}
			}
		}
	}
}

func TestDamage(t *testing.T) {
	p := DefaultParams()
	for _, tc := range []struct {
		name             string
		in               Input
		headroom, static float64 // bytes over 10 s
	}{
		{"unthrottled within share: none", Input{Quota: 100, Share: 100, Loads: []Observed{{Served: 80}}}, 0, 0},
		{"borrowing unthrottled: static would have throttled the excess", Input{Quota: 150, Share: 100, Loads: []Observed{{Served: 140}}}, 0, 400},
		{"throttled at onset: the formula's excess, both ways", Input{Quota: 100, Share: 100, Loads: []Observed{{Served: 100, ThrottleMs: 5500}}}, 500, 500},
		{"lent down and throttled: static would not have", Input{Quota: 50, Share: 100, Loads: []Observed{{Served: 50, ThrottleMs: 2200}}}, 100, 0},
		{"two brokers add up", Input{Quota: 150, Share: 100, Loads: []Observed{{Served: 140}, {Served: 120}}}, 0, 600},
		{"the formula on the served rate, not on a quota raised since", Input{Quota: 400, Share: 100, Loads: []Observed{{Served: 100, ThrottleMs: 1100}}}, 100, 100},
		{"no quota known: still the formula on the served rate", Input{Share: 100, Loads: []Observed{{Served: 110, ThrottleMs: 11000}}}, 1100, 1200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := p.Damage(&tc.in, 10)
			if math.Abs(d.Headroom-tc.headroom) > 1e-9 || math.Abs(d.Static-tc.static) > 1e-9 {
				t.Fatalf("Damage = %+v, want headroom %v static %v", d, tc.headroom, tc.static)
			}
		})
	}
	if d := p.Damage(&Input{Quota: 1, Loads: []Observed{{Served: 5, ThrottleMs: 100}}}, math.NaN()); d != (Damage{}) {
		t.Fatalf("NaN seconds: %+v", d)
	}
}

func TestWarmUp(t *testing.T) {
	// A project seen at a tenth of its share on its first rounds is sized
	// by its share until WarmRounds rounds were seen, then by its bound.
	p := DefaultParams()
	p.WarmRounds = 3
	var m Memory
	in := Input{Quota: 100, Share: 100, Expected: 10, Upper: 12, Loads: []Observed{{Served: 10}}}
	est := make([]Estimate, 1)
	for round, want := range []float64{100, 100, 100, 12, 12} {
		p.Estimates(&in, est)
		if l := p.Loads(&m, &in, est, nil)[0]; l.Forecast != want {
			t.Fatalf("round %d: forecast %v, want %v", round, l.Forecast, want)
		}
	}
	m.Reset()
	p.Estimates(&in, est)
	if l := p.Loads(&m, &in, est, nil)[0]; l.Forecast != 100 {
		t.Fatalf("after Reset: forecast %v, want the share again", l.Forecast)
	}
}

func TestMeasuredLeavesOutTheProbe(t *testing.T) {
	// A muted borrower: Rate carries the probe step, Measured only what
	// Kafka's formula says, and Estimates sums Measured for the detector.
	p := DefaultParams()
	in := Input{Quota: 1000, Share: 500, Loads: []Observed{{Served: 1000, ThrottleMs: 110}, {Served: 300}}}
	est := make([]Estimate, 2)
	total := p.Estimates(&in, est)
	if est[0].Rate != 2000 || math.Abs(est[0].Measured-1010) > 1e-9 || est[1].Measured != 300 || math.Abs(total-1310) > 1e-9 {
		t.Fatalf("estimates %+v total %v", est, total)
	}
}

// A muted lender's guessed demand (its whole share) is Load.Measured only
// once it has been muted ConfirmRounds rounds in a row: a noise excursion
// over its quota lasts a round and takes back only what Kafka measured
// before the borrowers' window holds; a lender coming back stays muted and
// then takes its share before them. A round not muted starts the count
// over.
func TestMutedTwiceCountsTheGuessAsMeasured(t *testing.T) {
	p := DefaultParams()
	p.WarmRounds = 0 // TestWarmUp
	var m Memory
	// Quota 20 of a share of 100, served at the quota, throttled
	// 1.1s (a tenth of the window): the formula measures 22, the
	// guess is the share.
	step := func(throttleMs float64) limiter.Load {
		in := Input{Quota: 20, Share: 100, Loads: []Observed{{Served: 20, ThrottleMs: throttleMs}}}
		est := make([]Estimate, 1)
		p.Estimates(&in, est)
		return p.Loads(&m, &in, est, nil)[0]
	}
	for k, tc := range []struct {
		throttleMs, wantRate, wantMeasured float64
	}{
		{1100, 100, 22},  // muted once: what Kafka measured
		{1100, 100, 100}, // muted twice: the share
		{1100, 100, 100}, // still muted
		{0, 20, 20},      // served within the quota: the count starts over
		{1100, 100, 22},  // muted once again
	} {
		if l := step(tc.throttleMs); math.Abs(l.Rate-tc.wantRate) > 1e-9 || math.Abs(l.Measured-tc.wantMeasured) > 1e-9 {
			t.Fatalf("round %d: rate %v measured %v, want %v and %v", k, l.Rate, l.Measured, tc.wantRate, tc.wantMeasured)
		}
	}
}
