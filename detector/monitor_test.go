package detector

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/headroomhq/headroom/config"
)

func newTestMonitor(t *testing.T) *Monitor {
	t.Helper()
	m, err := NewMonitor(config.DefaultDetectorConfig())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestMonitorConditionEvents(t *testing.T) {
	cfg := config.DefaultDetectorConfig()
	tests := []struct {
		name   string
		rounds int
		in     func(i int) Input
		want   []string // "round kind key"
	}{
		{
			name: "sustained throttling fires once", rounds: 100,
			in: func(i int) Input {
				return Input{Throttle: []ThrottleSample{{Project: "p", Direction: config.Produce, Time: 500 * time.Millisecond}}}
			},
			want: []string{"3 sustained_throttling p/produce"},
		},
		{
			name: "throttling under the threshold is quiet", rounds: 100,
			in: func(i int) Input {
				return Input{Throttle: []ThrottleSample{{Project: "p", Direction: config.Fetch, Time: 50 * time.Millisecond}}}
			},
		},
		{
			name: "flapping throttling shorter than sustain is quiet", rounds: 100,
			in: func(i int) Input {
				d := time.Duration(0)
				if i%4 < 3 {
					d = time.Second
				}
				return Input{Throttle: []ThrottleSample{{Project: "p", Direction: config.Fetch, Time: d}}}
			},
		},
		{
			name: "lag growing from WARN", rounds: 20,
			in: func(i int) Input {
				st := LagOK
				if i >= 5 {
					st = LagWarn
				}
				return Input{Lag: []LagSample{{Group: "g", Topic: "t", Status: st, Lag: int64(100 * i)}}}
			},
			want: []string{"8 lag_growing g/t"},
		},
		{
			name: "lag OK and REWIND are quiet", rounds: 20,
			in: func(i int) Input {
				st := LagOK
				if i%2 == 0 {
					st = LagRewind
				}
				return Input{Lag: []LagSample{{Group: "g", Topic: "t", Status: st}}}
			},
		},
		{
			name: "broker saturation on the lower idle ratio", rounds: 10,
			in: func(i int) Input {
				return Input{Idle: []IdleSample{{Broker: "1", NetworkIdle: 0.9, RequestHandler: 0.05}, {Broker: "2", NetworkIdle: 0.5, RequestHandler: 0.6}}}
			},
			want: []string{"3 broker_saturation 1"},
		},
		{
			name: "target down after 3 failures, once per outage", rounds: 200,
			in: func(i int) Input {
				return Input{Targets: []TargetSample{{Target: "b1", Up: i < 10 || i > 150, Err: "connection refused"}, {Target: "b2", Up: true}}}
			},
			want: []string{"12 target_down b1"},
		},
		{
			name: "a second outage after the refractory period fires again", rounds: 200,
			in: func(i int) Input {
				up := !(i >= 10 && i < 20) && !(i >= 100 && i < 110)
				return Input{Targets: []TargetSample{{Target: "b1", Up: up}}}
			},
			want: []string{"12 target_down b1", "102 target_down b1"},
		},
		{
			name: "a second outage within the refractory period does not", rounds: 200,
			in: func(i int) Input {
				up := !(i >= 10 && i < 20) && !(i >= 40 && i < 50)
				return Input{Targets: []TargetSample{{Target: "b1", Up: up}}}
			},
			want: []string{"12 target_down b1"},
		},
	}
	if cfg.Sustain != 4 || cfg.TargetDownAfter != 3 || cfg.Refractory != 60 {
		t.Fatalf("the table assumes the default sustain 4, target_down_after 3, refractory 60")
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newTestMonitor(t)
			var got []string
			for i := 0; i < tt.rounds; i++ {
				in := tt.in(i)
				in.Time = t0.Add(time.Duration(i) * round)
				_, evs := m.Observe(in)
				for _, e := range evs {
					if e.Message == "" || !e.Time.Equal(in.Time) {
						t.Fatalf("event without message or time: %+v", e)
					}
					got = append(got, fmt.Sprintf("%d %s %s", i, e.Kind, e.Key))
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("events %q, want %q", got, tt.want)
			}
		})
	}
}

func TestMonitorTrafficSignalsAndEvents(t *testing.T) {
	m := newTestMonitor(t)
	rng := rand.New(rand.NewPCG(11, 11))
	var surge, drop []int
	for i := 0; i < 1000; i++ {
		a := 1e6 * (1 + 0.03*rng.NormFloat64())
		b := 2e6 * (1 + 0.03*rng.NormFloat64())
		if i >= 600 {
			a *= 2   // p1 produce surges
			b *= 0.3 // p2 fetch drops
		}
		if i == 300 {
			a = -4e9 // a counter reset upstream, skipped
		}
		sig, evs := m.Observe(Input{Time: t0.Add(time.Duration(i) * round), Traffic: []TrafficSample{
			{Project: "p2", Direction: config.Fetch, Rate: b},
			{Project: "p1", Direction: config.Produce, Rate: a},
		}})
		if len(sig.Forecasts) != 2 || sig.Forecasts[0].Project != "p1" || sig.Forecasts[1].Project != "p2" {
			t.Fatalf("round %d: forecasts %+v, want p1 then p2", i, sig.Forecasts)
		}
		for _, f := range sig.Forecasts {
			if f.Upper < f.Expected {
				t.Fatalf("round %d: upper %v under expected %v", i, f.Upper, f.Expected)
			}
		}
		if i == 500 {
			if f := sig.Forecasts[0]; f.Expected < 0.95e6 || f.Expected > 1.05e6 || f.Upper > 1.2e6 {
				t.Fatalf("round 500: p1 forecast %v upper %v, want about 1e6 and a tight bound", f.Expected, f.Upper)
			}
		}
		for _, e := range evs {
			switch {
			case e.Kind == EventSurge && e.Key == "p1/produce":
				surge = append(surge, i)
			case e.Kind == EventDrop && e.Key == "p2/fetch":
				drop = append(drop, i)
			default:
				t.Fatalf("round %d: unexpected event %+v", i, e)
			}
		}
	}
	if len(surge) != 1 || surge[0] > 603 || len(drop) != 1 || drop[0] > 603 {
		t.Fatalf("surge at %v, drop at %v; want one each within 3 rounds of 600", surge, drop)
	}
}
