package limiter

import (
	"math"
	"time"

	"github.com/headroomhq/headroom/config"
)

// DefaultThrottleWindow is Kafka's default quota window: 11 samples of one
// second (quota.window.num × quota.window.size.seconds).
const DefaultThrottleWindow = 11 * time.Second

// DefaultMinQuota is the smallest quota Allocate hands out when Options
// leave it unset. Kafka rejects a zero quota.
const DefaultMinQuota = 1024.0

// State is one resource group in one direction, as one round sees it. All
// rates are bytes/s per broker, as Kafka enforces them.
type State struct {
	Group     string
	Direction config.Direction
	// Margin is the share of each broker's capacity that may be handed
	// out, in (0, 1].
	Margin   float64
	Brokers  []Broker
	Projects []Project
	Options  Options
}

// Broker is one broker of the group.
type Broker struct {
	ID       int32
	Capacity float64
	// Reserved is traffic on the broker that Headroom never throttles (a
	// cluster's exempt entities, measured): it comes off the safe capacity,
	// which is margin × Capacity − Reserved and never below zero.
	Reserved float64
	// Stale means the broker's metrics are missing or old; every project
	// placed on it keeps its last-good quota.
	Stale bool
}

// Tier is a project's priority when capacity is short. The zero value is
// Standard.
type Tier uint8

// Tiers. Within each fill of the allocator (the reclaimed bases, what
// quota windows hold, the bases, demand within the targets, the targets)
// critical projects are filled first, then standard, then best-effort; so
// when a lender reclaims or a broker runs short, best-effort borrowers are
// cut first and critical ones last. A lender's reclaim still comes before
// any tier's borrowing.
const (
	Standard Tier = iota
	Critical
	BestEffort
)

func (t Tier) String() string {
	switch t {
	case Critical:
		return "critical"
	case BestEffort:
		return "best-effort"
	}
	return "standard"
}

// ParseTier is the tier a configuration or scenario names ("critical",
// "standard", "best-effort"); anything else, the empty string included, is
// standard: both validate the name before it gets here.
func ParseTier(s string) Tier {
	switch s {
	case "critical":
		return Critical
	case "best-effort":
		return BestEffort
	}
	return Standard
}

// rank orders tiers for the fills: critical 0, standard 1, best-effort 2.
func (t Tier) rank() int {
	switch t {
	case Critical:
		return 0
	case BestEffort:
		return 2
	}
	return 1
}

// Project is one project's entitlement and signals in this direction.
type Project struct {
	Name                          string
	Share, Floor, Ceiling, Weight float64
	// Tier is the project's priority when capacity is short.
	Tier Tier
	// Quota is the quota in force (the last good value written or read
	// back). Zero or NaN means none is known.
	Quota float64
	// Stale means the project's signals are missing or old.
	Stale bool
	// Owed is what hysteresis has held back from the project while its
	// demand was above its quota in force: the held increases, each
	// relative to that quota, summed over the rounds since one was last
	// written. It is the previous plan's Decision.Owed; zero for a project
	// not planned before.
	Owed float64
	// Loads lists the brokers the project leads partitions on, with the
	// signals measured there. A project with no loads has unknown
	// placement and is held.
	Loads []Load
}

// Load is a project's signal on one broker.
type Load struct {
	// Broker indexes State.Brokers.
	Broker int
	// Observed is the raw served rate, recorded only.
	Observed float64
	// Rate is the demand estimate the allocator works from (the demand
	// stage's, never below the served rate).
	Rate float64
	// ThrottleMs is the throttle time Kafka reports for the entity here,
	// recorded only: the demand stage (limiter/demand) has already turned
	// it into Rate.
	ThrottleMs float64
	// FromThrottle says Rate was raised above the served rate because the
	// client is throttled.
	FromThrottle bool
	// Measured is the part of Rate Kafka measured (the served rate or the
	// throttle formula), without the demand stage's guesses (a muted
	// client's probe step or a muted lender's share). A lender's measured
	// demand is reclaimed before any borrower's window hold, the guessed
	// rest after it. Zero means Rate was measured.
	Measured float64
	// Hold is the rate the broker's quota window still holds for the
	// entity (the rate it reports). A quota cut below it throttles the
	// client even when its demand is now lower, so Allocate cuts below it
	// only for a lender's base. Zero means nothing is held.
	Hold float64
	// Forecast is the upper bound of the short-term demand forecast on
	// this broker; zero means no forecast.
	Forecast float64
}

// Options tune Allocate. The zero value means the defaults.
type Options struct {
	// Overcommit lets the quotas on a broker sum above margin × capacity
	// as long as the forecast load fits: each project counts on a broker
	// in proportion to its forecast there relative to its hottest broker.
	// Strict mode (false) counts every quota in full on every broker the
	// project is placed on.
	Overcommit bool
	// Hysteresis is the relative change below which the quota in force is
	// kept. A cut below demand is always made. Default 0.
	Hysteresis float64
	// Headroom is the spare a project's target carries above its
	// estimated demand when it has no forecast, e.g. 0.1. Default 0. With
	// a forecast, its upper bound sizes the spare instead.
	Headroom float64
	// LenderSpare is the spare above its estimated demand, or above the
	// rate its quota window holds (Load.Hold) where that is larger, that
	// a project keeps, within its share, before anyone borrows. Default 0.
	LenderSpare float64
	// ThrottleWindow is Kafka's quota window. Default 11s.
	ThrottleWindow time.Duration
	// MinQuota is the smallest quota handed out; it acts as a floor.
	// Default 1024.
	MinQuota float64
}

