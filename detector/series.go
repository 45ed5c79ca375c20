package detector

import (
	"fmt"
	"math"
	"time"

	"github.com/headroomhq/headroom/config"
)

// State is where a series stands in the shift state machine.
type State uint8

const (
	// StateNormal: the sample is within the baseline's band.
	StateNormal State = iota
	// StatePending: the sample is outside the band, but not yet for
	// Sustain samples in a row.
	StatePending
	// StateTransient: an excursion ended before it was sustained; it was a
	// spike and raised no event.
	StateTransient
	// StateShifted: the excursion lasted Sustain samples and raised an
	// event; it stays here while the excursion goes on.
	StateShifted
)

func (s State) String() string {
	switch s {
	case StateNormal:
		return "normal"
	case StatePending:
		return "pending"
	case StateTransient:
		return "transient"
	case StateShifted:
		return "shifted"
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

// Shift is the direction of a sustained change.
type Shift int8

const (
	NoShift Shift = 0
	Surge   Shift = 1
	Drop    Shift = -1
)

func (s Shift) String() string {
	switch s {
	case Surge:
		return "surge"
	case Drop:
		return "drop"
	}
	return "none"
}

// Skip says why a sample did not update the series.
type Skip uint8

const (
	// Used: the sample was used.
	Used Skip = iota
	// SkipNotFinite: the value was NaN or ±Inf.
	SkipNotFinite
	// SkipNotAfter: the timestamp was not after the last used sample's
	// (a duplicate or a step backwards).
	SkipNotAfter
	// SkipNegative: a negative value on a series declared non-negative,
	// which is what a counter reset upstream looks like after rating.
	SkipNegative
)

func (s Skip) String() string {
	switch s {
	case Used:
		return "used"
	case SkipNotFinite:
		return "not finite"
	case SkipNotAfter:
		return "timestamp not after the previous sample"
	case SkipNegative:
		return "negative value on a non-negative series"
	}
	return fmt.Sprintf("Skip(%d)", uint8(s))
}

// Result is what the detector says about one sample.
type Result struct {
	// Skipped is why the sample was not used; when it is not Used, only
	// Time, Value and Forecast/Upper (unchanged) are meaningful and Score
	// is 0.
	Skipped Skip
	Time    time.Time
	Value   float64
	// Filtered is the value after the spike filter; Spike says the filter
	// replaced the value.
	Filtered float64
	Spike    bool
	// Expected is what the detector expected for this sample before seeing
	// it: the seasonal baseline plus level.
	Expected float64
	// Sigma is the robust standard deviation of the one-step error.
	Sigma float64
	// Forecast is the expected value ForecastHorizon samples ahead, and
	// Upper its upper bound (Forecast + UpperBoundSigmas × Sigma). The
	// limiter uses Upper as demand.
	Forecast float64
	Upper    float64
	// Score is the anomaly score in [0,1]: how unusual recent surprise is
	// compared with this series' own history.
	Score float64
	// RawScore is the score before the refractory: it stays high for as
	// long as the incident lasts, where Score marks its onset.
	RawScore float64
	State    State
	// Event is the direction of the sustained shift that raised an event at
	// this sample, or NoShift.
	Event Shift
}

// Options are per-kind (never per-series) settings of a Series.
type Options struct {
	// NonNegative declares that the series cannot be negative (a rate), so
	// a negative sample is a counter reset artefact and is skipped.
	NonNegative bool
}

// Series is the streaming detector of one series. Its memory is fixed at
// construction and each Observe is O(1) without allocation. It is not safe
// for concurrent use.
type Series struct {
	cfg  config.DetectorConfig
	opts Options

	filter hampel

	// derived parameters
	aFast      float64 // per-sample EWMA weight of the fast level
	aErr       float64 // per-sample EWMA weight of the error scales
	aShort     float64 // score: short-term surprise
	aLong      float64 // score: long-run surprise distribution
	slowHL     float64 // half-life of the slow level, ns
	bucketNs   int64
	seasonNs   int64
	aSeasonMin float64

	n        int64 // samples used
	lastT    int64 // unix ns of the last used sample
	interval float64

	slow   float64 // slow level: the season's mean
	slowDt float64 // last interval, ns, and the slow level's weight for it
	aSlow  float64
	season []float64
	scale  []float64 // mean absolute one-step error per bucket
	seen   []uint16  // seasons folded into each bucket, saturating
	bucket int64     // absolute bucket number of the accumulator
	accSum float64
	accErr float64
	accN   int

	dev   float64 // fast correction on top of slow + season
	level float64 // plain fast level, the non-seasonal predictor
	maeS  float64 // mean absolute one-step error, seasonal predictor
	maeN  float64 // same, non-seasonal predictor

	// The weekly correction: what the daily baseline misses at each hour
	// of the week (weekends, Monday mornings), learnt like the season.
	week     []float64
	weekSeen []uint16
	wBucket  int64 // absolute hour number of the weekly accumulator
	wAccSum  float64
	wAccN    int
	devW     float64 // fast correction on top of slow + season + week
	maeW     float64 // mean absolute one-step error, weekly predictor

	peak      float64 // decaying peak of recent raw scores
	peakDecay float64
	step1     surprise // sustained view of the one-step surprise
	spike     tail     // spike view: the tail of |z|

	state      State
	pendingDir Shift
	pending    int
	sinceEvent int64
}

// NewSeries returns a detector for one series. cfg must be valid.
func NewSeries(cfg config.DetectorConfig, opts Options) (*Series, error) {
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("detector config: %v", errs[0])
	}
	s := &Series{
		cfg:        cfg,
		opts:       opts,
		filter:     newHampel(cfg.SpikeWindow, cfg.SpikeThreshold),
		aFast:      1 - math.Exp2(-1/cfg.LevelHalfLife),
		aErr:       2 / (cfg.ScaleMemory + 1),
		aShort:     2 / (cfg.ScoreWindow + 1),
		aLong:      2 / (cfg.ScoreMemory + 1),
		seasonNs:   int64(time.Duration(cfg.Season)),
		aSeasonMin: 1 - math.Exp2(-1/cfg.SeasonHalfLife),
		season:     make([]float64, cfg.SeasonBuckets),
		scale:      make([]float64, cfg.SeasonBuckets),
		seen:       make([]uint16, cfg.SeasonBuckets),
		week:       make([]float64, weekBuckets),
		weekSeen:   make([]uint16, weekBuckets),
		sinceEvent: math.MaxInt64 / 2,
		peakDecay:  math.Exp2(-1 / cfg.ScoreRefractory),
	}
	s.bucketNs = s.seasonNs / int64(cfg.SeasonBuckets)
	if s.bucketNs <= 0 {
		s.bucketNs = 1
	}
	s.slowHL = float64(s.seasonNs)
	return s, nil
}

// Observe feeds one sample and returns what the detector makes of it.
// Samples must come in time order: a sample not after the last used one is
// skipped, as are NaN and ±Inf (and negatives on a non-negative series).
func (s *Series) Observe(t time.Time, v float64) Result {
	r := Result{Time: t, Value: v}
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		r.Skipped = SkipNotFinite
	case s.n > 0 && t.UnixNano() <= s.lastT:
		r.Skipped = SkipNotAfter
	case s.opts.NonNegative && v < 0:
		r.Skipped = SkipNegative
	}
	if r.Skipped != Used {
		r.Filtered, r.Expected = math.NaN(), math.NaN()
		r.Forecast, r.Upper, r.Sigma = s.forecast(t)
		r.State = s.state
		return r
	}
	s.step(t.UnixNano(), v, &r)
	return r
}

