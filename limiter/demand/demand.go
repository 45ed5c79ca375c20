// Package demand is Headroom's demand stage: the one place that turns what
// a round observed of a project on each broker (the served rate the broker
// reports, the throttle time Kafka reports, the quota in force) and the
// detector's forecast of the project's demand into the demand estimates and
// sizing bounds that limiter.Allocate consumes.
//
// Every rule that corrects for Kafka's enforcement lives here, and the live
// round (package round), the simulator's headroom policy and what-if all
// call it, so that a rule is changed in one place and judged where it runs:
//
//   - Kafka's formula. Kafka throttles a client whose rate, averaged over
//     its quota window (quota.window.num × quota.window.size.seconds, 11 s
//     by default), is above its quota, for (rate − quota)/quota × window.
//     Solved for the rate, quota × (1 + throttle/window) is the demand at
//     the onset of throttling.
//   - Muting. Once throttled, a client is muted for the throttle time
//     (KIP-219), so it sends at about its quota, and each response's
//     throttle time is about what its last request costs at the quota rate
//     (request size / quota), however much more it wants: nothing Kafka
//     reports tells how far demand is above the quota. A muted client is
//     credited with at least ProbeStep more than its quota, so that a
//     sustained rise grows its quota geometrically until throttling stops,
//     and a muted lender (quota below its share) with its whole share, the
//     reclaim guarantee. Both are guesses: Load.Measured carries what
//     Kafka measured, and Allocate reclaims a lender's measured demand
//     before any borrower's window hold, its guessed rest after (a lender a
//     few percent over its lent-down quota took back its whole share and
//     cut the borrower using it below the rate Kafka's window held for it,
//     which throttled that borrower for seconds). A client muted
//     ConfirmRounds rounds in a row has shown more than noise: a lender
//     coming back stays muted, an excursion over the quota lasts a round.
//     From then on its guess counts as measured.
//   - Graze. A client whose throttle time is under GrazeThrottle of the
//     window and whose served rate is more than GrazeSlack below its quota
//     merely grazed it: one burst crossed the quota, and the window keeps
//     saying so while the served rate is back below. It gets the formula
//     only, never a lender's whole share or a probe step: handing a lender
//     its share back for a graze cuts the borrower using it in the same
//     round.
//   - Confirm. An unthrottled estimate above both the share and what the
//     forecast alone allows widens the sizing bound only once seen
//     ConfirmRounds rounds in a row; until then the bound is sized as if
//     it were at that limit. Throttling needs no confirming: it is Kafka's
//     own evidence, averaged over its window.
//   - Spread. The forecast's upper bound sizes a project by at most
//     ForecastSpread above the larger of its expected and its current
//     demand, so that a bound widened by a past burst does not hold borrowed
//     quota long after demand fell.
//   - Warm-up. For its first WarmRounds rounds a project is sized by at
//     least its share: it does not lend before the detector has a
//     window of its readings, so that a daemon started (or restarted)
//     while clients connect does not cut everyone to their first reading.
//   - Window memory. Kafka's quota window (11 s by default) spans several
//     rounds when rounds are short; a quota cut below the rate it holds
//     throttles the client for (held − quota)/quota × window even when its
//     demand is now lower. The stage keeps each load's served rates over
//     the rounds the window spans and hands their mean, the rate the
//     window holds, to Allocate as limiter.Load.Hold, which Allocate does
//     not cut below unless a lender needs it back.
//
// The stage never estimates a load below the served rate it observed.
//
// It must not import the collector, the detector, the simulator or round:
// callers adapt their observations to Input.
package demand

import (
	"math"
	"time"

	"github.com/headroomhq/headroom/limiter"
)

