package scenario

import (
	"math"
	"testing"

	"github.com/headroomhq/headroom/config"
)

const mib = 1 << 20

// TestExemptLoadPlacedAndSeededApart: exempt traffic lands on the brokers
// its placement names, in proportion; and adding it changes no project's
// demand draw.
func TestExemptLoadPlacedAndSeededApart(t *testing.T) {
	base := `
duration: 1h
brokers: {count: 3, capacity: {produce: 100MiB/s, fetch: 100MiB/s}}
projects:
  - {name: a, produce: {share: 10MiB/s}, fetch: {share: 10MiB/s}, demand: {produce: {base: 8MiB/s, noise: 0.2}}}
`
	without, err := Parse([]byte(base), ".")
	if err != nil {
		t.Fatal(err)
	}
	with, err := Parse([]byte(base+`
exempt:
  - {name: mm2, placement: {0: 3, 2: 1}, demand: {produce: {base: 4MiB/s}, fetch: {base: 8MiB/s}}}
`), ".")
	if err != nil {
		t.Fatal(err)
	}
	for r := range 50 {
		if a, b := without.Rate(0, config.Produce, r), with.Rate(0, config.Produce, r); a != b {
			t.Fatalf("round %d: project a's demand %v with an exempt source, %v without", r, b, a)
		}
	}
	for _, tc := range []struct {
		d    config.Direction
		want []float64 // MiB/s per broker
	}{
		{config.Produce, []float64{3, 0, 1}},
		{config.Fetch, []float64{6, 0, 2}},
	} {
		got := make([]float64, 3)
		with.ExemptLoad(tc.d, 7, got)
		for b := range got {
			if math.Abs(got[b]/mib-tc.want[b]) > 1e-9 {
				t.Errorf("%v: broker %d carries %.4f MiB/s, want %v", tc.d, b, got[b]/mib, tc.want[b])
			}
		}
	}
}