// step runs one used sample through the detector: advance the clock,
// predict before looking at the sample, filter spikes from it, score it,
// run the shift state machine, then learn from it (learn).
func (s *Series) step(ts int64, x float64, r *Result) {
	if s.n == 0 {
		s.slow, s.level = x, x
		s.bucket = ts / s.bucketNs
		s.wBucket = ts / weekBucketNs
		s.lastT = ts
	}
	dt := float64(ts - s.lastT)
	if s.n > 1 && dt > 20*s.interval {
		// A long gap: the short window and any excursion in progress
		// describe another time. The level and the season stay.
		s.filter.reset()
		s.state, s.pending = StateNormal, 0
	}
	if s.n == 1 {
		s.interval = dt
	} else if s.n > 1 {
		s.interval += 0.05 * (min(dt, 20*s.interval) - s.interval)
	}
	// Fold the finished bucket into the season.
	if b := ts / s.bucketNs; b != s.bucket {
		s.foldBucket()
		s.bucket = b
	}
	if b := ts / weekBucketNs; b != s.wBucket {
		s.foldWeek()
		s.wBucket = b
	}
	idx, widx := s.index(ts), weekIndex(ts)

	// Predict, before looking at the sample.
	var p prediction
	p.seasonal = s.seen[idx] > 0
	p.weekly = p.seasonal && s.weekSeen[widx] >= weeksTrusted
	p.predS = s.slow + s.season[idx] + s.dev
	p.predW = s.slow + s.season[idx] + s.week[widx] + s.devW
	p.predN = s.level
	pred, mae := s.choose(p.seasonal, p.weekly, p.predS, p.predW, p.predN)
	sigma := s.sigma(mae, pred)
	if p.seasonal {
		// Some hours of the day are harder to predict than others.
		sigma = max(sigma, 1.2533*s.scale[idx])
	}
	p.pred, p.sigma = pred, sigma

	// Filter spikes in the residual from the seasonal baseline, so that a
	// daily step that happens every day is not mistaken for a spike.
	base := s.slow + s.season[idx]
	if p.weekly {
		base += s.week[widx]
	}
	floor := 1e-9 * (math.Abs(pred) + 1)
	rf, spike := s.filter.push(x-base, floor)
	xf := rf + base
	r.Filtered, r.Spike, r.Expected, r.Sigma = xf, spike, pred, sigma

	// Score the raw surprise: spikes are anomalies, they just must not
	// move the baseline.
	if s.n > 0 {
		raw := s.surprise((x - pred) / sigma)
		// Refractory: report an incident's onset, not every sample of it.
		// A score counts only when it beats the decaying peak of the
		// recent scores by a margin: the incident is new or got worse.
		if raw > s.peak*(1+worsening) {
			r.Score = raw
			s.peak = raw
		}
		r.RawScore = raw
		s.peak *= s.peakDecay
	}

	// Shift state machine on raw samples against the expectation.
	s.shift(x, pred, sigma, r)

	s.learn(dt, x, xf, &p, idx, widx)
	s.n++
	s.lastT = ts
	r.Forecast, r.Upper, _ = s.forecast(time.Unix(0, ts))
}

