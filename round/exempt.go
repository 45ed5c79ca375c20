package round

import (
	"math"

	"github.com/headroomhq/headroom/collector"
	"github.com/headroomhq/headroom/limiter"
)

// reserves sums, per cluster, broker and direction, the bytes the
// cluster's exempt entities moved this round: traffic Headroom never
// throttles and plans around (limiter.Broker.Reserved). A rate that is
// pending or missing makes the sum NaN, which the allocator treats as
// missing data and holds the broker's quotas.
func reserves(s *collector.Snapshot) map[rateKey]float64 {
	out := map[rateKey]float64{}
	for _, x := range s.Exempt {
		k := rateKey{cluster: x.Cluster, broker: x.Broker, dir: dirOf(x.Direction)}
		switch x.Rate.State {
		case collector.Fresh, collector.Stale:
			out[k] += max(0, x.Rate.Value)
		default:
			out[k] = math.NaN()
		}
	}
	return out
}

// reserved is what the exempt entities took on one broker this round.
func (b *builder) reserved(cluster string, id int32, d limiter.Direction) float64 {
	return b.reserve[rateKey{cluster: cluster, broker: brokerID(id), dir: d}]
}
