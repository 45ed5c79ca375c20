package config

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
)

func TestDetectorConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(c *DetectorConfig)
		want   string // "" means valid
	}{
		{"defaults", func(c *DetectorConfig) {}, ""},
		{"even spike window", func(c *DetectorConfig) { c.SpikeWindow = 8 }, "spike_window: must be odd"},
		{"tiny spike window", func(c *DetectorConfig) { c.SpikeWindow = 1 }, "spike_window"},
		{"zero spike threshold", func(c *DetectorConfig) { c.SpikeThreshold = 0 }, "spike_threshold"},
		{"negative level half-life", func(c *DetectorConfig) { c.LevelHalfLife = -1 }, "level_half_life"},
		{"no season", func(c *DetectorConfig) { c.Season = 0 }, "season: must be above zero"},
		{"too many buckets", func(c *DetectorConfig) { c.SeasonBuckets = 20000 }, "season_buckets"},
		{"zero horizon", func(c *DetectorConfig) { c.ForecastHorizon = 0 }, "forecast_horizon"},
		{"memory under window", func(c *DetectorConfig) { c.ScoreMemory = 4 }, "score_memory: must be above score_window"},
		{"zero refractory score", func(c *DetectorConfig) { c.ScoreRefractory = 0 }, "score_refractory"},
		{"zero score spread floor", func(c *DetectorConfig) { c.ScoreSpreadFloor = 0 }, "score_spread_floor"},
		{"zero scale memory", func(c *DetectorConfig) { c.ScaleMemory = 0 }, "scale_memory"},
		{"negative relative shift", func(c *DetectorConfig) { c.ShiftMinRelative = -0.1 }, "shift_min_relative"},
		{"zero sustain", func(c *DetectorConfig) { c.Sustain = 0 }, "sustain"},
		{"negative refractory", func(c *DetectorConfig) { c.Refractory = -1 }, "refractory: must not be negative"},
		{"zero refractory is fine", func(c *DetectorConfig) { c.Refractory = 0 }, ""},
		{"zero throttle threshold", func(c *DetectorConfig) { c.ThrottleThreshold = 0 }, "throttle_threshold"},
		{"idle ratio 1", func(c *DetectorConfig) { c.SaturationIdleRatio = 1 }, "saturation_idle_ratio"},
		{"target down after 0", func(c *DetectorConfig) { c.TargetDownAfter = 0 }, "target_down_after"},
		{"long season", func(c *DetectorConfig) { c.Season = model.Duration(7 * 24 * time.Hour) }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultDetectorConfig()
			tt.change(&c)
			errs := c.Validate()
			if tt.want == "" {
				if len(errs) != 0 {
					t.Fatalf("unexpected errors: %v", errs)
				}
				return
			}
			if len(errs) != 1 || !strings.Contains(errs[0].Error(), tt.want) {
				t.Fatalf("errors %v, want one containing %q", errs, tt.want)
			}
		})
	}
}

func TestDetectorSectionYAML(t *testing.T) {
	example, err := os.ReadFile("../examples/headroom.yml")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, section, want string
	}{
		{"partial section keeps other defaults", "detector:\n  spike_window: 9\n  season: 12h\n  throttle_threshold: 250ms\n", ""},
		{"unknown field", "detector:\n  spike_windw: 9\n", "spike_windw"},
		{"invalid value has its path", "detector:\n  spike_window: 8\n", "detector.spike_window"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(append(append([]byte{}, example...), []byte("\n"+tt.section)...))
			if tt.want != "" {
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("error %v, want one containing %q", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			d, def := c.Detector, DefaultDetectorConfig()
			if d.SpikeWindow != 9 || d.Season != model.Duration(12*time.Hour) || d.ThrottleThreshold != model.Duration(250*time.Millisecond) {
				t.Fatalf("section not read: %+v", d)
			}
			if d.Sustain != def.Sustain || d.ScoreMemory != def.ScoreMemory || d.SeasonBuckets != def.SeasonBuckets {
				t.Fatalf("defaults lost: %+v", d)
			}
		})
	}
}