// prediction is what the series expected of a sample before seeing it.
type prediction struct {
	// seasonal: this bucket of the day has been seen; weekly: this hour
	// of the week too, often enough to be trusted.
	seasonal, weekly bool
	// predS, predW and predN are the daily, weekly and level predictors;
	// pred is the one chosen, sigma its robust standard deviation.
	predS, predW, predN float64
	pred, sigma         float64
}

// learn updates the series from the sample x, xf filtered, that came dt
// after the last one into bucket idx of the day and widx of the week: each
// predictor's error scale, the baselines and the level, and what the
// buckets will fold into the season when they end.
func (s *Series) learn(dt, x, xf float64, p *prediction, idx, widx int) {
	pred, sigma := p.pred, p.sigma
	if s.n > 0 {
		eS := xf - p.predS
		eN := xf - p.predN
		// Start as a running mean, then forget; clip errors once the
		// scale has settled so that one outlier does not inflate it.
		aErr := max(s.aErr, 1/float64(s.n))
		clipAt := func(mae float64) float64 {
			if s.n < warmup {
				return math.Inf(1)
			}
			return 5 * s.sigma(mae, pred)
		}
		if p.seasonal {
			s.maeS += aErr * (clip(math.Abs(eS), clipAt(s.maeS)) - s.maeS)
		}
		s.maeN += aErr * (clip(math.Abs(eN), clipAt(s.maeN)) - s.maeN)
		if !p.seasonal {
			s.maeS = s.maeN
		}
		if p.weekly {
			eW := xf - p.predW
			s.maeW += aErr * (clip(math.Abs(eW), clipAt(s.maeW)) - s.maeW)
		} else {
			s.maeW = s.maeS
		}
	}
	if dt != s.slowDt { // regular sampling reuses the weight
		s.slowDt, s.aSlow = dt, 1-math.Exp2(-dt/s.slowHL)
	}
	aSlow := s.aSlow
	s.slow += aSlow * (xf - s.season[idx] - s.slow)
	s.dev += s.aFast * (xf - s.slow - s.season[idx] - s.dev)
	s.devW += s.aFast * (xf - s.slow - s.season[idx] - s.week[widx] - s.devW)
	s.level += s.aFast * (xf - s.level)
	// The season learns from the raw value clipped to a band around the
	// expectation: a pattern that comes back every day is learnt over a few
	// days even where the spike filter took it for a spike, while a one-off
	// spike moves its bucket by a bounded amount.
	xc := max(pred-3*sigma, min(pred+3*sigma, x))
	s.accSum += xc - s.slow
	if p.seasonal {
		// The weekly correction learns from the filtered value: a weekend
		// is a sustained departure from the daily baseline, which the band
		// would clip, while a spike never gets past the filter.
		s.wAccSum += xf - s.slow - s.season[idx]
		s.wAccN++
	}
	s.accErr += min(math.Abs(x-pred), 10*sigma)
	s.accN++
}

