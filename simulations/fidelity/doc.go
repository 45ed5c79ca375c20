// Package fidelity holds the test that the simulator's judgement can be
// trusted: the same scenario, at lab scale, replayed both by the simulator
// (package sim, under its model of Kafka's enforcement) and by Headroom's
// daemon on a lab cluster (package lab: the real Kafka protocol, Kafka's
// windowed quota enforcement with KIP-219 muting, real franz-go clients),
// must throttle about the same bytes and plan about the same quotas.
//
// The test runs with -fidelity (go test -v ./simulations/fidelity/ -args
// -fidelity; about four minutes of real traffic), not in make test. The
// throttled bytes agree on every run: vivo 0.39% of demand in the
// simulator against 0.41% and 0.29% on the lab in two runs, hot-broker
// 30.8% and 30.9% against 29.1% and 28.8%. The quotas agree within 15% on
// 87–98% of rounds depending on the run and project (90.8, 91.6; 97.5,
// 96.6, 96.6 in one run, 87.4, 92.4; 89.9, 96.6, 89.1 in the next), not on
// the 90% it asserts every time: the later of those two runs would have
// failed make test for reasons outside the model.
//
// Where the two part is the timing of a write, not its size. When vivo's
// peaks hand over, the lab's windowed rate for the project coming back
// lags its demand by a round, the pool holds its quota (a lender's
// pool increase waits until its claim nears the quota in force), and it
// is throttled before it is raised; the simulator's client, in step with
// its demand, is raised a round earlier and never throttled. Each then
// holds its quota by hysteresis for ten rounds or more, so a single
// round's difference reads as ten rounds apart. Earlier runs also showed a
// real client's lumpy traffic (a load generator catching up after a stall
// on a busy machine) grazing a quota set within a few percent of its
// demand, which Kafka's throttle-time sensor keeps reporting for its whole
// window and the demand stage reads as a muted client; the simulator's
// fluid client shows none.
//
// Two findings of this test are in the simulator's model: Kafka's
// throttle-time sensor averages only throttled requests over its window
// (a client muted for a whole round still shows the throttle that muted
// it), and the scenario's enforcement block must say the clients' request
// size (64 KiB batches here). One is not modelled: a real producer's buffer
// is shared by all its brokers, so a throttled broker's backlog that fills
// it makes the client drop data for every broker; the simulator keeps one
// buffer per client and broker, and the test's producers are given a
// buffer no run fills.
//
// The package has no code of its own besides this comment; it must not be
// imported.
package fidelity
