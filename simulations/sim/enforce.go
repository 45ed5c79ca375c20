package sim

import (
	"time"

	"github.com/headroomhq/headroom/simulations/scenario"
)

// enforcer is Kafka's quota enforcement for one policy and direction: one
// quota sensor per project and broker of its placement (a "pair"), and the
// client on the other side of it. See the package comment for the model.
//
// Sub-round time is stepped one sample at a time, but only for the pairs
// that need it. A pair that starts the round unmuted, with no backlog, with
// a demand at or below its quota and with no sample in its window above
// the quota can never be throttled in the round: every step the window has
// room for the step's demand. Such a pair takes a closed form (sent = demand
// × round) and its samples are not written; the rate of each such round is
// kept in a short history instead and written into the sample ring only
// when the pair next needs stepping.
type enforcer struct {
	w       int     // samples in the window
	sample  float64 // seconds per sample
	steps   int     // samples per round
	hist    int     // rounds of history: enough to cover the window
	buffer  float64 // bytes a client holds per broker
	request float64 // bytes per request

	ring     []float64 // pair*w + step%w: bytes recorded in that sample
	thrRing  []float64 // pair*w + step%w: throttle seconds of the throttled requests in that sample
	cntRing  []float64 // pair*w + step%w: how many requests were throttled in that sample
	sum      []float64 // Σ ring per pair, valid after materialise
	lastSlow []int     // last round stepped per pair; -1 before any
	hrate    []float64 // pair*hist + round%hist: the round's rate if it took the closed form, else -1
	hmax     []float64 // pair*hist + round%hist: the round's largest sample, as a rate
	mute     []float64 // seconds the client stays muted from the next step on
	backlog  []float64 // bytes waiting in the client

	noFast bool // tests: step every pair
}

// pairResult is what one pair did in one round.
type pairResult struct {
	sent     float64 // bytes the broker accepted in the round (backlog included)
	rate     float64 // windowed byte rate at the end of the round (bytes/s)
	throttle float64 // Kafka's throttle-time sensor at the end of the round (seconds): the mean throttle time of the throttled requests in the window
	dropped  float64 // bytes the client dropped, its buffer full
}

func newEnforcer(e *scenario.Enforcement, round time.Duration, pairs int) *enforcer {
	w, sample := e.Window()
	steps := int(round / sample)
	en := &enforcer{
		w:       w,
		sample:  sample.Seconds(),
		steps:   steps,
		hist:    (w+steps-1)/steps + 1,
		buffer:  e.Buffer(),
		request: e.Request(),
	}
	en.ring = make([]float64, pairs*w)
	en.thrRing = make([]float64, pairs*w)
	en.cntRing = make([]float64, pairs*w)
	en.sum = make([]float64, pairs)
	en.lastSlow = make([]int, pairs)
	en.hrate = make([]float64, pairs*en.hist)
	en.hmax = make([]float64, pairs*en.hist)
	en.mute = make([]float64, pairs)
	en.backlog = make([]float64, pairs)
	for p := range en.lastSlow {
		en.lastSlow[p] = -1
	}
	return en
}

// round runs pair p through round r with quota q and demand d (bytes/s).
func (en *enforcer) round(p, r int, q, d float64) pairResult {
	h := en.hist
	if en.mute[p] <= 0 && en.backlog[p] == 0 && d <= q && !en.noFast {
		fast := true
		for k := 1; k < h && r-k >= 0; k++ {
			if en.hmax[p*h+(r-k)%h] > q {
				fast = false
				break
			}
		}
		if fast {
			n := min(en.w, en.steps)
			win := d*en.sample*float64(n) + en.tail(p, r, en.w-n)
			en.hrate[p*h+r%h] = d
			en.hmax[p*h+r%h] = d
			sent := d * en.sample * float64(en.steps)
			return pairResult{sent: sent, rate: win / (float64(en.w) * en.sample), throttle: en.throttleTail(p, r, en.w-n)}
		}
	}
	return en.step(p, r, q, d)
}

// tail sums the last n samples before round r.
func (en *enforcer) tail(p, r, n int) float64 {
	var s float64
	h := en.hist
	for rr := r - 1; n > 0 && rr >= 0; rr-- {
		m := min(n, en.steps)
		if rr > en.lastSlow[p] {
			s += en.hrate[p*h+rr%h] * en.sample * float64(m)
		} else {
			end := (rr + 1) * en.steps
			for k := end - m; k < end; k++ {
				s += en.ring[p*en.w+k%en.w]
			}
		}
		n -= m
	}
	return s
}

// throttleTail is Kafka's throttle-time sensor over the last n samples
// before round r: the mean throttle time of the throttled requests among
// them, 0 if none was. Rounds that took the closed form throttled nothing.
func (en *enforcer) throttleTail(p, r, n int) float64 {
	var sum, cnt float64
	for rr := r - 1; n > 0 && rr >= 0; rr-- {
		m := min(n, en.steps)
		if rr <= en.lastSlow[p] {
			end := (rr + 1) * en.steps
			for k := end - m; k < end; k++ {
				sum += en.thrRing[p*en.w+k%en.w]
				cnt += en.cntRing[p*en.w+k%en.w]
			}
		}
		n -= m
	}
	if cnt == 0 {
		return 0
	}
	return sum / cnt
}

