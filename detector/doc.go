// Package detector is Headroom's streaming anomaly detector. It stands
// between the collector and the limiter and alerting: per series it filters
// spikes (a Hampel filter on the residual from the seasonal baseline),
// tracks a slow level, a daily seasonal baseline with a weekly correction
// and a fast level, predicts each sample with whichever of the fast level,
// the daily baseline and the daily baseline with the weekly correction has
// been the most accurate lately, forecasts the next samples with an upper
// bound (the demand the limiter uses), scores how anomalous the series is
// in [0,1], and runs a state machine that tells transient spikes from
// sustained shifts, with a refractory period so that one incident gives one
// event.
//
// Series is one series; Monitor keeps a Series per key and turns the
// detector's own small input types (traffic rates, throttle time, consumer
// lag status, broker idle ratios, scrape health) into Signals and Events.
// Detect is the offline mode behind `headroom detect`: a `timestamp,value`
// CSV in, `timestamp,value,anomaly_score` out, strictly causal. The daemon,
// `headroom detect` and the simulator use this one implementation with one
// parameter set (config.DetectorConfig).
//
// Memory per series is fixed when it is created (about 7.5 KiB with the
// default 288 season buckets and the 168 hours of the weekly correction)
// and each sample costs O(1) without allocation.
//
// # The score
//
// The anomaly score says how improbable the recent one-step errors are
// under this series' own history, so that one threshold means the same on
// a quiet series, a noisy one and a spiky one. The one-step error is
// z = (x − expected)/sigma, sigma the robust scale of the error (from the
// mean absolute error, and per season bucket, since some hours are harder
// to predict than others). Two views of z are judged, and the larger
// reading is the raw score (Result.RawScore):
//
//   - Sustained: the short-term mean of min(|z|, 3) (an EWMA of span
//     ScoreWindow) against the long-run mean and spread of that same short
//     mean (span ScoreMemory), as q/(q+1), q = short/(mean + 5·spread),
//     the spread being at least ScoreSpreadFloor. It
//     reads 1/2 when the short-term mean stands 5 long-run standard
//     deviations above the long-run mean: a shift in level or in noise that
//     lasts. This is the likelihood idea of HTM's anomaly likelihood: a
//     raw surprise is judged against its own recent distribution.
//   - Spike: the tail probability p of |z| under a peaks-over-threshold
//     model of the history of |z| (Siffer et al., KDD 2017): above a
//     threshold at the long-run mean plus 2 standard deviations, the
//     excesses follow a generalised Pareto law whose shape and scale come
//     from the first two moments of the excesses; the exceedance rate is
//     estimated by Laplace's rule of succession, so that a flat line's
//     first move gets a large but finite score. The view reads
//     nl/(nl + spikeHalf), nl = −ln(2p) (Bonferroni over the two views) and
//     spikeHalf = −ln Q(5) ≈ 15.1, Q the standard normal tail: both views
//     read 1/2 at the improbability of a 5-sigma Gaussian deviation, so
//     that neither view's scale is picked.
//
// The reported score (Result.Score) marks an incident's onset: a raw score
// counts only when it beats the decaying peak of the recent raw scores by
// 10% (the peak halves every ScoreRefractory samples), so that one incident
// gives one high score rather than a run of them.
//
// # Constants and how they were chosen
//
// Each constant is derived, set by an operational requirement, or, for the
// two parameters of the score that no principle fixes, chosen by
// leave-one-category-out evaluation (LOCO) on the public NAB subset in
// testdata/nab: for each category, the candidate with
// the best standard NAB score on the other categories is scored on the one
// left out, and the held-out outputs of all categories are scored together
// as one corpus. The evaluation is TestNABLeaveOneCategoryOut:
//
//	go test -run TestNABLeaveOneCategoryOut -v ./detector/ -nab.loco
//
// It prints the candidate each fold chose, the held-out score of each
// category with anomalies, the false positives on the category without,
// the LOCO corpus score and the in-sample score of the defaults. The
// defaults are the candidate that scores best on the whole subset.
//
// Chosen by LOCO (grid in loco_test.go):
//
//   - ScoreRefractory = 50 samples, from {25, 50, 100, 200}: the half-life
//     of the peak a new score must beat.
//   - ScoreSpreadFloor = 0.3, from {0.2, 0.3, 0.4}: the smallest long-run
//     spread of the short-term mean surprise the sustained view divides by.
//     For independent Gaussian errors that spread is 0.60/√ScoreWindow ≈
//     0.16; real residuals are positively autocorrelated, which inflates
//     it, and a series so regular that its spread falls under the floor
//     would otherwise be scored on the wiggles of its floor.
//
// Derived:
//
//   - ScoreMemory = 4400 samples: the memory of the long-run distribution
//     of surprise and of the tail model, long enough to hold 100 excesses
//     over the tail threshold (100/tailRate ≈ 4400), so that the Pareto
//     shape is estimated to about ±0.1 (the standard error of the moment
//     estimate is about 1/√excesses near shape 0).
//   - ScoreWindow = 14 samples: the shortest span at which a sustained
//     doubling of the typical one-step error reads score 1/2 in the
//     sustained view. For Gaussian errors min(|z|, 3) has mean 0.80 and
//     standard deviation 0.60, an EWMA of span W has standard deviation
//     0.60/√W, and a doubling (+0.80) sits 5 such deviations up when
//     W = (5·0.60/0.80)² ≈ 14.
//   - scoreK = 5 standard deviations: the conventional "five sigma" of a
//     discovery; one sample in 3.5 million of Gaussian noise goes that far.
//     spikeHalf follows from it.
//   - surpriseClip = 3 sigmas: the sustained view measures persistence, so
//     one sample counts at most as a 3-sigma one (99.7% of Gaussian errors
//     are under it); the spike view judges single samples.
//   - tailSDs = 2 (tail threshold at mean + 2 standard deviations, about the
//     97.7th percentile of a Gaussian): far enough into the tail for the
//     generalised Pareto approximation, near enough for enough excesses.
//     tailRate = 1 − Φ(2) turns ScoreMemory into a memory in excesses.
//   - maxShape = 1/2: the largest Pareto shape whose excesses have a finite
//     variance, which the moment estimates need; the shape is never below 0
//     (exponential), since a light tail estimated from a few excesses
//     would call the next large one impossible.
//   - worsening = 10%: how much a score must beat the decaying peak; a
//     margin, so that noise on a plateau does not count as worsening.
//   - 1.2533 = √(π/2) turns a mean absolute error into a standard
//     deviation and 1.4826 a median absolute deviation, both for Gaussian
//     data.
//
// Chosen for the operational requirements (tests in series_test.go), not
// for any benchmark:
//
//   - SpikeWindow = 7, SpikeThreshold = 3 MADs: a burst of 1 to 3 samples
//     (under half the window) is replaced by the window's median and never
//     reaches the level, the season or the forecast, so a 10× burst moves
//     the forecast by less than 5%; 3 MADs replaces 0.3% of Gaussian noise.
//   - Sustain = 4 samples: a step is an event on its 4th sample (flagged
//     within 3 samples of the onset) and a burst of 3 is not.
//   - ShiftSigmas = 4, ShiftMinRelative = 20%: a sample counts towards a
//     shift when it is both 4 robust sigmas and 20% away from the baseline.
//     Four Gaussian 4-sigma samples in a row happen about once in 10^16
//     samples, and the 20% floor keeps heavy-tailed noise (exponential,
//     uniform, small counts) from paging in a week, while a 30% step still
//     counts.
//   - Refractory = 60 samples: one incident gives one event.
//   - LevelHalfLife = 6 samples: the fast level follows a step that got past
//     the spike filter within a few samples.
//   - Season = 24 h in 288 buckets of 5 minutes, SeasonHalfLife = 2 days:
//     a daily pattern is learnt within 2 days; the first day sets a bucket,
//     later days average into it with weight max(1/(days+1), 1 − 2^(−1/2)).
//   - The weekly correction: 168 buckets of one hour (every bucket holds a
//     few samples of a series sampled up to every 20 minutes), learnt from
//     the spike-filtered value's departure from the daily baseline with the
//     season's half-life counted in weeks, and used once an hour of the
//     week has been seen in 2 weeks (one week's hour is one sample, as
//     likely an incident as a habit). A quiet weekend is then expected in
//     the third week (TestWeeklyPatternIsLearntWithinTwoWeeks).
//   - ScaleMemory = 120 samples, ForecastHorizon = 1 sample,
//     UpperBoundSigmas = 2 (about 97.7% one-sided cover of Gaussian
//     errors): the limiter's forecast and its upper bound.
//   - warmup = 30 samples before an event can be raised or the spike view
//     is judged (the error scale needs samples to mean anything); a gap
//     longer than 20 typical intervals is a long gap; the typical interval
//     is an EWMA of weight 0.05 (about 20 samples).
//
// # Bad input
//
// NaN and ±Inf samples, and samples whose timestamp is not after the last
// used one (duplicates, steps backwards), are skipped and reported in
// Result.Skipped; they never change the state. On a series declared
// non-negative (rates), a negative sample is what a counter reset looks
// like once rated, and is skipped too. A gap longer than 20 typical
// intervals clears the spike window and any excursion in progress, but
// keeps the level and the season. The offline CSV reader rejects malformed
// rows and non-finite values with the line number.
//
// The detector must not import the collector or the limiter: a wiring step
// adapts the collector's snapshot to Input, and Signals to the limiter.
package detector
