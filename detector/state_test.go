package detector

import (
	"bytes"
	"encoding/gob"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/headroomhq/headroom/config"
)

// feed runs rounds i in [from, to) of a two-project workload with a daily
// pattern, noise, a step and throttling, and returns what the monitor said.
func feed(m *Monitor, from, to int) (sig []Signals, ev []Event) {
	start := time.Unix(1_700_000_000, 0)
	for i := from; i < to; i++ {
		r := rand.New(rand.NewPCG(uint64(i), 7))
		t := start.Add(time.Duration(i) * time.Minute)
		day := 1 + 0.5*math.Sin(2*math.Pi*float64(i)/1440)
		a := 1e6 * day * (1 + 0.05*r.NormFloat64())
		if i > 3000 {
			a *= 1.6
		}
		in := Input{Time: t,
			Traffic:  []TrafficSample{{Project: "a", Direction: config.Produce, Rate: a}, {Project: "b", Direction: config.Fetch, Rate: 5e5 * (1 + 0.05*r.NormFloat64())}},
			Throttle: []ThrottleSample{{Project: "a", Direction: config.Produce, Time: time.Duration(i%7) * 100 * time.Millisecond}},
			Targets:  []TargetSample{{Target: "t", Up: i%5 != 0}},
		}
		s, e := m.Observe(in)
		sig, ev = append(sig, s), append(ev, e...)
	}
	return sig, ev
}

func TestStateRoundTripContinuesExactly(t *testing.T) {
	cfg := config.DefaultDetectorConfig()
	whole, _ := NewMonitor(cfg)
	wantSig, wantEv := feed(whole, 0, 3200)

	first, _ := NewMonitor(cfg)
	sig1, ev1 := feed(first, 0, 2900) // two days learnt, before the step
	b, err := first.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	restored, _ := NewMonitor(cfg)
	if err := restored.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	sig2, ev2 := feed(restored, 2900, 3200)
	if !reflect.DeepEqual(append(sig1, sig2...), wantSig) {
		t.Fatal("signals after a restore differ from an uninterrupted run")
	}
	if !reflect.DeepEqual(append(ev1, ev2...), wantEv) {
		t.Fatalf("events after a restore differ: %d+%d vs %d", len(ev1), len(ev2), len(wantEv))
	}
	if len(wantEv) == 0 {
		t.Fatal("the workload raised no event; the comparison proves little")
	}
	// A fresh monitor, by contrast, has to relearn: its forecasts differ.
	fresh, _ := NewMonitor(cfg)
	sig3, _ := feed(fresh, 2900, 3200)
	if reflect.DeepEqual(sig3, sig2) {
		t.Fatal("a fresh monitor forecasts like the restored one: the state carried nothing")
	}
}

func TestStateRefusesMismatches(t *testing.T) {
	cfg := config.DefaultDetectorConfig()
	m, _ := NewMonitor(cfg)
	feed(m, 0, 50)
	b, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	other := cfg
	other.SeasonBuckets = 48
	m2, _ := NewMonitor(other)
	// The same state with one series in a direction Headroom never wrote.
	var st monitorState
	if err := gob.NewDecoder(bytes.NewReader(b)).Decode(&st); err != nil || len(st.Traffic) == 0 {
		t.Fatalf("decode the saved state: %v (%d series)", err, len(st.Traffic))
	}
	st.Traffic[0].Direction = "sideways"
	var sideways bytes.Buffer
	if err := gob.NewEncoder(&sideways).Encode(st); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		m    *Monitor
		b    []byte
		want string
	}{
		{"other configuration", m2, b, "another detector configuration"},
		{"garbage", m, []byte("not a state"), "decode detector state"},
		{"truncated", m, b[:len(b)/2], "decode detector state"},
		{"unknown direction", m, sideways.Bytes(), `invalid direction "sideways"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, _ := tc.m.MarshalBinary()
			err := tc.m.UnmarshalBinary(tc.b)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
			after, _ := tc.m.MarshalBinary()
			if string(before) != string(after) {
				t.Fatal("a refused state changed the monitor")
			}
		})
	}
}

func FuzzUnmarshalState(f *testing.F) {
	m, _ := NewMonitor(config.DefaultDetectorConfig())
	feed(m, 0, 20)
	b, _ := m.MarshalBinary()
	f.Add(b)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, _ := NewMonitor(config.DefaultDetectorConfig())
		if err := m.UnmarshalBinary(b); err != nil {
			return
		}
		feed(m, 20, 25) // a state that decodes must run without panicking
	})
}