// Params are the stage's rules' constants.
type Params struct {
	// Window is Kafka's quota window, quota.window.num ×
	// quota.window.size.seconds. Default limiter.DefaultThrottleWindow.
	Window time.Duration
	// ProbeStep is the least relative rise a muted borrower is credited
	// with per round.
	ProbeStep float64
	// GrazeSlack and GrazeThrottle tell a graze from muting (see the
	// package comment).
	GrazeSlack, GrazeThrottle float64
	// ForecastSpread caps the sizing bound above the larger of the
	// expected and the current demand.
	ForecastSpread float64
	// ConfirmRounds is how many rounds in a row an unthrottled estimate
	// above both the share and the bound must be seen to count.
	ConfirmRounds int
	// WarmRounds is how many rounds a project is observed before it lends:
	// until then its sizing bound is at least its share.
	WarmRounds int
	// Round is the control interval. Kafka's window spans
	// ceil(Window/Round) rounds, over which the stage averages the served
	// rate into Load.Hold. Zero means one round.
	Round time.Duration
}

// maxWindowRounds bounds the rounds the window memory keeps per load.
const maxWindowRounds = 64

// windowRounds is how many rounds Kafka's quota window spans.
func (p Params) windowRounds() int {
	if p.Round <= 0 {
		return 1
	}
	w := p.Window
	if w <= 0 {
		w = limiter.DefaultThrottleWindow
	}
	n := int((w + p.Round - 1) / p.Round)
	return min(max(n, 1), maxWindowRounds)
}

// The defaults, and why each is what it is.
const (
	// DefaultProbeStep doubles a muted borrower's quota each round: a surge
	// of any size is met in log2(surge) rounds, and an overshoot only
	// lends capacity nobody asked for, which lenders reclaim next round.
	DefaultProbeStep = 1.0
	// DefaultGrazeSlack is the served rate's distance below the quota
	// beyond which a throttled client cannot be muted: a muted client is
	// served at about its quota, within observation noise (a few percent).
	DefaultGrazeSlack = 0.1
	// DefaultGrazeThrottle is 2% of the window (220 ms of 11 s): a burst
	// of a tenth of a second above the quota earns about that much, while
	// a client cut below its windowed rate earns seconds.
	DefaultGrazeThrottle = 0.02
	// DefaultForecastSpread is the most the sizing bound may sit above
	// demand: half again, the bound's width at three sigmas of a series
	// whose relative noise is one sixth.
	DefaultForecastSpread = 0.5
	// DefaultConfirmRounds is two: one round's outlier never moves a quota
	// up past the bound, and a real rise waits one round.
	DefaultConfirmRounds = 2
	// DefaultWarmRounds is seven, the detector's default spike window:
	// until its robust filter has a full window, a low first reading may be
	// clients still starting (or reconnecting after a restart), not the
	// project's level, and lending on it cuts a project to a fraction of
	// its share before its load has arrived.
	DefaultWarmRounds = 7
)

// DefaultParams returns the defaults above with Kafka's default window.
func DefaultParams() Params {
	return Params{
		Window:         limiter.DefaultThrottleWindow,
		ProbeStep:      DefaultProbeStep,
		GrazeSlack:     DefaultGrazeSlack,
		GrazeThrottle:  DefaultGrazeThrottle,
		ForecastSpread: DefaultForecastSpread,
		ConfirmRounds:  DefaultConfirmRounds,
		WarmRounds:     DefaultWarmRounds,
	}
}

func (p Params) windowMs() float64 {
	if p.Window <= 0 {
		return float64(limiter.DefaultThrottleWindow.Milliseconds())
	}
	return float64(p.Window) / float64(time.Millisecond)
}

// Observed is what one broker showed for a project in one round.
type Observed struct {
	// Broker indexes the group's limiter.State.Brokers.
	Broker int
	// Weight splits the project's forecast over its brokers when nothing
	// was served anywhere, e.g. its partition count on the broker.
	Weight float64
	// Served is the rate the broker reports, bytes/s.
	Served float64
	// ThrottleMs is the throttle time Kafka reports for the entity there.
	ThrottleMs float64
}