// materialise writes the closed-form rounds since the pair was last
// stepped into its sample ring, so that the ring holds the last w samples
// before round r.
func (en *enforcer) materialise(p, r int) {
	h, w := en.hist, en.w
	ring := en.ring[p*w : (p+1)*w]
	thr, cnt := en.thrRing[p*w:(p+1)*w], en.cntRing[p*w:(p+1)*w]
	for rr := max(en.lastSlow[p]+1, r-h+1, 0); rr < r; rr++ {
		v := en.hrate[p*h+rr%h] * en.sample
		for k := rr * en.steps; k < (rr+1)*en.steps; k++ {
			ring[k%w] = v
			thr[k%w], cnt[k%w] = 0, 0
		}
	}
	var s float64
	for _, v := range ring {
		s += v
	}
	en.sum[p] = s
}

// step runs the round one sample at a time. In each step the oldest sample
// leaves the window; the client, unless muted for the whole step, offers
// its backlog and the step's demand; the broker accepts what keeps the
// windowed rate within the quota by the end of the step plus the request
// that crosses it (Kafka accepts a request whole and throttles after it),
// and mutes the client for the throttle time that leaves it with:
// (windowed rate − quota) / quota × window = excess bytes / quota.
func (en *enforcer) step(p, r int, q, d float64) pairResult {
	en.materialise(p, r)
	w, S := en.w, en.sample
	ring := en.ring[p*w : (p+1)*w]
	thrRing, cntRing := en.thrRing[p*w:(p+1)*w], en.cntRing[p*w:(p+1)*w]
	sum, mute, backlog := en.sum[p], en.mute[p], en.backlog[p]
	limit := q * float64(w) * S // bytes the window admits at the quota
	a := d * S
	invQ, invReq, buffer, request := 1/q, 1/en.request, en.buffer, en.request
	qS := q * S
	var sent, biggest, dropped float64
	slot := (r * en.steps) % w
	for range en.steps {
		old := ring[slot]
		sum -= old
		thrRing[slot], cntRing[slot] = 0, 0
		if mute >= S {
			ring[slot] = 0
			mute -= S
			backlog += a
			if backlog > buffer {
				dropped += backlog - buffer
				backlog = buffer
			}
		} else {
			t0 := fmax(mute, 0)
			avail := backlog + a
			room := limit - sum // what the window admits by the end of the step
			x := avail
			if avail > room {
				x = fmin(avail, fmax(room, 0)+request)
			}
			if x > 0 {
				// A window already above the quota at t0 (after a
				// cut) throttles the first request by the excess
				// it remembers. A client that offers more than the
				// window has room for sends what goes at once
				// without throttle (free) and the rest one request
				// at a time, each throttled by its overshoot; one
				// that offers less is paced by its demand and never
				// crosses.
				//
				// Kafka's throttle-time sensor records the
				// throttled requests only: their count and the
				// sum of their throttle times.
				thrRing[slot], cntRing[slot] = throttled(room-(qS-q*t0), x, avail > room, invQ, invReq)
			}
			sum += x
			ring[slot] = x
			sent += x
			biggest = fmax(biggest, x)
			backlog = avail - x
			if backlog > buffer {
				dropped += backlog - buffer
				backlog = buffer
			}
			mute = fmax(0, sum-limit) * invQ
		}
		if slot++; slot == w {
			slot = 0
		}
	}
	en.sum[p], en.mute[p], en.backlog[p] = sum, mute, backlog
	en.lastSlow[p] = r
	en.hrate[p*en.hist+r%en.hist] = -1
	en.hmax[p*en.hist+r%en.hist] = biggest / S
	return pairResult{
		sent:     sent,
		rate:     sum / (float64(w) * S),
		throttle: throttleMean(thrRing, cntRing),
		dropped:  dropped,
	}
}

// throttleMean is Kafka's throttle-time sensor over a pair's window: the
// mean throttle time of the throttled requests in it, 0 if none was.
func throttleMean(thrRing, cntRing []float64) float64 {
	var tsum, tcnt float64
	for k := range thrRing {
		tsum += thrRing[k]
		tcnt += cntRing[k]
	}
	if tcnt > 0 {
		return tsum / tcnt
	}
	return 0
}

// throttled returns the throttle seconds and the count of the throttled
// requests of a step that sends x with free bytes going at once without
// throttle (negative: the window's excess at the step's start); over says
// the client offered more than the window had room for.
func throttled(free, x float64, over bool, invQ, invReq float64) (thr, cnt float64) {
	beyond := fmax(0, x-fmax(free, 0)) // sent one request at a time
	thr = fmax(0, -free) * invQ
	if over {
		thr += beyond * invQ
	}
	if thr > 0 {
		return thr, fmax(1, beyond*invReq)
	}
	return 0, 0
}

// fmax and fmin are max and min for the step loop's numbers, which are
// never NaN: plain comparisons, cheaper than the builtins' NaN and signed
// zero handling in the loop that dominates a run.
func fmax(a, b float64) float64 {
	if a > b {
		return a
	}
	return b
}

func fmin(a, b float64) float64 {
	if a < b {
		return a
	}
	return b
}
