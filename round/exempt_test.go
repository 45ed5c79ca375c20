package round

import (
	"math"
	"testing"
	"time"

	"github.com/headroomhq/headroom/collector"
	"github.com/headroomhq/headroom/config"
)

// TestMeasuredExemptSumsPerBroker: the exempt entities' bytes on a
// broker add up per direction; a stale figure still counts (the last one
// known), a pending or missing one makes the reserve unknown (NaN), which
// the allocator holds as missing data.
func TestMeasuredExemptSumsPerBroker(t *testing.T) {
	key := func(b string) collector.BrokerKey { return collector.BrokerKey{Cluster: "eu", Broker: b} }
	rate := func(b, name string, d config.Direction, v float64, st collector.State) collector.ExemptRate {
		return collector.ExemptRate{BrokerKey: key(b), Name: name, Direction: d, Rate: collector.Value{Value: v, State: st}}
	}
	snap := &collector.Snapshot{Exempt: []collector.ExemptRate{
		rate("1", "mm2", config.Produce, 1000, collector.Fresh),
		rate("1", "cc", config.Produce, 200, collector.Stale),
		rate("1", "mm2", config.Fetch, 50, collector.Fresh),
		rate("2", "mm2", config.Produce, 7, collector.Pending),
	}}
	got := measuredExempt(snap)
	for _, tc := range []struct {
		broker string
		dir    config.Direction
		want   float64
	}{
		{"1", config.Produce, 1200},
		{"1", config.Fetch, 50},
		{"2", config.Produce, math.NaN()},
		{"3", config.Produce, 0}, // no exempt traffic seen
	} {
		v := got[rateKey{cluster: "eu", broker: tc.broker, dir: tc.dir}]
		if v != tc.want && !(math.IsNaN(v) && math.IsNaN(tc.want)) {
			t.Errorf("broker %s %v: reserve %v, want %v", tc.broker, tc.dir, v, tc.want)
		}
	}
}

// mirrorAt is round i's snapshot, rounds 15 s apart, with the exempt
// entity mm2 measured at v on broker eu/1.
func mirrorAt(i int, v float64) *collector.Snapshot {
	return &collector.Snapshot{Time: time.Unix(1700000000, 0).Add(time.Duration(i) * 15 * time.Second),
		Exempt: []collector.ExemptRate{{BrokerKey: collector.BrokerKey{Cluster: "eu", Broker: "1"}, Name: "mm2",
			Direction: config.Produce, Rate: collector.Value{Value: v, State: collector.Fresh}}}}
}

// steadyMirror feeds x 200 rounds of the mirror at ±2% around 1000,
// alternating, and returns the next round's index.
func steadyMirror(x *exemptReserves) int {
	for i := range 200 {
		x.reserves(mirrorAt(i, 1000+20*float64(1-2*(i%2))))
	}
	return 200
}

// TestExemptReservesFollowTheTraffic: a steady, noisy exempt rate earns a
// reserve above the measurement (the detector's upper bound); a jump is
// reserved in full in the round it is measured; a broker no longer
// reporting starts over.
func TestExemptReservesFollowTheTraffic(t *testing.T) {
	x := exemptReserves{cfg: config.DefaultDetectorConfig()}
	k := rateKey{cluster: "eu", broker: "1", dir: config.Produce}
	i := steadyMirror(&x)
	if got := x.reserves(mirrorAt(i, 980))[k]; !(got > 1000) {
		t.Errorf("steady traffic measured at 980: reserve %v, want the bound above its level 1000", got)
	}
	i++
	if got := x.reserves(mirrorAt(i, 2000))[k]; got < 2000 {
		t.Errorf("a jump to 2000: reserve %v, want at least the measurement", got)
	}
	i++
	x.reserves(&collector.Snapshot{Time: mirrorAt(i, 0).Time})
	if n := x.r.Len(); n != 0 {
		t.Errorf("%d series kept for brokers no longer reporting exempt traffic", n)
	}
}

// TestExemptReserveEndsWhenTrafficStops: a client that stops keeps its
// sensor, reported at zero, for an hour (Kafka expires an idle client's
// sensors after an hour); the reserve must end with the traffic rather
// than decay with the detector's bound (which the spike filter holds near
// the old level for rounds after a drop), and traffic that resumes is
// reserved from its new measurement.
func TestExemptReserveEndsWhenTrafficStops(t *testing.T) {
	x := exemptReserves{cfg: config.DefaultDetectorConfig()}
	k := rateKey{cluster: "eu", broker: "1", dir: config.Produce}
	i := steadyMirror(&x)
	for j := range 3 {
		if got := x.reserves(mirrorAt(i, 0))[k]; got != 0 {
			t.Fatalf("%d rounds after the traffic stopped (measured 0): reserve %v, want 0", j+1, got)
		}
		i++
	}
	if got := x.reserves(mirrorAt(i, 500))[k]; got < 500 {
		t.Errorf("traffic back at 500: reserve %v, want at least the measurement", got)
	}
}