func (o Options) withDefaults() Options {
	if o.ThrottleWindow <= 0 {
		o.ThrottleWindow = DefaultThrottleWindow
	}
	if !(o.MinQuota > 0) || math.IsInf(o.MinQuota, 0) {
		o.MinQuota = DefaultMinQuota
	}
	if !(o.Hysteresis >= 0) || o.Hysteresis >= 1 {
		o.Hysteresis = 0
	}
	if !(o.Headroom >= 0) || math.IsInf(o.Headroom, 0) {
		o.Headroom = 0
	}
	return o
}

// Reason says why a decision came out as it did.
type Reason string

// Reasons. Several may apply to one decision.
const (
	// ReasonWithinShare: the project's target fits in its share.
	ReasonWithinShare Reason = "within_share"
	// ReasonLentTo: the project uses less than its share and others
	// borrow what it does not use.
	ReasonLentTo Reason = "lent_to"
	// ReasonBorrowedFrom: the quota is above the share, borrowed from
	// lenders (or from capacity no share reserves).
	ReasonBorrowedFrom Reason = "borrowed_from"
	// ReasonReclaimed: a borrower was cut because lenders took back their
	// share.
	ReasonReclaimed Reason = "reclaimed"
	// ReasonLimitedByCapacity: the target did not fit; a broker is full.
	ReasonLimitedByCapacity Reason = "limited_by_capacity"
	// ReasonCappedByCeiling: the target was above the ceiling.
	ReasonCappedByCeiling Reason = "capped_by_ceiling"
	// ReasonRaisedToFloor: the target was below the floor.
	ReasonRaisedToFloor Reason = "raised_to_floor"
	// ReasonDemandFromThrottle: the project was throttled, so its demand
	// was estimated from the throttle time.
	ReasonDemandFromThrottle Reason = "demand_from_throttle"
	// ReasonSizedByForecast: the forecast's upper bound set the target.
	ReasonSizedByForecast Reason = "sized_by_forecast"
	// ReasonCutBelowDemand: the new quota is below the estimated demand.
	ReasonCutBelowDemand Reason = "cut_below_demand"
	// ReasonHeldHysteresis: the change was too small to write.
	ReasonHeldHysteresis Reason = "held_hysteresis"
	// ReasonHeldMissingData: stale project or broker data; the last-good
	// quota is kept.
	ReasonHeldMissingData Reason = "held_missing_data"
	// ReasonHeldBadInput: inconsistent input (NaN, negative, unknown
	// broker, missing placement); the last-good quota is kept.
	ReasonHeldBadInput Reason = "held_bad_input"
	// ReasonCutForSafety: a held quota above the share was cut to the
	// share because the broker could not otherwise fit the others' shares.
	ReasonCutForSafety Reason = "cut_for_safety"
	// ReasonNoQuotaKnown: nothing is in force and the data is missing;
	// nothing is written.
	ReasonNoQuotaKnown Reason = "no_quota_known"
)

// Unreserved names, in transfers, capacity that no project's share
// reserves; Overcommitted names capacity lent beyond margin × capacity in
// overcommit mode.
const (
	Unreserved    = "(unreserved)"
	Overcommitted = "(overcommit)"
	Others        = "(others)"
)

// Transfer is an amount lent or borrowed, bytes/s per broker.
type Transfer struct {
	Project string
	Bytes   float64
}

// Plan is Allocate's output for one group and direction.
type Plan struct {
	Group     string
	Direction config.Direction
	// Decisions has one entry per project, in State.Projects order.
	Decisions []Decision
	// Brokers has the committed load per broker after the plan.
	Brokers []BrokerLoad
}

// BrokerLoad is one broker's budget after the plan.
type BrokerLoad struct {
	ID int32
	// Safe is margin × capacity less Reserved.
	Safe float64
	// Reserved is what the broker keeps for traffic Headroom never
	// throttles (Broker.Reserved), when it is a rate.
	Reserved float64
	// Committed is Σ quota × coefficient of the projects placed on the
	// broker (the coefficient is 1 in strict mode).
	Committed float64
	// Infeasible means the floors and held quotas alone exceed Safe.
	Infeasible bool
}

// Decision is one project's quota for the round and why.
type Decision struct {
	Project string
	// Before is the quota in force; After the planned quota.
	Before, After float64
	// Ideal is the allocation before hysteresis and holds.
	Ideal float64
	// Write says After must be written (it differs from Before).
	Write bool
	// Inputs at the project's hottest broker.
	HotBroker                                    int32
	Observed, Rate, ThrottleMs, Forecast, Demand float64
	// Target is what the project asked for: demand plus headroom, or the
	// forecast's upper bound, within floor and ceiling.
	Target  float64
	Share   float64
	Reasons []Reason
	// BorrowedFrom lists lenders for a borrower, LentTo borrowers for a
	// lender, largest first, on the project's hottest broker.
	BorrowedFrom, LentTo []Transfer
	// Note explains holds and bad input in words.
	Note string
	// Owed is the next round's Project.Owed: what stays held back from
	// the project, zero once its increase is written.
	Owed float64
}

// Has reports whether the decision carries reason r.
func (d *Decision) Has(r Reason) bool {
	for _, x := range d.Reasons {
		if x == r {
			return true
		}
	}
	return false
}
