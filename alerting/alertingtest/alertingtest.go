// Package alertingtest holds stand-ins for what stands behind the alert
// engine (the limiter's overrides and the signals' conditions), for the
// tests of the API and its clients, which drive an incident's lifecycle
// through the API; what the playbooks do to quotas is tested in package
// alerting against the real override service. Only tests import this
// package.
//
// It must not import the API, the round or daemon.
package alertingtest

import (
	"context"
	"time"

	"github.com/headroomhq/headroom/alerting"
)

// NoOverrides accepts every playbook action and changes nothing: its
// references describe the action asked for.
type NoOverrides struct{}

// ForceRound implements alerting.Overrides.
func (NoOverrides) ForceRound(context.Context, string, bool) error { return nil }

// RaiseMargin implements alerting.Overrides.
func (NoOverrides) RaiseMargin(_ context.Context, g string, m float64, u time.Time) (alerting.OverrideRef, error) {
	return alerting.OverrideRef{Kind: "margin", Group: g, Value: m, Until: u}, nil
}

// CapProject implements alerting.Overrides.
func (NoOverrides) CapProject(_ context.Context, p string, c float64, u time.Time) (alerting.OverrideRef, error) {
	return alerting.OverrideRef{Kind: "cap", Project: p, Value: c, Until: u}, nil
}

// Lift implements alerting.Overrides.
func (NoOverrides) Lift(context.Context, alerting.OverrideRef) error { return nil }

// Conditions answers every alert's condition with the same value: false
// (cleared) or true (still holding).
type Conditions bool

// Active implements alerting.Conditions.
func (c Conditions) Active(context.Context, string, map[string]string) (bool, error) {
	return bool(c), nil
}

var (
	_ alerting.Overrides  = NoOverrides{}
	_ alerting.Conditions = Conditions(false)
)
