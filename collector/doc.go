// Package collector is Headroom's eyes. It scrapes what Kafka-compatible
// brokers and their hosts expose (static targets, and targets found by
// Prometheus service discovery: file_sd, dns_sd, kubernetes_sd and
// static_configs, relabelled to broker ids), maps each exposition profile (kafka-jmx, kafka-strimzi,
// kafka-confluent, redpanda, node, kminion, kafka-exporter) onto canonical
// points, turns counters into rates, and assembles one Snapshot per round.
//
// Flow: Scraper fetches and parses pages → a Profile maps samples to Points →
// Rater turns counter Points into per-second rates → Assemble builds the
// Snapshot with project ownership, staleness and missing markers.
//
// Subpackages: kafkaadmin reads placement and consumer lag through the Kafka
// admin API (kadm); promapi reads the same canonical points from a
// Prometheus-compatible HTTP API through PromQL.
//
// The collector must not import the detector, the limiter or any later
// stage: it only produces Snapshots. It imports config for its settings.
package collector
