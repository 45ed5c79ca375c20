package lab

import (
	"math"
	"time"
)

// Window is Kafka's quota window: Samples samples of SampleWindow each
// (quota.window.num = 11, quota.window.size.seconds = 1 by default).
type Window struct {
	Samples      int
	SampleWindow time.Duration
}

// DefaultWindow is Kafka's default quota window.
var DefaultWindow = Window{Samples: 11, SampleWindow: time.Second}

type sample struct {
	start time.Time
	value float64
	count int64
}

// sampledStat keeps Kafka's SampledStat: a ring of samples, each covering at
// most one sample window; samples older than the whole window are reset when
// measured.
type sampledStat struct {
	w       Window
	samples []sample
	current int
}

func newSampledStat(w Window, now time.Time) *sampledStat {
	s := &sampledStat{w: w, samples: make([]sample, 1, w.Samples)}
	s.samples[0].start = now
	return s
}

func (s *sampledStat) record(v float64, now time.Time) {
	cur := &s.samples[s.current]
	if now.Sub(cur.start) >= s.w.SampleWindow {
		s.current = (s.current + 1) % s.w.Samples
		if s.current >= len(s.samples) {
			s.samples = append(s.samples, sample{})
		}
		cur = &s.samples[s.current]
		*cur = sample{start: now}
	}
	cur.value += v
	cur.count++
}

func (s *sampledStat) purge(now time.Time) {
	expire := time.Duration(s.w.Samples) * s.w.SampleWindow
	for i := range s.samples {
		if now.Sub(s.samples[i].start) >= expire {
			s.samples[i] = sample{start: now}
		}
	}
}

// windowSize is Kafka's Rate.windowSize: the time since the oldest sample
// began, but at least Samples−1 full sample windows, so that a fresh sensor
// does not report a burst as a huge rate.
func (s *sampledStat) windowSize(now time.Time) time.Duration {
	s.purge(now)
	oldest := s.samples[0].start
	for _, x := range s.samples[1:] {
		if x.start.Before(oldest) {
			oldest = x.start
		}
	}
	elapsed := now.Sub(oldest)
	full := int(elapsed / s.w.SampleWindow)
	if minFull := s.w.Samples - 1; full < minFull {
		elapsed += time.Duration(minFull-full) * s.w.SampleWindow
	}
	return elapsed
}

// rate is the sum over live samples divided by the window size, per second.
func (s *sampledStat) rate(now time.Time) float64 {
	ws := s.windowSize(now)
	var total float64
	for _, x := range s.samples {
		total += x.value
	}
	return total / ws.Seconds()
}

// avg is the mean of recorded values over live samples; 0 when nothing was
// recorded in the window.
func (s *sampledStat) avg(now time.Time) float64 {
	s.purge(now)
	var total float64
	var n int64
	for _, x := range s.samples {
		total += x.value
		n += x.count
	}
	if n == 0 {
		return 0
	}
	return total / float64(n)
}

// quotaSensor is one client's byte-rate sensor on one broker for one
// direction, with the throttle-time sensor Kafka keeps beside it.
type quotaSensor struct {
	bytes    *sampledStat
	throttle *sampledStat
	total    float64 // bytes recorded since creation
	lastUse  time.Time
}

func newQuotaSensor(w Window, now time.Time) *quotaSensor {
	return &quotaSensor{bytes: newSampledStat(w, now), throttle: newSampledStat(w, now), lastUse: now}
}

// record adds v bytes at now.
func (q *quotaSensor) record(v float64, now time.Time) {
	q.bytes.record(v, now)
	q.total += v
	q.lastUse = now
}

// unrecord takes back v bytes recorded at now, as Kafka does for a fetch
// response it refuses: it records −v in the current sample.
func (q *quotaSensor) unrecord(v float64, now time.Time) {
	q.bytes.record(-v, now)
	q.total -= v
}

// throttle returns the throttle time Kafka computes against bound from the
// rate over the window, (observed − bound) / bound × window when the
// observed rate exceeds the bound, else 0, and the excess: the bytes in the
// window beyond what the bound allows, (observed − bound) × window, which
// the throttle time makes the client wait out. A positive throttle is
// recorded in the throttle-time sensor, as Kafka does.
func (q *quotaSensor) throttleFor(bound float64, now time.Time) (time.Duration, float64) {
	if bound <= 0 {
		return 0, 0
	}
	rate, ws := q.bytes.rate(now), q.bytes.windowSize(now)
	d := ThrottleTime(rate, bound, ws)
	if d <= 0 {
		return 0, 0
	}
	q.throttle.record(float64(d)/float64(time.Millisecond), now)
	return d, (rate - bound) * ws.Seconds()
}

// recordAndThrottle records v bytes at now and returns the throttle time
// against bound (see throttleFor); with enforce false it only records.
func (q *quotaSensor) recordAndThrottle(v, bound float64, now time.Time, enforce bool) time.Duration {
	q.record(v, now)
	if !enforce {
		return 0
	}
	d, _ := q.throttleFor(bound, now)
	return d
}

// ThrottleTime is Kafka's client-quota throttle time: zero while observed is
// within bound, else (observed − bound) / bound × window, rounded to whole
// milliseconds as Kafka does.
func ThrottleTime(observed, bound float64, window time.Duration) time.Duration {
	if !(observed > bound) || bound <= 0 {
		return 0
	}
	ms := math.Round((observed - bound) / bound * float64(window.Milliseconds()))
	return time.Duration(ms) * time.Millisecond
}
