package collector

import "time"

// RatedPoint is a canonical point after rating: Value is a per-second rate
// for counters and the value itself for gauges.
type RatedPoint struct {
	PointKey
	Value float64
	State State
}

type rateKey struct {
	target string
	PointKey
}

type lastSample struct {
	v float64
	t time.Time
}

// Rater turns counter points into per-second rates. A counter lower than
// its previous value is a reset: the rate is the new value over the
// interval (the counter restarted from zero). A counter not seen for longer
// than MaxGap, or seen for the first time, yields Pending. Rater is not safe
// for concurrent use; the Collector calls it from one goroutine.
type Rater struct {
	MaxGap time.Duration
	prev   map[rateKey]lastSample
}

// NewRater returns a Rater that treats gaps longer than maxGap as breaks.
func NewRater(maxGap time.Duration) *Rater {
	return &Rater{MaxGap: maxGap, prev: map[rateKey]lastSample{}}
}

// Rate rates the points of one target scraped at t, appending to dst.
func (r *Rater) Rate(dst []RatedPoint, target string, pts []Point, t time.Time) []RatedPoint {
	for _, p := range pts {
		if !p.Counter {
			dst = append(dst, RatedPoint{p.PointKey, p.Value, Fresh})
			continue
		}
		k := rateKey{target, p.PointKey}
		prev, ok := r.prev[k]
		r.prev[k] = lastSample{p.Value, t}
		dt := t.Sub(prev.t)
		if !ok || dt <= 0 || dt > r.MaxGap {
			dst = append(dst, RatedPoint{p.PointKey, 0, Pending})
			continue
		}
		delta := p.Value - prev.v
		if delta < 0 { // reset
			delta = p.Value
		}
		dst = append(dst, RatedPoint{p.PointKey, delta / dt.Seconds(), Fresh})
	}
	return dst
}

// Forget drops remembered counters last seen before cutoff, bounding memory
// when series or targets go away.
func (r *Rater) Forget(cutoff time.Time) {
	for k, s := range r.prev {
		if s.t.Before(cutoff) {
			delete(r.prev, k)
		}
	}
}

// Series is the number of counters remembered.
func (r *Rater) Series() int { return len(r.prev) }