// Input is one project in one direction, as a round saw it.
type Input struct {
	// Quota is the quota in force; zero or NaN means none is known.
	Quota float64
	// Share is the project's static entitlement per broker.
	Share float64
	// Expected and Upper are the detector's forecast of the project's
	// total demand (over its brokers) and its upper bound. Upper zero
	// means no forecast.
	Expected, Upper float64
	Loads           []Observed
}

// Estimate is one broker's demand estimate for a project.
type Estimate struct {
	// Rate is the estimated demand, never below the served rate.
	Rate float64
	// Measured is the part of Rate that Kafka measured: the served rate,
	// or Kafka's formula where the client was throttled, without the
	// probe step, which is a guess. The detector learns from it, so that
	// its baseline and bound are not inflated by the stage's own probes.
	Measured float64
	// FromThrottle says the throttle time raised the estimate above the
	// served rate.
	FromThrottle bool
	// Muted says the client was muted: throttled, and not a graze.
	Muted bool
}

// Estimate returns a project's demand on one broker from what the broker
// showed, the quota in force and the project's share: the throttle formula,
// muting (a probe step; a muted lender's whole share) and graze rules.
func (p Params) Estimate(served, throttleMs, quota, share float64) Estimate {
	e := Estimate{Rate: served, Measured: served}
	if !(quota > 0) || math.IsInf(quota, 0) || !(throttleMs > 0) {
		return e
	}
	window := p.windowMs()
	est := max(served, Formula(quota, throttleMs, p.Window))
	e.Measured = est
	if !(throttleMs/window < p.GrazeThrottle && served < (1-p.GrazeSlack)*quota) {
		// Muted: the formula understates what the client wants, by how
		// much nothing Kafka reports says, so probe.
		e.Muted = true
		est = max(est, quota*(1+p.ProbeStep))
		if quota < share {
			// A lender muted below its share gets it back in full
			// at once (the reclaim guarantee).
			est = max(est, share)
		}
	}
	if est > served {
		e.Rate, e.FromThrottle = est, true
	}
	return e
}

// Formula is Kafka's throttle formula solved for the rate a client sent:
// Kafka throttles for (rate − quota)/quota × window, so the rate is
// quota × (1 + throttle/window). window zero or less means Kafka's default.
// It is the demand at the onset of throttling only (see the package
// comment); peers that know no better use it as their demand estimate.
func Formula(quota, throttleMs float64, window time.Duration) float64 {
	return quota * (1 + throttleMs/Params{Window: window}.windowMs())
}

// Estimates fills est (len(in.Loads)) with each broker's estimate and
// returns the sum of what was measured, the project's demand the detector
// is fed.
func (p Params) Estimates(in *Input, est []Estimate) float64 {
	var total float64
	for k, o := range in.Loads {
		est[k] = p.Estimate(o.Served, o.ThrottleMs, in.Quota, in.Share)
		total += est[k].Measured
	}
	return total
}

// Memory is the per-project state the confirm rule needs, one per project
// and direction, owned by the caller. The zero value is ready; it adapts to
// the number of loads.
type Memory struct {
	above []int // rounds in a row an unthrottled estimate was above its bound, per load
	// served holds the last rounds' served rates, n per load (a ring
	// at pos, filled rounds so far), the span of Kafka's window.
	served        []float64
	n, pos, count int
	holds         []float64 // scratch
	muted         []int     // rounds in a row each load was muted
	seen          int       // rounds observed, up to WarmRounds
}

// Reset forgets what was seen, e.g. when a project's placement changed.
func (m *Memory) Reset() {
	clear(m.above)
	clear(m.muted)
	m.count, m.pos, m.seen = 0, 0, 0
}

// hold records this round's served rates and returns, per load in dst, the
// mean served rate over the rounds Kafka's window spans: the rate the
// broker's quota sensor holds.
func (m *Memory) hold(n int, loads []Observed, dst []float64) {
	if m.n != n || len(m.served) != n*len(loads) {
		m.n, m.pos, m.count = n, 0, 0
		m.served = make([]float64, n*len(loads))
	}
	for k, o := range loads {
		m.served[k*n+m.pos] = o.Served
	}
	m.pos = (m.pos + 1) % n
	m.count = min(m.count+1, n)
	for k := range loads {
		var sum float64
		for j := range m.count {
			sum += m.served[k*n+(m.pos-1-j+n)%n]
		}
		dst[k] = sum / float64(m.count)
	}
}

