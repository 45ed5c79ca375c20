package demand

import (
	"math"
	"testing"
	"time"
)

func TestReserve(t *testing.T) {
	nan := math.NaN()
	for _, tc := range []struct {
		name            string
		measured, upper float64
		want            float64
	}{
		{"steady: the bound covers the noise", 40, 44, 44},
		{"a rise the detector has not seen yet: what was measured", 60, 44, 60},
		{"no bound yet", 10, nan, 10},
		{"stopped: nothing, whatever the bound remembers", 0, 44, 0},
		{"an infinite bound is no bound", 10, math.Inf(1), 10},
		{"nothing measured is unknown", nan, 44, nan},
		{"a negative rate is unknown", -1, 44, nan},
		{"an infinite rate is unknown", math.Inf(1), 44, nan},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Reserve(tc.measured, tc.upper)
			if got != tc.want && !(math.IsNaN(got) && math.IsNaN(tc.want)) {
				t.Errorf("Reserve(%v, %v) = %v, want %v", tc.measured, tc.upper, got, tc.want)
			}
		})
	}
}

// TestReservesKeepOneBoundPerKey: each key's bound sees only its own
// measurements; zero drops a key's bound so that it starts over; NaN is
// not fed to the bound; Retain drops the keys no longer reported. The
// bound here is a test double that remembers what it was fed and
// returns the largest so far plus one.
func TestReservesKeepOneBoundPerKey(t *testing.T) {
	made := 0
	var r Reserves[string]
	r.New = func() (UpperBound, error) {
		made++
		top := 0.0
		return func(_ time.Time, v float64) float64 { top = max(top, v); return top + 1 }, nil
	}
	at := time.Unix(0, 0)
	steps := []struct {
		key  string
		v    float64
		want float64
	}{
		{"a", 10, 11},
		{"b", 5, 6},          // b's own bound: a's 10 is not in it
		{"a", 8, 11},         // a's bound remembers 10
		{"a", 0, 0},          // stopped: nothing reserved, a's bound dropped
		{"a", 4, 5},          // a starts over: its old 10 is forgotten
		{"b", math.NaN(), 0}, // unknown: NaN, not fed (checked below)
		{"b", 5.5, 6.5},      // b's bound saw 5 and 5.5 only
	}
	for i, s := range steps {
		got := r.Next(s.key, at, s.v)
		if math.IsNaN(s.v) {
			if !math.IsNaN(got) {
				t.Errorf("step %d: reserve %v for an unknown measurement, want NaN", i, got)
			}
			continue
		}
		if got != s.want {
			t.Errorf("step %d (%s = %v): reserve %v, want %v", i, s.key, s.v, got, s.want)
		}
	}
	if made != 3 {
		t.Errorf("%d bounds made, want 3 (a, b, a again)", made)
	}
	r.Retain(func(k string) bool { return k == "b" })
	if r.Len() != 1 {
		t.Errorf("%d bounds after keeping only b, want 1", r.Len())
	}
}
