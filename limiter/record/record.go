// Package record turns the limiter's plans and the applier's results into
// decision-ledger entries (package store), and explains an entry in plain
// words: why a project had the quota it had, and whom it lent to or
// borrowed from.
//
// It is the one place that knows both the limiter's and the store's types;
// limiter and store do not import each other. It must not import the
// collector, the detector, alerting or api.
package record

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/headroomhq/headroom/config"
	"github.com/headroomhq/headroom/limiter"
	"github.com/headroomhq/headroom/limiter/applier"
	"github.com/headroomhq/headroom/store"
)

// Outcomes recorded for decisions the applier did not see.
const (
	OutcomeHeld      = "held"      // stale or inconsistent data; the last-good quota stays
	OutcomeUnchanged = "unchanged" // the plan keeps the quota in force
	OutcomePlanned   = "planned"   // to be written, no applier result given
)

// Entries returns one ledger entry per decision of plan. entities maps a
// project to its quota entity (as Kafka tools print it); results are the
// applier's outcomes for the plan's changes, matched by project and
// direction.
func Entries(at time.Time, round int64, mode string, plan limiter.Plan, entities map[string]string, results []applier.Result) []store.LedgerEntry {
	type key struct {
		project string
		dir     config.Direction
	}
	byProject := make(map[key]*applier.Result, len(results))
	for i := range results {
		byProject[key{results[i].Project, results[i].Direction}] = &results[i]
	}
	out := make([]store.LedgerEntry, 0, len(plan.Decisions))
	for _, d := range plan.Decisions {
		e := store.LedgerEntry{
			At: at, Round: round, Group: plan.Group, Direction: plan.Direction.String(), Project: d.Project,
			Entity: entities[d.Project], Mode: mode,
			Before: d.Before, After: d.After, Ideal: d.Ideal, Target: d.Target, Share: d.Share,
			Observed: d.Observed, Rate: d.Rate, Demand: d.Demand, Forecast: d.Forecast, ThrottleMs: d.ThrottleMs,
			HotBroker: d.HotBroker, Note: d.Note,
			BorrowedFrom: transfers(d.BorrowedFrom), LentTo: transfers(d.LentTo),
		}
		for _, r := range d.Reasons {
			e.Reasons = append(e.Reasons, string(r))
		}
		held := d.Has(limiter.ReasonHeldMissingData) || d.Has(limiter.ReasonHeldBadInput)
		switch r, ok := byProject[key{d.Project, plan.Direction}]; {
		case ok:
			e.Outcome = string(r.Outcome)
			if r.Err != nil {
				e.Error = r.Err.Error()
			}
			if r.Outcome != applier.Written && r.Outcome != applier.Shadow && r.Outcome != applier.Unchanged {
				// What is in force is what Kafka kept, not the plan.
				e.After = r.InForce
			}
		case held && !d.Write:
			e.Outcome = OutcomeHeld
		case !d.Write:
			e.Outcome = OutcomeUnchanged
		default:
			e.Outcome = OutcomePlanned
		}
		out = append(out, e)
	}
	return out
}

func transfers(ts []limiter.Transfer) []store.LedgerTransfer {
	if len(ts) == 0 {
		return nil
	}
	out := make([]store.LedgerTransfer, len(ts))
	for i, t := range ts {
		out[i] = store.LedgerTransfer{Project: t.Project, Bytes: t.Bytes}
	}
	return out
}

var reasonText = map[string]string{
	string(limiter.ReasonWithinShare):        "what it asked for fits within its share",
	string(limiter.ReasonLentTo):             "it used less than its share, and lent the rest",
	string(limiter.ReasonBorrowedFrom):       "it wanted more than its share, and borrowed what others did not need",
	string(limiter.ReasonReclaimed):          "lenders took back their share, and borrowers are cut first",
	string(limiter.ReasonLimitedByCapacity):  "a broker it leads partitions on was full, so it got less than it asked for",
	string(limiter.ReasonCappedByCeiling):    "it asked for more than its ceiling",
	string(limiter.ReasonRaisedToFloor):      "it asked for less than its floor, which it always keeps",
	string(limiter.ReasonDemandFromThrottle): "it was throttled, so its demand was estimated from the throttle time",
	string(limiter.ReasonSizedByForecast):    "the forecast's upper bound was above its current demand",
	string(limiter.ReasonCutBelowDemand):     "its new quota is below its demand",
	string(limiter.ReasonHeldHysteresis):     "the change was too small to be worth a write",
	string(limiter.ReasonHeldMissingData):    "its data was missing or stale, so it kept its last good quota",
	string(limiter.ReasonHeldBadInput):       "its data was inconsistent, so it kept its last good quota",
	string(limiter.ReasonCutForSafety):       "its held quota was cut back to its share to keep a broker within safe capacity",
	string(limiter.ReasonNoQuotaKnown):       "no quota was known for it, so nothing was written",
}

