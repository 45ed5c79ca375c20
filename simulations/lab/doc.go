// Package lab runs Headroom's lab cluster: N in-process brokers that speak
// the real Kafka protocol (franz-go kfake) and add what kfake leaves out and
// a real broker does:
//
//   - the topics each project owns, with leaders spread over the brokers and
//     optional skew (a hot broker);
//   - Kafka's client-quota enforcement, as a 2.0+ broker does it (KIP-219):
//     per broker and per quota entity, byte rates over quota.window.num
//     samples of quota.window.size (11 × 1 s by default), throttle time
//     (observed − quota) / quota × window, the response sent at once with
//     throttle_time_ms set and the connection then muted for that time;
//   - its own accounting of what enforcement did to each entity, per
//     direction: throttle time, fetch bytes refused, produce bytes delayed
//     past the window (Enforcement, and headroom_lab_* counters);
//   - the quotas themselves are the ones set through the Kafka API
//     (AlterClientQuotas, stored by kfake), validated as Kafka validates them
//     and resolved with Kafka's precedence;
//   - one /metrics endpoint per broker, named as jmx_exporter's kafka-2_0_0
//     rules name a real broker's MBeans;
//   - load generators: real franz-go producers and consumers per project whose
//     demand follows a scenario (package simulations/scenario).
//
// # How requests are mapped to projects
//
// kfake's control hooks (ControlKey, KeepControl, CurrentNode), which keep
// the topic metrics, see the decoded request and the broker that received
// it, but not the request header, so not the client-id. The lab therefore
// attributes traffic to a project by topic ownership, on the connection
// too: every topic belongs to exactly one project,
// and a project has exactly one quota entity (user, client-id or both). A
// produce request is charged to the owner of its topics; a fetch response to
// the owner of the topics it carries. The load generators use the project's
// client-id, so what Headroom reads back from DescribeClientQuotas and the
// metrics is what a real broker would show for the same traffic. Bytes of a
// topic no project owns (CreateTopic: a mirror's, say) are charged to the
// client id the request carries, read from its header on the connection.
//
// Once any quota of a type (produce, fetch) has been set, Kafka records
// every client's bytes of that type in a sensor of its own, with an
// unlimited bound for a client no quota applies to; so does the lab, with
// Kafka's tags for such a sensor, and exports its byte rate. This is how a
// client Headroom must never throttle (an exempt entity) is measured.
//
// # Where enforcement happens
//
// On the connection (wire.go), where a broker's socket server does it.
// The lab wraps each broker's listener and follows both streams. A produce
// request is decoded as it is read; when kfake writes its response, the
// request's record bytes are charged to the owners of its topics and the
// response is rewritten with the throttle time. A fetch response is
// decoded as kfake writes it and its record bytes charged; a throttled
// fetch is answered without records, and its bytes are taken back from the
// sensor, as Kafka answers it. For a client that knows KIP-219 (produce
// v6+, fetch v8+) the throttled response is written at once and the write
// then blocks for the throttle time: kfake submits a connection's next
// request only once the previous response's write has returned, so the
// connection is muted, as Kafka's socket server mutes the channel. An
// older client's response is held for the throttle time instead. A
// throttled produce request with acks=0, which has no response, mutes the
// connection's next read. A kfake hook on Fetch caps a consumer's fetch at
// what its quota allows in the window, as Kafka caps it. Close ends every
// mute at once.
//
// # Throttled bytes
//
// A broker cannot see demand a muted client never sent; what it can
// account is what its enforcement did. Fetch: the bytes of every refused
// response (Enforcement.Refused). Produce: Kafka appends a throttled
// request, and its throttle time is how long the client must stay silent
// for the window to absorb the bytes beyond the quota's allowance, (rate −
// quota) × window; those bytes, up to the request's own, are delayed past
// the window (Enforcement.Delayed).
//
// The package must not import Headroom's control plane (collector, detector,
// limiter, alerting, api): it stands in for the cluster Headroom manages.
package lab