// warmup is how many samples a series needs before its error scale is
// trusted: no shift is flagged before.
const warmup = 30

func clip(v, hi float64) float64 {
	if hi > 0 && v > hi {
		return hi
	}
	return v
}

// sigma turns a mean absolute error into a robust standard deviation, with
// a floor so that a perfectly flat series does not divide by zero.
func (s *Series) sigma(mae, ref float64) float64 {
	return max(1.2533*mae, 1e-3*math.Abs(ref)+1e-9)
}

func (s *Series) index(ts int64) int {
	p := ts % s.seasonNs
	if p < 0 {
		p += s.seasonNs
	}
	i := int(p / s.bucketNs)
	if i >= len(s.season) {
		i = len(s.season) - 1
	}
	return i
}

func (s *Series) foldBucket() {
	if s.accN == 0 {
		return
	}
	i := s.index(s.bucket * s.bucketNs)
	m := s.accSum / float64(s.accN)
	e := s.accErr / float64(s.accN)
	if s.seen[i] == 0 {
		s.season[i], s.scale[i] = m, e
	} else {
		a := math.Max(1/float64(s.seen[i]+1), s.aSeasonMin)
		s.season[i] += a * (m - s.season[i])
		s.scale[i] += a * (e - s.scale[i])
	}
	if s.seen[i] < math.MaxUint16 {
		s.seen[i]++
	}
	s.accSum, s.accErr, s.accN = 0, 0, 0
}

// weekBuckets is the number of buckets of the weekly correction: one per
// hour of the week, coarse enough that every bucket holds a few samples of
// a series sampled up to every 20 minutes, fine enough for the hours of a
// working day.
const weekBuckets = 7 * 24

const weekBucketNs = int64(time.Hour)

