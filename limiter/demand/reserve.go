package demand

import (
	"math"
	"time"
)

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

// UpperBound is one series' forecast upper bound: it takes the value
// measured at a time and returns the bound for the next round. Headroom
// uses the detector's (detector.Series.Observe(at, v).Upper); the demand
// stage does not import the detector.
type UpperBound func(at time.Time, v float64) float64

// Reserves keeps one bound per key (a broker and direction) and turns each
// round's measurement into that key's reserve, for the live round and the
// simulator alike. New makes the bound of a key seen for the first time or
// again after it stopped.
type Reserves[K comparable] struct {
	New    func() (UpperBound, error)
	bounds map[K]UpperBound
}

// Next is key k's reserve for the measurement v taken at at (Reserve).
// Traffic measured at zero has stopped: its bound is dropped, so it starts
// over when the traffic comes back. An unknown measurement (NaN) is not fed
// to the bound and gives an unknown reserve. When New fails, the
// measurement alone is the reserve.
func (r *Reserves[K]) Next(k K, at time.Time, v float64) float64 {
	if v == 0 {
		delete(r.bounds, k)
		return Reserve(v, math.NaN())
	}
	if math.IsNaN(v) {
		return math.NaN()
	}
	b := r.bounds[k]
	if b == nil {
		nb, err := r.New()
		if err != nil {
			return Reserve(v, math.NaN())
		}
		if r.bounds == nil {
			r.bounds = map[K]UpperBound{}
		}
		r.bounds[k], b = nb, nb
	}
	return Reserve(v, b(at, v))
}

// Retain drops the bounds of the keys keep rejects: traffic no longer
// reported starts over, as stopped traffic does.
func (r *Reserves[K]) Retain(keep func(K) bool) {
	for k := range r.bounds {
		if !keep(k) {
			delete(r.bounds, k)
		}
	}
}

// Len is how many keys have a bound.
func (r *Reserves[K]) Len() int { return len(r.bounds) }
