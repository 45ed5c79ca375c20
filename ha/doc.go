// Package ha lets two or more `headroom serve` replicas share one cluster
// with exactly one of them writing quotas, through Kafka itself and nothing
// else:
//
//   - Election. Every replica joins one consumer group (franz-go kgo group
//     membership) on a control topic of one partition. The member the group
//     assigns that partition is the active replica; the group generation in
//     which it was assigned is its epoch. The others are warm standbys.
//   - Fencing. The active replica holds a transactional producer with a
//     fixed transactional id. On taking over it commits a takeover record,
//     whose InitProducerID fences every earlier holder of the id; before each
//     batch of quota writes it commits an intent record (epoch, round, plan
//     digest). A replica whose commit fails is fenced and stops writing at
//     once.
//   - Lease. The active replica confirms its membership with the group
//     coordinator (a Heartbeat with its member id and generation) every
//     quarter lease; a permit to write lasts until the lease of the last
//     confirmation sent runs out, and never longer than a lease after the
//     intent's commit was sent. The lease is shorter than the session
//     timeout, so a replica cut off from the cluster stops writing before
//     the group can elect another one. A new leader waits one lease after its
//     takeover before its first write, so that a predecessor that committed
//     an intent just before the takeover has run out of permit.
//
// The package owns election, fencing and the write permit only. It must not
// import round, the limiter, the store, api or daemon: the daemon asks it for
// a Permit before every batch of writes.
package ha