// weeksTrusted is how many weeks an hour of the week must have been seen
// before its correction is used: one week's hour is one sample of that
// hour's departure from the daily baseline, as likely an incident as a
// habit; from the second week on the correction averages several weeks.
const weeksTrusted = 2

func weekIndex(ts int64) int {
	p := (ts / weekBucketNs) % weekBuckets
	if p < 0 {
		p += weekBuckets
	}
	return int(p)
}

// foldWeek folds the finished hour into the weekly correction, as
// foldBucket does for the season, with the season's half-life counted in
// weeks.
func (s *Series) foldWeek() {
	if s.wAccN == 0 {
		return
	}
	i := weekIndex(s.wBucket * weekBucketNs)
	m := s.wAccSum / float64(s.wAccN)
	if s.weekSeen[i] == 0 {
		s.week[i] = m
	} else {
		s.week[i] += math.Max(1/float64(s.weekSeen[i]+1), s.aSeasonMin) * (m - s.week[i])
	}
	if s.weekSeen[i] < math.MaxUint16 {
		s.weekSeen[i]++
	}
	s.wAccSum, s.wAccN = 0, 0
}

// choose returns the prediction, and its mean absolute error, of the
// predictor that has been the most accurate lately: the fast level, the
// daily seasonal baseline (once this bucket of the day has been seen), or
// the daily baseline with the weekly correction (once this hour of the
// week has been seen).
func (s *Series) choose(seasonal, weekly bool, predS, predW, predN float64) (float64, float64) {
	pred, mae := predN, s.maeN
	if seasonal && s.maeS < mae {
		pred, mae = predS, s.maeS
	}
	if weekly && s.maeW < mae {
		pred, mae = predW, s.maeW
	}
	return pred, mae
}

// forecast is the expectation ForecastHorizon samples after t, with its
// upper bound and sigma.
func (s *Series) forecast(t time.Time) (f, upper, sigma float64) {
	if s.n == 0 {
		return math.NaN(), math.NaN(), math.NaN()
	}
	ts := t.UnixNano() + int64(float64(s.cfg.ForecastHorizon)*s.interval)
	idx, widx := s.index(ts), weekIndex(ts)
	seasonal := s.seen[idx] > 0
	f, mae := s.choose(seasonal, seasonal && s.weekSeen[widx] >= weeksTrusted,
		s.slow+s.season[idx]+s.dev, s.slow+s.season[idx]+s.week[widx]+s.devW, s.level)
	sigma = s.sigma(mae, f)
	return f, f + s.cfg.UpperBoundSigmas*sigma, sigma
}

// worsening is how much a score must beat the decaying peak of recent
// scores to be reported during the refractory period.
const worsening = 0.1

// surprise returns the raw anomaly score of x in [0,1), the larger of two
// views of the one-step error z = (x − pred)/sigma, each judged against
// this series' own history:
//
//   - sustained: the short-term mean of |z| (clipped at surpriseClip)
//     against the long-run distribution of that mean, as q/(q+1) where
//     q = short / (mean + scoreK·sd); it reads 1/2 when the short-term
//     mean sits scoreK long-run standard deviations above the long-run
//     mean, the standard deviation being at least ScoreSpreadFloor;
//   - spike: the tail probability p of |z| under a peaks-over-threshold
//     model of its history (see tail), as nl/(nl+spikeHalf) where
//     nl = −ln(2p) (Bonferroni over the two views). spikeHalf is −ln Q(scoreK),
//     Q the standard normal tail, so both views read 1/2 at the same
//     improbability: that of a scoreK-sigma Gaussian deviation.
func (s *Series) surprise(z float64) float64 {
	const zmax = 1e6 // keeps the moments finite on a series that was flat
	z = min(math.Abs(z), zmax)
	q := s.step1.update(min(z, surpriseClip), s.aShort, max(s.aLong, 1/float64(s.n)), s.cfg.ScoreSpreadFloor)
	raw := q / (q + 1)
	if s.n >= warmup {
		m := float64(s.n - warmup + 1)
		nl := s.spike.nlog(z, max(s.aLong, 1/m), m, s.cfg.ScoreMemory) - math.Ln2
		if nl > 0 {
			raw = max(raw, nl/(nl+spikeHalf))
		}
	}
	return raw
}