// Loads turns a project's estimates (from Estimates) and the detector's
// forecast into the limiter's loads, appended to dst: the spread cap, the
// split of the bound over brokers in proportion to the estimates, the
// confirm rule and the window memory.
//
// The confirm rule never lowers an estimate below the served rate, which is
// a fact; what an unconfirmed rise does not do is widen the sizing bound.
// An unthrottled client was served all it asked for, so its quota already
// covers that rate, and Allocate sizes it by the rate plus its headroom
// only, not by a bound stretched by one round's outlier.
func (p Params) Loads(m *Memory, in *Input, est []Estimate, dst []limiter.Load) []limiter.Load {
	if len(m.above) != len(in.Loads) {
		m.above = make([]int, len(in.Loads))
		m.muted = make([]int, len(in.Loads))
	}
	if cap(m.holds) < len(in.Loads) {
		m.holds = make([]float64, len(in.Loads))
	}
	holds := m.holds[:len(in.Loads)]
	m.hold(p.windowRounds(), in.Loads, holds)
	var total, weights float64
	for k := range in.Loads {
		total += est[k].Rate
		weights += in.Loads[k].Weight
	}
	frac := func(k int) float64 {
		switch {
		case total > 0:
			return est[k].Rate / total
		case weights > 0:
			return in.Loads[k].Weight / weights
		}
		return 1 / float64(len(in.Loads))
	}
	// Confirm: count, per load, rounds in a row above both the share and
	// what the forecast alone allows there.
	expected := p.bound(in, 0)
	confirmed, unconfirmed := 0.0, false
	for k := range in.Loads {
		limit := max(in.Share, expected*frac(k))
		if est[k].Rate > limit && !est[k].FromThrottle {
			m.above[k]++
		} else {
			m.above[k] = 0
		}
		if a := m.above[k]; a > 0 && a < p.ConfirmRounds {
			unconfirmed = true
			confirmed += limit
		} else {
			confirmed += est[k].Rate
		}
	}
	bound := p.bound(in, total)
	if unconfirmed {
		bound = p.bound(in, confirmed)
	}
	warming := m.seen < p.WarmRounds
	if warming {
		m.seen++
	}
	for k, o := range in.Loads {
		fc := bound * frac(k)
		measured := est[k].Measured
		if est[k].Muted {
			// Muted again: a noise excursion lasts a round, a lender
			// coming back persists. Its guessed demand counts as
			// measured once seen ConfirmRounds rounds in a row.
			m.muted[k]++
			if m.muted[k] >= p.ConfirmRounds {
				measured = est[k].Rate
			}
		} else {
			m.muted[k] = 0
		}
		if warming {
			// Not lending yet: sized by at least the share, on every
			// broker, since Kafka's quota is per broker.
			fc = max(fc, in.Share)
		}
		dst = append(dst, limiter.Load{Broker: o.Broker, Observed: o.Served, Rate: est[k].Rate, Measured: measured,
			ThrottleMs: o.ThrottleMs, FromThrottle: est[k].FromThrottle, Forecast: fc, Hold: holds[k]})
	}
	return dst
}

// bound is the project's sizing bound over all its brokers: the detector's
// upper bound, at most ForecastSpread above the larger of the expected and
// the current demand; zero without a forecast.
func (p Params) bound(in *Input, total float64) float64 {
	if !(in.Upper > 0) || math.IsInf(in.Upper, 0) {
		return 0
	}
	spread := p.ForecastSpread
	if !(spread >= 0) {
		spread = 0
	}
	return min(in.Upper, max(in.Expected, total)*(1+spread))
}
