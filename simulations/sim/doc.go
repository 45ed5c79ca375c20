// Package sim is Headroom's discrete-time cluster simulator: the judge of
// every allocation policy.
//
// It replays a scenario (package simulations/scenario) round by round. In
// each round and direction every project has a demand, split over the
// brokers that lead its partitions by the placement weights. Quotas are
// enforced the way Kafka enforces them: one quota per client-quota entity,
// applied separately on every broker, so on broker b a project is served
// min(demand on b, quota). A policy observes what the cluster shows at the
// end of round t (noisy byte rates per broker and the throttle time Kafka
// would report) and returns quotas that take effect from round t+delay.
//
// The package owns the model (Run), the Policy interface and its registry,
// the baselines (static, doorman-fair, doorman-proportional, pulsar-rg), the
// perfect-foresight LP oracle and the decision-quality report (figures,
// Markdown, JSON, SVG plots).
//
// It must not import the limiter, the lab, the collector or any component
// that talks to a cluster: the Headroom policy adapts the limiter to this
// package from its own file, not the other way round.
package sim
