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
//     results) to whoever listens: the alert rules, the API's read model and
//     the terminal view.
//
// It owns the adapters between the stages' types, and nothing else: the
// collector knows nothing of the detector, the detector nothing of the
// limiter, and this package is the only one that imports all three.
//
// # Demand and denoising
//
// Kafka caps what a throttled client is served at its quota, so the served
// rate understates demand. On each broker the estimate is the larger of the
// served rate and quota × (1 + throttle/window), Kafka's throttle formula
// solved for demand. That formula holds at the onset of throttling only: a
// muted client sends at about its quota, so its throttle time stays small
// however much more it wants. A muted client (served at about its quota, or
// throttled for a large part of the window) is therefore also credited: a
// lender below its share with its whole share, a borrower with ProbeStep
// more than its quota. A client that only grazed its quota (a small throttle
// time while served well below the quota: one burst crossed it) gets
// Kafka's formula alone, so that a lender's burst does not take back its
// whole share from a borrower using it. The detector sees the sum of the
// estimates per project and direction.
//
// The allocator trusts an estimate at once up to the larger of the project's
// share and the detector's upper bound: a lender reclaiming its share is
// served in the very next round, and an expected rise is met at once. An
// unthrottled estimate above both must be seen in ConfirmRounds rounds in a
// row before it counts, so a one-round burst that fits the quota never
// moves it. Throttling needs no confirming: Kafka measures it over its
// quota window, which already smooths a burst shorter than the window.
//
// # Missing data
//
// A broker whose metrics target failed this round, or a project whose rate
// on one of its brokers is not fresh, is marked stale and the allocator
// keeps its last-good quota. A cluster whose placement cannot be read uses
// the last placement it returned; before the first one, its projects have
// no placement and are held.
package round
