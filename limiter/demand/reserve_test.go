package demand

import (
	"math"
	"testing"
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
