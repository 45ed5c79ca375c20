// Package detector is Headroom's streaming anomaly detector. It stands
// between the collector and the limiter and alerting: per series it filters
// spikes (a Hampel filter on the residual from the seasonal baseline), tracks
// a slow level, a daily seasonal baseline and a fast level, forecasts the
// next samples with an upper bound (the demand the limiter uses), scores how
// anomalous the series is in [0,1], and runs a state machine that tells
// transient spikes from sustained shifts, with a refractory period so that
// one incident gives one event.
//
// Series is one series; Monitor keeps a Series per key and turns the
// detector's own small input types (traffic rates, throttle time, consumer
// lag status, broker idle ratios, scrape health) into Signals and Events.
// Detect is the offline mode behind `headroom detect`: a `timestamp,value`
// CSV in, `timestamp,value,anomaly_score` out, strictly causal.
//
// Memory per series is fixed when it is created and each sample costs O(1)
// without allocation.
//
// Bad input: NaN and ±Inf samples, and samples whose timestamp is not after
// the last used one (duplicates, steps backwards), are skipped and reported
// in Result.Skipped; they never change the state. On a series declared
// non-negative (rates), a negative sample is what a counter reset looks like
// once rated, and is skipped too. A gap longer than 20 typical intervals
// clears the spike window and any excursion in progress, but keeps the
// level and the season. The offline CSV reader rejects malformed rows and
// non-finite values with the line number.
//
// The detector must not import the collector or the limiter: a wiring step
// adapts the collector's snapshot to Input, and Signals to the limiter.
package detector
