package config

import (
	"math"
	"time"

	"github.com/prometheus/common/model"
)

// DetectorConfig configures the streaming detector. The same parameters apply
// to every series: there is no per-series tuning.
type DetectorConfig struct {
	// SpikeWindow is the number of recent samples the robust spike filter
	// (median and MAD) looks at. Default 7; 3 to 101.
	SpikeWindow int `yaml:"spike_window"`
	// SpikeThreshold is how many scaled MADs away from the median a sample
	// must be to count as a spike and be replaced by the median. Default 3.5.
	SpikeThreshold float64 `yaml:"spike_threshold"`
	// LevelHalfLife is the half-life of the level tracker. Default 2m.
	LevelHalfLife model.Duration `yaml:"level_half_life"`
	// Season is the period of the seasonal baseline. Default 24h.
	Season model.Duration `yaml:"season"`
	// SeasonBuckets is the number of buckets the season is split into.
	// Default 96 (15 minutes each for a day).
	SeasonBuckets int `yaml:"season_buckets"`
	// ForecastHorizon is how far ahead the forecast looks. Default 1m.
	ForecastHorizon model.Duration `yaml:"forecast_horizon"`
	// UpperBoundSigmas is the width of the forecast's upper bound in robust
	// standard deviations. Default 2.
	UpperBoundSigmas float64 `yaml:"upper_bound_sigmas"`
	// Sustain is how long a shift must persist before it becomes an event.
	// Shorter excursions are transient spikes. Default 1m.
	Sustain model.Duration `yaml:"sustain"`
	// Refractory is the quiet time after an event, so that one incident gives
	// one event. Default 15m.
	Refractory model.Duration `yaml:"refractory"`
	// EventThreshold is the anomaly score, in [0,1], above which a sample
	// counts towards a sustained shift. Default 0.8.
	EventThreshold float64 `yaml:"event_threshold"`
}

// DefaultDetectorConfig returns the detector defaults.
func DefaultDetectorConfig() DetectorConfig {
	return DetectorConfig{
		SpikeWindow:      7,
		SpikeThreshold:   3.5,
		LevelHalfLife:    model.Duration(2 * time.Minute),
		Season:           model.Duration(24 * time.Hour),
		SeasonBuckets:    96,
		ForecastHorizon:  model.Duration(time.Minute),
		UpperBoundSigmas: 2,
		Sustain:          model.Duration(time.Minute),
		Refractory:       model.Duration(15 * time.Minute),
		EventThreshold:   0.8,
	}
}

// Validate reports the section's problems.
func (c *DetectorConfig) Validate() []error {
	var errs []error
	if c.SpikeWindow < 3 || c.SpikeWindow > 101 {
		errs = append(errs, fieldErr("spike_window", "must be in [3, 101], got %d", c.SpikeWindow))
	}
	if !finitePositive(c.SpikeThreshold) {
		errs = append(errs, fieldErr("spike_threshold", "must be a finite number above zero, got %v", c.SpikeThreshold))
	}
	for _, d := range []struct {
		path string
		v    model.Duration
	}{
		{"level_half_life", c.LevelHalfLife},
		{"season", c.Season},
		{"forecast_horizon", c.ForecastHorizon},
		{"sustain", c.Sustain},
	} {
		if d.v <= 0 {
			errs = append(errs, fieldErr(d.path, "must be above zero"))
		}
	}
	if c.Refractory < 0 {
		errs = append(errs, fieldErr("refractory", "must not be negative"))
	}
	if c.SeasonBuckets < 1 || c.SeasonBuckets > 10080 {
		errs = append(errs, fieldErr("season_buckets", "must be in [1, 10080], got %d", c.SeasonBuckets))
	}
	if !finitePositive(c.UpperBoundSigmas) {
		errs = append(errs, fieldErr("upper_bound_sigmas", "must be a finite number above zero, got %v", c.UpperBoundSigmas))
	}
	if !(c.EventThreshold > 0 && c.EventThreshold < 1) {
		errs = append(errs, fieldErr("event_threshold", "must be in (0, 1), got %v", c.EventThreshold))
	}
	return errs
}

func finitePositive(v float64) bool {
	return v > 0 && !math.IsInf(v, 1) && !math.IsNaN(v)
}
