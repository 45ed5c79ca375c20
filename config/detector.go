package config

import (
	"math"
	"time"

	"github.com/prometheus/common/model"
)

// DetectorConfig configures the streaming detector. The same parameters apply
// to every series: there is no per-series tuning.
//
// Short-term dynamics are counted in samples (one sample is one round for the
// live detector, one row for `headroom detect`), so that the detector behaves
// the same at any sampling rate. The seasonal baseline is counted in wall
// time, because days are.
type DetectorConfig struct {
	// SpikeWindow is the number of recent samples the robust spike filter
	// (median and MAD) looks at. A burst shorter than half the window never
	// reaches the level, the season or the forecast. Default 7; odd, 3 to 101.
	SpikeWindow int `yaml:"spike_window"`
	// SpikeThreshold is how many scaled MADs away from the median a sample
	// must be to count as a spike and be replaced by the median. Default 3.
	SpikeThreshold float64 `yaml:"spike_threshold"`
	// LevelHalfLife is the half-life, in samples, of the fast level that
	// corrects the seasonal baseline. Default 6.
	LevelHalfLife float64 `yaml:"level_half_life"`
	// Season is the period of the seasonal baseline. Default 24h.
	Season model.Duration `yaml:"season"`
	// SeasonBuckets is the number of buckets the season is split into.
	// Default 96 (15 minutes each for a day).
	SeasonBuckets int `yaml:"season_buckets"`
	// SeasonHalfLife is how many seasons it takes for an old season's
	// pattern to lose half its weight. Default 2.
	SeasonHalfLife float64 `yaml:"season_half_life"`
	// ForecastHorizon is how many samples ahead the forecast looks.
	// Default 1.
	ForecastHorizon int `yaml:"forecast_horizon"`
	// UpperBoundSigmas is the width of the forecast's upper bound in robust
	// standard deviations of the one-step error. Default 2.
	UpperBoundSigmas float64 `yaml:"upper_bound_sigmas"`
	// ScoreWindow is the number of samples, as an EWMA span, the anomaly
	// score averages surprise over before comparing it with its long-run
	// distribution. Default 14.
	ScoreWindow float64 `yaml:"score_window"`
	// ScoreMemory is the span, in samples, of the long-run distribution of
	// surprise and of the tail model of one-step surprise. Default 4400.
	ScoreMemory float64 `yaml:"score_memory"`
	// ScoreSpreadFloor is the smallest long-run standard deviation of
	// short-term surprise (in sigmas of the one-step error) the score
	// divides by, so that a very regular series is not scored on the
	// wiggles of its own floor. Default 0.3.
	ScoreSpreadFloor float64 `yaml:"score_spread_floor"`
	// ScoreRefractory is the half-life, in samples, of the peak an anomaly
	// score must beat to be reported: the score marks an incident's onset
	// (and any worsening), not each of its samples. Default 50.
	ScoreRefractory float64 `yaml:"score_refractory"`
	// ScaleMemory is the span, in samples, of the robust scale of the
	// one-step error, which the band, the upper bound and the score use.
	// Default 120.
	ScaleMemory float64 `yaml:"scale_memory"`
	// ShiftSigmas is how many robust standard deviations a sample must be
	// away from the baseline to count towards a shift. Default 4.
	ShiftSigmas float64 `yaml:"shift_sigmas"`
	// ShiftMinRelative is the smallest relative change from the baseline
	// that counts towards a shift, so that a quiet series does not page for
	// a statistically significant but tiny change. Default 0.2.
	ShiftMinRelative float64 `yaml:"shift_min_relative"`
	// Sustain is how many consecutive samples a shift must last to become an
	// event; shorter excursions are transient spikes. Default 4, so that a
	// step is flagged 3 samples after it starts and a burst of 3 is not.
	Sustain int `yaml:"sustain"`
	// Refractory is how many samples after an event the same series cannot
	// raise another one of the same kind, so that one incident gives one
	// event. Default 60.
	Refractory int `yaml:"refractory"`
	// ThrottleThreshold is the average throttle time above which a client
	// counts as throttled. Default 100ms.
	ThrottleThreshold model.Duration `yaml:"throttle_threshold"`
	// SaturationIdleRatio is the network or request handler idle ratio
	// below which a broker counts as saturated. Default 0.2.
	SaturationIdleRatio float64 `yaml:"saturation_idle_ratio"`
	// TargetDownAfter is how many consecutive failed scrapes make a target
	// down. Default 3.
	TargetDownAfter int `yaml:"target_down_after"`
}

