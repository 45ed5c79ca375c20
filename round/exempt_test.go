package round

import (
	"math"
	"testing"

	"github.com/headroomhq/headroom/collector"
	"github.com/headroomhq/headroom/limiter"
)

// TestReservesSumExemptTrafficPerBroker: the exempt entities' bytes on a
// broker add up per direction; a stale figure still counts (the last one
// known), a pending or missing one makes the reserve unknown (NaN), which
// the allocator holds as missing data.
func TestReservesSumExemptTrafficPerBroker(t *testing.T) {
	key := func(b string) collector.BrokerKey { return collector.BrokerKey{Cluster: "eu", Broker: b} }
	rate := func(b, name string, d collector.Direction, v float64, st collector.State) collector.ExemptRate {
		return collector.ExemptRate{BrokerKey: key(b), Name: name, Direction: d, Rate: collector.Value{Value: v, State: st}}
	}
	snap := &collector.Snapshot{Exempt: []collector.ExemptRate{
		rate("1", "mm2", collector.Produce, 1000, collector.Fresh),
		rate("1", "cc", collector.Produce, 200, collector.Stale),
		rate("1", "mm2", collector.Fetch, 50, collector.Fresh),
		rate("2", "mm2", collector.Produce, 7, collector.Pending),
	}}
	got := reserves(snap)
	for _, tc := range []struct {
		broker string
		dir    limiter.Direction
		want   float64
	}{
		{"1", limiter.Produce, 1200},
		{"1", limiter.Fetch, 50},
		{"2", limiter.Produce, math.NaN()},
		{"3", limiter.Produce, 0}, // no exempt traffic seen
	} {
		v := got[rateKey{cluster: "eu", broker: tc.broker, dir: tc.dir}]
		if v != tc.want && !(math.IsNaN(v) && math.IsNaN(tc.want)) {
			t.Errorf("broker %s %v: reserve %v, want %v", tc.broker, tc.dir, v, tc.want)
		}
	}
}
