// Package lab runs Headroom's lab cluster: N in-process brokers that speak
// the real Kafka protocol (franz-go kfake) and add what kfake leaves out and
// a real broker does:
//
//   - the topics each project owns, with leaders spread over the brokers and
//     optional skew (a hot broker);
//   - Kafka's client-quota enforcement: per broker and per quota entity, byte
//     rates over 11 one-second samples, throttle time
//     (observed − quota) / quota × window, and a throttled request delayed by
//     that time;
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
// kfake's control hooks (ControlKey, KeepControl, SleepControl, CurrentNode)
// see the decoded request and the broker that received it, but not the
// request header, so not the client-id. The lab therefore attributes traffic
// to a project by topic ownership: every topic belongs to exactly one project,
// and a project has exactly one quota entity (user, client-id or both). A
// produce request is charged to the owner of its topics; a fetch response to
// the owner of the topics it carries. The load generators use the project's
// client-id, so what Headroom reads back from DescribeClientQuotas and the
// metrics is what a real broker would show for the same traffic.
//
// # Where enforcement happens
//
// Produce: a kfake control hook on Produce records the request's record bytes
// into the entity's sensor on the receiving broker, computes the throttle
// time, and sleeps the request (SleepControl) for that long before kfake
// appends it. Fetch: the bytes of a fetch response are only known once kfake
// has built it, so the lab wraps each broker's listener, decodes fetch
// responses as they are written, records their record bytes, and holds the
// response for the throttle time. Both are Kafka's pre-KIP-219 behaviour (the
// response is delayed); the ThrottleMillis field of the response stays 0,
// because kfake builds the response.
//
// The package must not import Headroom's control plane (collector, detector,
// limiter, alerting, api): it stands in for the cluster Headroom manages.
package lab
