// Package limiter owns Headroom's quota decisions: the allocation algorithm,
// the pure function Allocate, which turns one resource group's state in one
// direction into a Plan with reasons. Its subpackages write plans to the
// cluster (applier: kadm with validation, a write budget, hysteresis,
// retries, read-back and a last-good hold), turn them into ledger entries
// and explain them (record), and run a whole round (control).
//
// Allocate implements the limiter's contract (see DESIGN.md): safety per
// broker, floors and ceilings, reclaim within one round with borrowers cut
// first, weighted max-min borrowing up to the forecast's upper bound,
// stability under steady demand, demand estimated from throttle time, and
// a hold on missing data.
//
// The package defines its own input types. It must not import the
// collector, the detector, alerting or api: a wiring step adapts their
// outputs to State. It imports no I/O at all (no kadm, no store), so that
// the simulator can run it as a policy.
package limiter