var outcomeText = map[string]string{
	string(applier.Written):   "written to the cluster",
	string(applier.Unchanged): "unchanged: already in force",
	string(applier.Deferred):  "not written this round: over the write budget, or waiting for a cut to land",
	string(applier.Failed):    "not written: the cluster refused or did not answer, and the last good quota stayed",
	string(applier.Refused):   "not written: not a valid quota",
	string(applier.Shadow):    "not written: shadow mode",
	OutcomeHeld:               "held",
	OutcomePlanned:            "planned",
	// Ledger entries from before hysteresis became the allocator's alone
	// (limiter.ReasonHeldHysteresis) may still carry this outcome.
	"hysteresis": "not written: a small increase",
}

// Explain says in words why the entry's project had its quota.
func Explain(e store.LedgerEntry) string {
	var b strings.Builder
	fmt.Fprintf(&b, "At %s (round %d), project %s", e.At.UTC().Format(time.RFC3339), e.Round, e.Project)
	if e.Entity != "" {
		fmt.Fprintf(&b, " (%s)", e.Entity)
	}
	fmt.Fprintf(&b, " in group %s had a %s quota of %s per broker; its share is %s.\n", e.Group, e.Direction, rate(e.After), rate(e.Share))
	if !same(e.Before, e.After) {
		fmt.Fprintf(&b, "It was %s before this round.", rate(e.Before))
	} else {
		b.WriteString("It did not change this round.")
	}
	if o, ok := outcomeText[e.Outcome]; ok {
		fmt.Fprintf(&b, " Outcome (%s mode): %s.\n", e.Mode, o)
	} else {
		fmt.Fprintf(&b, " Outcome (%s mode): %s.\n", e.Mode, e.Outcome)
	}
	if e.Error != "" {
		fmt.Fprintf(&b, "Error: %s.\n", e.Error)
	}
	if !math.IsNaN(e.Demand) {
		fmt.Fprintf(&b, "Its demand was %s on its hottest broker (%d): observed %s, denoised %s", rate(e.Demand), e.HotBroker, rate(e.Observed), rate(e.Rate))
		if e.ThrottleMs > 0 {
			fmt.Fprintf(&b, ", throttled %.0f ms", e.ThrottleMs)
		}
		if e.Forecast > 0 {
			fmt.Fprintf(&b, "; forecast upper bound %s", rate(e.Forecast))
		}
		fmt.Fprintf(&b, ". It asked for %s.\n", rate(e.Target))
	}
	if len(e.BorrowedFrom) > 0 {
		fmt.Fprintf(&b, "It borrowed %s: %s.\n", rate(e.After-e.Share), list(e.BorrowedFrom))
	}
	if len(e.LentTo) > 0 {
		fmt.Fprintf(&b, "It lent %s: %s.\n", rate(e.Share-e.After), list(e.LentTo))
	}
	if len(e.Reasons) > 0 {
		b.WriteString("Why:\n")
		for _, r := range e.Reasons {
			t, ok := reasonText[r]
			if !ok {
				t = "(no description)"
			}
			fmt.Fprintf(&b, "  - %s: %s\n", r, t)
		}
	}
	if e.Note != "" {
		fmt.Fprintf(&b, "Note: %s.\n", e.Note)
	}
	return b.String()
}

func list(ts []store.LedgerTransfer) string {
	parts := make([]string, len(ts))
	for i, t := range ts {
		parts[i] = fmt.Sprintf("%s %s", t.Project, rate(t.Bytes))
	}
	return strings.Join(parts, ", ")
}

func same(a, b float64) bool {
	return a == b || (math.IsNaN(a) && math.IsNaN(b)) || math.Abs(a-b) <= 1e-9*math.Max(math.Abs(a), math.Abs(b))
}

// rate prints bytes/s in binary units.
func rate(v float64) string {
	if math.IsNaN(v) {
		return "none"
	}
	units := []string{"B/s", "KiB/s", "MiB/s", "GiB/s", "TiB/s"}
	u := 0
	for math.Abs(v) >= 1024 && u < len(units)-1 {
		v /= 1024
		u++
	}
	return fmt.Sprintf("%.1f %s", v, units[u])
}
