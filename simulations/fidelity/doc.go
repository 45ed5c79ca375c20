// Package fidelity holds the test that the simulator's judgement can be
// trusted: the same scenario, at lab scale, replayed both by the simulator
// (package sim, under its model of Kafka's enforcement) and by Headroom's
// daemon on a lab cluster (package lab: the real Kafka protocol, Kafka's
// windowed quota enforcement with KIP-219 muting, real franz-go clients),
// must throttle about the same bytes and plan about the same quotas.
//
// The test runs with -fidelity (go test -v ./simulations/fidelity/ -args
// -fidelity; about five minutes of real traffic), not in make test: it
// does not yet pass on every run, and a test that fails for reasons
// outside the code would stop every change from landing. Each replay
// first plays two of Kafka's windows (22 rounds) of the scenario's demand
// before the rounds it compares, in both the simulator and the lab: both
// start with every window empty, a state no running cluster is in, and
// the windowed rates of the first window depend on when each lab producer
// sent its first batch. Figures of the rounds compared, two runs:
// throttled bytes vivo 0.39% of demand in the simulator against 0.21% on
// the lab (before the warm-up was added), then 0.24% against 0.57%, over
// the 0.2% of demand allowed by one round (a borrower whose quota in force
// was above its demand still throttled for 0.6 MB by a real client's
// burst); hot-broker 30.9% against 28.4%, then 23.6% against 23.7%. The
// quotas agree within 15% on 97.5–99.2% of rounds in the first run, and
// on 99.2% (vivo) but 79.8–85.7% (hot-broker) in the second. In that
// second run a lender (hot-broker's audit) whose load generator dipped for
// a round was cut to the dip plus its spare, below the rate Kafka's
// window still held; its demand came back, it was throttled, read as
// muted and given its whole share back, which cut both borrowers for ten
// rounds. A lender's spare now sits above the larger of its demand and
// its window's rate (package limiter), and in the third run audit was
// never throttled and agreed on 100% of rounds, orders and payments on
// 91.6%, throttled bytes 25.0% against 22.4% (a fourth run: the same
// quotas, 25.0% against 23.0%). Vivo's quotas agreed on 79.0% and 84.9%
// of rounds in the third run and 79.0% and 84.0% in the fourth, its
// throttled bytes 0.24% against 0.80% and 0.56%. In both, a's rising
// demand took the lab's reported rate 2% over its share (1.27 against
// 1.25 MB/s) before any throttle; in the second run it stayed 1% under
// (1.235 MB/s) and a was throttled the round after, as in the simulator.
// On that reading the lab borrowed for a, to 1.70 MB/s, and cut b to make
// room, while the simulator waited for the throttle a round later and
// doubled a to 2.0 MB/s. Both then held their quotas by hysteresis for
// six rounds, and the pool released them at different rounds later in
// the day. A real client's bursts above a quota that was above its
// demand also throttled it (Kafka's window holds the burst): the lab's
// throttled bytes.
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
