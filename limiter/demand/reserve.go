package demand

import "math"

// Reserve is what a broker keeps back for traffic Headroom never throttles
// (a cluster's exempt entities) when it plans the next round: the larger of
// the rate measured this round and the detector's upper bound for it. The
// measurement covers a rise at once, before the detector has seen it
// sustained; the bound covers the round-to-round noise around a steady
// level. Traffic measured at zero has stopped (a broker keeps a stopped
// client's sensor for an hour, at zero): nothing is reserved, whatever the
// bound still remembers, and the caller starts its series over. A
// measurement that is not a rate stays unknown (NaN), which the allocator
// holds as missing data.
func Reserve(measured, upper float64) float64 {
	if math.IsNaN(measured) || measured < 0 || math.IsInf(measured, 0) {
		return math.NaN()
	}
	if measured == 0 {
		return 0
	}
	if upper > measured && !math.IsInf(upper, 0) {
		return upper
	}
	return measured
}
