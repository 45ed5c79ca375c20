// Package limiter owns Headroom's quota decisions: the allocation algorithm,
// the pure function Allocate, which turns one resource group's state in one
// direction into a Plan with reasons. Its subpackages write plans to the
// cluster (applier: kadm with validation, a write budget, retries,
// read-back and a last-good hold), turn them into ledger entries
// and explain them (record), and run a whole round (control).
//
// Allocate implements the limiter's contract (see DESIGN.md): safety per
// broker, floors and ceilings, reclaim within one round with borrowers cut
// first, weighted max-min borrowing up to the forecast's upper bound,
// stability under steady demand, demand estimated from throttle time, and
// a hold on missing data.
//
// Hysteresis is the allocator's alone; the applier writes every change it
// is given. Only the allocator knows what a change is for (a cut below
// demand, a lender reclaiming its base, a move only the pool makes) and
// whether a quota kept in force still fits every broker; the simulator and
// whatif run the allocator without an applier, so a second band in the
// applier would make the live policy differ from the one they measure; and
// where a round turns hysteresis off (a burst, an operator's pin) a band in
// the applier would still hold the change.
//
// The package defines its own input types; of Headroom's packages it
// imports only config, for the Direction every stage shares. It must not
// import the collector, the detector, alerting or api: a wiring step adapts
// their outputs to State. It imports no I/O at all (no kadm, no store), so
// that the simulator can run it as a policy.
package limiter