// DefaultDetectorConfig returns the detector defaults.
func DefaultDetectorConfig() DetectorConfig {
	return DetectorConfig{
		SpikeWindow:         7,
		SpikeThreshold:      3,
		LevelHalfLife:       6,
		Season:              model.Duration(24 * time.Hour),
		SeasonBuckets:       288,
		SeasonHalfLife:      2,
		ForecastHorizon:     1,
		UpperBoundSigmas:    2,
		ScoreWindow:         14,
		ScoreMemory:         4400,
		ScoreRefractory:     50,
		ScoreSpreadFloor:    0.3,
		ScaleMemory:         120,
		ShiftSigmas:         4,
		ShiftMinRelative:    0.2,
		Sustain:             4,
		Refractory:          60,
		ThrottleThreshold:   model.Duration(100 * time.Millisecond),
		SaturationIdleRatio: 0.2,
		TargetDownAfter:     3,
	}
}

// Validate reports the section's problems.
func (c *DetectorConfig) Validate() []error {
	var errs []error
	if c.SpikeWindow < 3 || c.SpikeWindow > 101 || c.SpikeWindow%2 == 0 {
		errs = append(errs, fieldErr("spike_window", "must be odd and in [3, 101], got %d", c.SpikeWindow))
	}
	for _, f := range []struct {
		path string
		v    float64
	}{
		{"spike_threshold", c.SpikeThreshold},
		{"level_half_life", c.LevelHalfLife},
		{"season_half_life", c.SeasonHalfLife},
		{"upper_bound_sigmas", c.UpperBoundSigmas},
		{"score_window", c.ScoreWindow},
		{"score_memory", c.ScoreMemory},
		{"score_refractory", c.ScoreRefractory},
		{"score_spread_floor", c.ScoreSpreadFloor},
		{"scale_memory", c.ScaleMemory},
		{"shift_sigmas", c.ShiftSigmas},
	} {
		if !finitePositive(f.v) {
			errs = append(errs, fieldErr(f.path, "must be a finite number above zero, got %v", f.v))
		}
	}
	if c.ScoreMemory <= c.ScoreWindow {
		errs = append(errs, fieldErr("score_memory", "must be above score_window (%v), got %v", c.ScoreWindow, c.ScoreMemory))
	}
	if c.Season <= 0 {
		errs = append(errs, fieldErr("season", "must be above zero"))
	}
	if c.SeasonBuckets < 1 || c.SeasonBuckets > 10080 {
		errs = append(errs, fieldErr("season_buckets", "must be in [1, 10080], got %d", c.SeasonBuckets))
	}
	if c.ForecastHorizon < 1 || c.ForecastHorizon > 10000 {
		errs = append(errs, fieldErr("forecast_horizon", "must be in [1, 10000] samples, got %d", c.ForecastHorizon))
	}
	if !(c.ShiftMinRelative >= 0) || math.IsInf(c.ShiftMinRelative, 1) {
		errs = append(errs, fieldErr("shift_min_relative", "must be a finite number at least zero, got %v", c.ShiftMinRelative))
	}
	if c.Sustain < 1 {
		errs = append(errs, fieldErr("sustain", "must be at least 1 sample, got %d", c.Sustain))
	}
	if c.Refractory < 0 {
		errs = append(errs, fieldErr("refractory", "must not be negative, got %d", c.Refractory))
	}
	if c.ThrottleThreshold <= 0 {
		errs = append(errs, fieldErr("throttle_threshold", "must be above zero"))
	}
	if !(c.SaturationIdleRatio > 0 && c.SaturationIdleRatio < 1) {
		errs = append(errs, fieldErr("saturation_idle_ratio", "must be in (0, 1), got %v", c.SaturationIdleRatio))
	}
	if c.TargetDownAfter < 1 {
		errs = append(errs, fieldErr("target_down_after", "must be at least 1, got %d", c.TargetDownAfter))
	}
	return errs
}

func finitePositive(v float64) bool {
	return v > 0 && !math.IsInf(v, 1) && !math.IsNaN(v)
}
