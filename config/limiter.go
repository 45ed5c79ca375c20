package config

import (
	"math"
	"time"

	"github.com/prometheus/common/model"
)

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
	// DemandHeadroom is the spare a project's target carries above its
	// estimated demand, when capacity allows, while the detector has no
	// forecast for it (its first rounds, or the detector off). With a
	// forecast, the forecast's upper bound sizes the spare. Default 0.1.
	DemandHeadroom float64 `yaml:"demand_headroom"`
	// LenderSpare is the spare above its demand, within its share, that a
	// project keeps before others borrow. It must exceed the noise left in
	// denoised rates, or lenders' quotas chase the noise. Default 0.1.
	LenderSpare float64 `yaml:"lender_spare"`
	// ThrottleWindow is the brokers' quota window
	// (quota.window.num × quota.window.size.seconds), used to estimate
	// demand from throttle time. Default 11s.
	ThrottleWindow model.Duration `yaml:"throttle_window"`
	// BatchSize is the most entities per AlterClientQuotas request.
	// Default 25.
	BatchSize int `yaml:"batch_size"`
	// WriteAttempts is how often a failed quota write is tried in a round.
	// Default 4.
	WriteAttempts int `yaml:"write_attempts"`
	// WriteBackoff is the first wait between attempts; it doubles each
	// time. Default 200ms.
	WriteBackoff model.Duration `yaml:"write_backoff"`
}

// DefaultLimiterConfig returns the limiter defaults.
func DefaultLimiterConfig() LimiterConfig {
	return LimiterConfig{
		Mode:           ModeShadow,
		WriteBudget:    50,
		Hysteresis:     0.05,
		MinQuota:       1024,
		DemandHeadroom: 0.1,
		LenderSpare:    0.1,
		ThrottleWindow: model.Duration(11 * time.Second),
		BatchSize:      25,
		WriteAttempts:  4,
		WriteBackoff:   model.Duration(200 * time.Millisecond),
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
	if !(c.DemandHeadroom >= 0 && c.DemandHeadroom <= 1) {
		errs = append(errs, fieldErr("demand_headroom", "must be in [0, 1], got %v", c.DemandHeadroom))
	}
	if !(c.LenderSpare >= 0 && c.LenderSpare <= 1) {
		errs = append(errs, fieldErr("lender_spare", "must be in [0, 1], got %v", c.LenderSpare))
	}
	if w := time.Duration(c.ThrottleWindow); w < time.Second || w > 10*time.Minute {
		errs = append(errs, fieldErr("throttle_window", "must be between 1s and 10m, got %s", c.ThrottleWindow))
	}
	if c.BatchSize < 1 || c.BatchSize > 1000 {
		errs = append(errs, fieldErr("batch_size", "must be between 1 and 1000, got %d", c.BatchSize))
	}
	if c.WriteAttempts < 1 || c.WriteAttempts > 20 {
		errs = append(errs, fieldErr("write_attempts", "must be between 1 and 20, got %d", c.WriteAttempts))
	}
	if b := time.Duration(c.WriteBackoff); b <= 0 || b > time.Minute {
		errs = append(errs, fieldErr("write_backoff", "must be above zero and at most 1m, got %s", c.WriteBackoff))
	}
	return errs
}
