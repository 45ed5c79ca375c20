package config

import (
	"math"
	"time"

	"github.com/prometheus/common/model"
)

// AlertRulesConfig sets the thresholds and durations of the alert rules
// Headroom evaluates itself every round (section alerting.rules). A rule's
// condition must hold for its duration before the alert fires, as with a
// Prometheus rule's "for".
type AlertRulesConfig struct {
	// ThrottledRatio: ProjectThrottled fires when more than this share of
	// a project's demand is throttled, borrowing included, in (0, 1).
	// Default 0.05.
	ThrottledRatio float64 `yaml:"throttled_ratio"`
	// ThrottledFor is how long the throttling must last. Default 30s: two
	// rounds at the default interval, long enough that a surge Headroom
	// can meet by borrowing (within two rounds) never pages.
	ThrottledFor model.Duration `yaml:"throttled_for"`
	// SaturatedRatio: GroupSaturated fires when a group's demand exceeds
	// this share of its safe capacity, in (0, 10]. Default 0.95.
	SaturatedRatio float64 `yaml:"saturated_ratio"`
	// SaturatedFor is how long the group must stay saturated. Default 5m.
	SaturatedFor model.Duration `yaml:"saturated_for"`
	// OverloadIdle: BrokerOverloaded fires when a broker's network or
	// request handler idle ratio is under this, in (0, 1), or it serves
	// more than its safe capacity. Default 0.1.
	OverloadIdle float64 `yaml:"overload_idle"`
	// OverloadFor is how long the broker must stay overloaded. Default 2m.
	OverloadFor model.Duration `yaml:"overload_for"`
	// LagFor: ConsumerLagGrowing fires after a consumer group's lag status
	// (Burrow-style WARN, ERR, STALL or STOP) has lasted this long.
	// Default 5m.
	LagFor model.Duration `yaml:"lag_for"`
	// TargetDownFor: CollectorTargetDown fires after a scrape target has
	// failed this long. Default 1m.
	TargetDownFor model.Duration `yaml:"target_down_for"`
	// ApplyFailingFor: QuotaApplyFailing fires after every quota write of
	// a group has failed this long. Default 5m.
	ApplyFailingFor model.Duration `yaml:"apply_failing_for"`
}

// Defaults of alerting.rules, alerting.runbook_url and alerting.dashboard_url.
const (
	DefaultThrottledRatio  = 0.05
	DefaultThrottledFor    = model.Duration(30 * time.Second)
	DefaultSaturatedRatio  = 0.95
	DefaultSaturatedFor    = model.Duration(5 * time.Minute)
	DefaultOverloadIdle    = 0.1
	DefaultOverloadFor     = model.Duration(2 * time.Minute)
	DefaultLagFor          = model.Duration(5 * time.Minute)
	DefaultTargetDownFor   = model.Duration(time.Minute)
	DefaultApplyFailingFor = model.Duration(5 * time.Minute)
	DefaultRunbookURL      = "https://github.com/headroomhq/headroom/blob/main/docs/runbooks.md"
)

// DefaultAlertRulesConfig returns the defaults of alerting.rules.
func DefaultAlertRulesConfig() AlertRulesConfig {
	return AlertRulesConfig{
		ThrottledRatio:  DefaultThrottledRatio,
		ThrottledFor:    DefaultThrottledFor,
		SaturatedRatio:  DefaultSaturatedRatio,
		SaturatedFor:    DefaultSaturatedFor,
		OverloadIdle:    DefaultOverloadIdle,
		OverloadFor:     DefaultOverloadFor,
		LagFor:          DefaultLagFor,
		TargetDownFor:   DefaultTargetDownFor,
		ApplyFailingFor: DefaultApplyFailingFor,
	}
}

// Validate reports the section's problems; paths are relative to
// alerting.rules.
func (r *AlertRulesConfig) Validate() []error {
	var errs []error
	ratio := func(path string, v, hi float64, closed bool) {
		bad := math.IsNaN(v) || v <= 0 || v > hi || (!closed && v == hi)
		if bad {
			if closed {
				errs = append(errs, fieldErr(path, "must be in (0, %g], got %v", hi, v))
			} else {
				errs = append(errs, fieldErr(path, "must be in (0, %g), got %v", hi, v))
			}
		}
	}
	ratio("throttled_ratio", r.ThrottledRatio, 1, false)
	ratio("saturated_ratio", r.SaturatedRatio, 10, true)
	ratio("overload_idle", r.OverloadIdle, 1, false)
	for _, d := range []struct {
		path string
		v    model.Duration
	}{
		{"throttled_for", r.ThrottledFor}, {"saturated_for", r.SaturatedFor}, {"overload_for", r.OverloadFor},
		{"lag_for", r.LagFor}, {"target_down_for", r.TargetDownFor}, {"apply_failing_for", r.ApplyFailingFor},
	} {
		if d.v <= 0 {
			errs = append(errs, fieldErr(d.path, "must be positive, got %s", d.v))
		}
	}
	return errs
}
