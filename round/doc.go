// Package round runs Headroom's control round end to end. Each round it
//
//  1. scrapes every broker and host target with the collector;
//  2. reads partition placement and consumer lag through the Kafka admin API;
//  3. turns what the cluster shows into demand estimates and hands them to
//     the detector, which denoises them and forecasts an upper bound;
//  4. builds each resource group's limiter state from the configuration with
//     the operators' overrides applied, the quotas the cluster holds, the
//     estimates and the forecasts;
//  5. plans, writes and records the round through limiter/control;
//  6. hands the round's outcome (snapshot, signals, events, plans, write
//     results) to whoever listens: the alert rules (through round/alertfeed,
//     which turns it into their observations), the API's read model and
//     the terminal view.
//
// It owns the adapters between the stages' types, and nothing else: the
// collector knows nothing of the detector, the detector nothing of the
// limiter, and this package is the only one that imports all three.
//
// # Demand and denoising
//
// Each project's demand on each broker, and the bound the allocator sizes
// it by, come from the demand stage (limiter/demand), which owns every rule
// that corrects for Kafka's enforcement (throttle formula, muting, graze,
// confirm, spread, window memory); the simulator's headroom policy and
// what-if call the same stage. The round feeds it the served rate, the
// throttle time and the quota in force per broker, and the detector's
// forecast; the detector sees the sum of the estimates per project and
// direction. The stage's per-project memory lives in the Loop and is
// started afresh when a project's placement changes.
//
// # Missing data
//
// A broker whose metrics target failed this round, or a project whose rate
// on one of its brokers is not fresh, is marked stale and the allocator
// keeps its last-good quota. A cluster whose placement cannot be read uses
// the last placement it returned; before the first one, its projects have
// no placement and are held.
package round
