// Package sim is Headroom's discrete-time cluster simulator: the judge of
// every allocation policy.
//
// It replays a scenario (package simulations/scenario) round by round. In
// each round and direction every project has a demand, split over the
// brokers that lead its partitions by the placement weights. A policy
// observes what a live round observes at the end of round t (the rate and
// throttle time each broker reports, with the scenario's observation noise)
// and returns one quota per project, applied on every broker it is placed
// on, which takes effect from round t+control_delay.
//
// # Kafka's enforcement
//
// Quotas are enforced as Kafka enforces them (KIP-13, KIP-219), per broker
// and client-quota entity, with the window of the scenario's enforcement
// block (Kafka's defaults: quota.window.num = 11 samples of
// quota.window.size.seconds = 1 s). Time within a round is stepped one
// sample at a time:
//
//   - the broker keeps the bytes it accepted per sample; the windowed rate
//     is their sum over the last window_samples samples divided by the
//     window's length. A request that takes it above the quota earns the
//     throttle time (windowed rate − quota) / quota × window length, i.e.
//     the bytes the window holds above the quota divided by the quota;
//   - the broker accepts a request whole and then mutes the client for the
//     throttle time (KIP-219); a muted client sends nothing. So within a
//     step a client offering more than the window has room for gets that
//     room plus the one request that crosses, and a saturated client runs
//     at about its quota, each request throttled by about request/quota: a
//     small throttle time whatever its demand;
//   - a client that cannot send keeps what it could not send in a buffer
//     (client_buffer per client and broker, 32 MiB by default) and offers
//     it again first; beyond the buffer it drops new data;
//   - the broker reports, at the end of the round, the windowed rate and
//     the mean throttle time of the throttled requests in the window
//     (Kafka's byte-rate and throttle-time sensors: the latter records
//     only throttled requests, so a client muted for the whole round
//     still shows the throttle that muted it), to which observation noise
//     is applied.
//
// A quota cut below what the window still remembers throttles at once,
// even when the client's demand is below the new quota: the window, not
// the demand, decides.
//
// Throttled bytes are a round's demand beyond what the brokers accepted
// from the client in that round, the bytes it had waiting in its buffer
// included: what the client could not send is throttled once, in the
// round it was offered, and not again when it goes later. The figure
// depends on the bytes accepted only: neither a quota that moves round to
// round nor the round's length changes it. (Charging each round for its
// own bytes sent late would charge a client held at its quota the bytes
// its buffer carries over, every round: more for shorter rounds, less for
// a quota that jitters.) What Kafka's window lets a client send above its
// quota in a round after it used less is reported apart as window credit;
// the references cannot have it. Overload is judged on the load
// the brokers' windowed rates show at the end of a round, above safe
// capacity by more than one request per client and window.
//
// Stepping is needed only near the quota. A pair (project, broker) that
// starts a round unmuted, with no backlog, demand at or below its quota
// and no sample above the quota in its window cannot be throttled in the
// round; it takes a closed form, and its samples are written only when it
// next needs stepping. Runs are deterministic per seed: policies share
// nothing but the demand and run in parallel.
//
// # References
//
// Three references bound what policies can achieve, from the loosest:
// oracle (perfect foresight, each broker's capacity multiplexed freely
// between its projects: no quota plan can serve like it), oracle-kafka
// (perfect foresight, one quota per project on every broker under strict
// safety: an LP) and oracle-causal (the round's demand without its noise
// draw and the noise's distribution, one quota per project under strict
// safety minimising expected throttling). The references are served
// min(demand, quota) per broker and round, without the enforcement model:
// they bound what a plan of quotas can achieve, so that their order holds
// exactly (oracle ≤ oracle-kafka ≤ oracle-causal, as each one's plan is a
// feasible point of the previous one's program); how well a policy copes
// with Kafka's window, its muting and the client's backlog is part of
// what it is judged on.
//
// The package owns the model (Run), the Policy interface and its registry,
// the baselines (static, doorman-fair, doorman-proportional, pulsar-rg), the
// references, the targets policies are held to on the public suite
// (Targets) and the decision-quality report (figures, Markdown, JSON, SVG
// plots).
//
// It must not import the lab, the collector or any component that talks to
// a cluster. Of the limiter it imports only what is pure: the Headroom
// policy adapts the limiter, its demand stage and the detector to this
// package from its own file (policy_headroom.go), and the baselines take
// Kafka's throttle formula from the demand stage, where it lives once.
package sim
