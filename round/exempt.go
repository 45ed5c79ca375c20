package round

import (
	"math"
	"slices"

	"github.com/headroomhq/headroom/collector"
	"github.com/headroomhq/headroom/config"
	"github.com/headroomhq/headroom/detector"
	"github.com/headroomhq/headroom/limiter/demand"
)

// exemptReserves follows, per cluster, broker and direction, the bytes the
// cluster's exempt entities move: traffic Headroom never throttles and
// plans around (limiter.Broker.Reserved). Each broker's sum goes through a
// detector series, so the reserve covers the noise around the traffic's
// level as well as a rise (demand.Reserves).
type exemptReserves struct {
	cfg config.DetectorConfig
	r   demand.Reserves[rateKey]
}

// reserves returns this round's reserve per broker and direction. A rate
// that is pending or missing makes the reserve unknown (NaN), which the
// allocator treats as missing data and holds the broker's quotas.
func (x *exemptReserves) reserves(s *collector.Snapshot) map[rateKey]float64 {
	if x.r.New == nil {
		x.r.New = func() (demand.UpperBound, error) { return detector.NewUpperBound(x.cfg) }
	}
	sums := measuredExempt(s)
	out := make(map[rateKey]float64, len(sums))
	for k, v := range sums {
		out[k] = x.r.Next(k, s.Time, v)
	}
	x.r.Retain(func(k rateKey) bool { _, ok := sums[k]; return ok })
	return out
}

// measuredExempt sums the exempt entities' bytes per cluster, broker and
// direction; a stale figure still counts (the last known), a pending or
// missing one makes the sum NaN.
func measuredExempt(s *collector.Snapshot) map[rateKey]float64 {
	out := map[rateKey]float64{}
	for _, x := range s.Exempt {
		k := rateKey{cluster: x.Cluster, broker: x.Broker, dir: x.Direction}
		switch x.Rate.State {
		case collector.Fresh, collector.Stale:
			out[k] += max(0, x.Rate.Value)
		default:
			out[k] = math.NaN()
		}
	}
	return out
}

// reserved is what the exempt entities take on one broker this round.
func (b *builder) reserved(cluster string, id int32, d config.Direction) float64 {
	return b.reserve[rateKey{cluster: cluster, broker: brokerID(id), dir: d}]
}

// exemptEqual reports whether two cluster lists name the same exempt
// entities, which the collector must know to report their traffic.
func exemptEqual(a, b []config.ClusterConfig) bool {
	return slices.EqualFunc(a, b, func(x, y config.ClusterConfig) bool {
		return x.Name == y.Name && slices.Equal(x.Exempt, y.Exempt)
	})
}
