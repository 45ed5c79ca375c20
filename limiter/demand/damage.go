package demand

import "math"

// Damage is one round's throttled bytes for a project in one direction:
// under the quota in force, and under its static share had that been in
// force instead. It is how a platform team measures, in production, what
// borrowing saved.
type Damage struct {
	Headroom, Static float64
}

// Damage estimates the round's damage from what it observed, over seconds
// of the round. On each broker the demand is the served rate, or, where
// the client was throttled, Kafka's formula applied to the served rate:
// the excess Kafka throttled is rate × throttle/window, with the served
// rate standing for the quota the window measured against (a muted client
// is served at about that quota). The quota in force now is not used: it
// may have been changed by the last round, after the window measured. No
// probe step is added: that is a guess, not a measurement. Under the quota
// in force the damage is the excess; under the static share, the demand's
// excess over the share. A muted client's formula understates its demand,
// so both figures are lower bounds.
func (p Params) Damage(in *Input, seconds float64) Damage {
	var d Damage
	if !(seconds > 0) || math.IsInf(seconds, 0) {
		return d
	}
	share := in.Share
	if !(share >= 0) || math.IsInf(share, 0) {
		share = 0
	}
	for _, o := range in.Loads {
		served := o.Served
		if !(served >= 0) || math.IsInf(served, 0) {
			continue
		}
		want := served
		if o.ThrottleMs > 0 && !math.IsInf(o.ThrottleMs, 0) {
			want = max(want, Formula(served, o.ThrottleMs, p.Window))
		}
		d.Headroom += (want - served) * seconds
		d.Static += max(0, want-share) * seconds
	}
	return d
}