// spikeHalf is −ln Q(scoreK): the negative log tail probability of a
// scoreK-sigma Gaussian deviation, where the spike view reads 1/2.
var spikeHalf = gaussNLog(scoreK)

// gaussNLog is −ln Q(k), Q the standard normal upper tail.
func gaussNLog(k float64) float64 {
	if k <= 0 {
		return math.Ln2
	}
	if k < 30 {
		return -math.Log(0.5 * math.Erfc(k/math.Sqrt2))
	}
	return k*k/2 + math.Log(k*math.Sqrt(2*math.Pi))
}

// surpriseClip caps one sample's surprise, in sigmas, in the sustained
// view: it measures how persistently a series departs from what was
// expected, so one wild sample (which the spike view judges) cannot
// outweigh a sustained change.
const surpriseClip = 3

// scoreK is how many long-run standard deviations above its long-run mean
// short-term surprise sits at score one half.
const scoreK = 5

// surprise compares short-term surprise with its own long-run
// distribution, so that a series whose surprise is always high (heavy
// tails, recurring spikes) is not always anomalous.
type surprise struct {
	short, mean, variance float64
}

// update adds one surprise value u and returns how far the short-term
// average sits above the long-run mean, in units of mean + scoreK·sd
// (sd at least sdFloor): 1 means at that level.
func (p *surprise) update(u, aShort, aLong, sdFloor float64) float64 {
	p.short += aShort * (u - p.short)
	d := p.short - p.mean
	p.mean += aLong * d
	p.variance = (1 - aLong) * (p.variance + aLong*d*d)
	sd := math.Sqrt(p.variance)
	if sd < sdFloor {
		sd = sdFloor
	}
	return p.short / (p.mean + scoreK*sd)
}

func (s *Series) shift(x, pred, sigma float64, r *Result) {
	s.sinceEvent++
	dev := x - pred
	dir := Surge
	if dev < 0 {
		dir = Drop
	}
	out := s.n >= warmup &&
		math.Abs(dev) > s.cfg.ShiftSigmas*sigma &&
		math.Abs(dev) > s.cfg.ShiftMinRelative*math.Abs(pred)
	switch s.state {
	case StateShifted:
		if out && dir == s.pendingDir {
			r.State = StateShifted
			return
		}
		s.state, s.pending = StateNormal, 0
	case StatePending:
		if !out || dir != s.pendingDir {
			s.state, s.pending = StateTransient, 0
		}
	}
	if !out {
		if s.state != StateTransient {
			s.state = StateNormal
		}
		r.State = s.state
		if s.state == StateTransient {
			s.state = StateNormal
		}
		return
	}
	if s.state != StatePending {
		s.state, s.pendingDir, s.pending = StatePending, dir, 0
	}
	s.pending++
	r.State = StatePending
	if s.pending >= s.cfg.Sustain {
		s.state = StateShifted
		r.State = StateShifted
		if s.sinceEvent > int64(s.cfg.Refractory) {
			r.Event = dir
			s.sinceEvent = 0
		}
	}
}

// NewUpperBound returns a new non-negative series as its forecast's upper
// bound alone: each call observes v at at and returns Result.Upper. The
// limiter's reserve for traffic Headroom never throttles follows a bound
// like this one per broker (limiter/demand.Reserves).
func NewUpperBound(cfg config.DetectorConfig) (func(at time.Time, v float64) float64, error) {
	s, err := NewSeries(cfg, Options{NonNegative: true})
	if err != nil {
		return nil, err
	}
	return func(at time.Time, v float64) float64 { return s.Observe(at, v).Upper }, nil
}
