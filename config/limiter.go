package config

import "math"

// Limiter modes.
const (
	// ModeShadow plans and records every decision but writes nothing.
	ModeShadow = "shadow"
	// ModeEnforce writes quotas to the cluster.
	ModeEnforce = "enforce"
)

// LimiterConfig configures the allocator and the applier.
type LimiterConfig struct {
	// Mode is shadow (plan and record, write nothing) or enforce. Default
	// shadow: a new installation starts by watching.
	Mode string `yaml:"mode"`
	// Overcommit lets the sum of quotas on a broker exceed margin × capacity
	// as long as forecast demand fits. Default false (strict mode).
	Overcommit bool `yaml:"overcommit"`
	// WriteBudget is the most quota writes per round. Default 50.
	WriteBudget int `yaml:"write_budget"`
	// Hysteresis is the relative change below which an increase is not
	// written. Cuts below demand are always written. Default 0.05.
	Hysteresis float64 `yaml:"hysteresis"`
	// MinQuota is the smallest quota ever written; Kafka rejects zero.
	// Default 1KiB/s.
	MinQuota Rate `yaml:"min_quota"`
}

// DefaultLimiterConfig returns the limiter defaults.
func DefaultLimiterConfig() LimiterConfig {
	return LimiterConfig{
		Mode:        ModeShadow,
		WriteBudget: 50,
		Hysteresis:  0.05,
		MinQuota:    1024,
	}
}

// Validate reports the section's problems.
func (c *LimiterConfig) Validate() []error {
	var errs []error
	if c.Mode != ModeShadow && c.Mode != ModeEnforce {
		errs = append(errs, fieldErr("mode", "must be %q or %q, got %q", ModeShadow, ModeEnforce, c.Mode))
	}
	if c.WriteBudget < 1 {
		errs = append(errs, fieldErr("write_budget", "must be at least 1"))
	}
	if !(c.Hysteresis >= 0 && c.Hysteresis < 1) || math.IsNaN(c.Hysteresis) {
		errs = append(errs, fieldErr("hysteresis", "must be in [0, 1), got %v", c.Hysteresis))
	}
	if c.MinQuota <= 0 {
		errs = append(errs, fieldErr("min_quota", "must be above zero"))
	}
	return errs
}
