package collector

import (
	"fmt"
	"strings"

	"github.com/headroomhq/headroom/config"
)

// Query is the PromQL form of one canonical series of a profile. Its
// result is already a rate (or a gauge): points built from it are never
// rated again. Results are grouped by the "instance" label, which must
// match the target's host:port.
type Query struct {
	Kind Kind
	// Dir is the fixed direction, unless DirLabel decides it.
	Dir config.Direction
	// Expr is the PromQL expression, with the rate window filled in.
	Expr string
	// DirLabel and DirValues map a label value to a direction.
	DirLabel  string
	DirValues map[string]config.Direction
	// Labels that fill the point's fields.
	NameLabel, SubLabel, UserLabel, ClientLabel, GroupLabel, PartitionLabel string
	// FixedSub sets Sub when no SubLabel applies.
	FixedSub string
}

// PromQL returns the PromQL form of a profile's mapping over a rate window
// such as "1m" (at least four scrape intervals is the usual choice).
func PromQL(profile, window string) ([]Query, error) {
	r := func(format string, args ...any) string {
		return strings.ReplaceAll(fmt.Sprintf(format, args...), "$W", window)
	}
	kafkaDirs := map[string]config.Direction{"Produce": config.Produce, "Fetch": config.Fetch}
	jmxLike := func(n kafkaNames) []Query {
		qs := []Query{
			{Kind: KindBrokerBytes, Dir: config.Produce, Expr: r(`sum by (instance) (rate(%s{topic=""}[$W]))`, n.bytesIn)},
			{Kind: KindBrokerBytes, Dir: config.Fetch, Expr: r(`sum by (instance) (rate(%s{topic=""}[$W]))`, n.bytesOut)},
			{Kind: KindTopicBytes, Dir: config.Produce, Expr: r(`sum by (instance, topic) (rate(%s{topic!=""}[$W]))`, n.bytesIn), NameLabel: "topic"},
			{Kind: KindTopicBytes, Dir: config.Fetch, Expr: r(`sum by (instance, topic) (rate(%s{topic!=""}[$W]))`, n.bytesOut), NameLabel: "topic"},
			{Kind: KindRequestHandlerIdle, Expr: n.handlerIdle[0]},
			{Kind: KindNetworkProcessorIdle, Expr: strings.Join(n.networkIdle, " or ")},
		}
		if n.quotaByteRate != "" {
			qs = append(qs,
				Query{Kind: KindClientBytes, Expr: n.quotaByteRate + `{resource=~"Produce|Fetch"}`, DirLabel: "resource", DirValues: kafkaDirs, UserLabel: "user", ClientLabel: n.clientLabel},
				Query{Kind: KindThrottle, Expr: n.quotaThrottle + `{resource=~"Produce|Fetch"}`, DirLabel: "resource", DirValues: kafkaDirs, UserLabel: "user", ClientLabel: n.clientLabel})
		}
		if n.produceRate != "" {
			qs = append(qs,
				Query{Kind: KindClientBytes, Dir: config.Produce, Expr: n.produceRate, UserLabel: "user", ClientLabel: n.clientLabel},
				Query{Kind: KindClientBytes, Dir: config.Fetch, Expr: n.fetchRate, UserLabel: "user", ClientLabel: n.clientLabel},
				Query{Kind: KindThrottle, Dir: config.Produce, Expr: n.produceThrottle, UserLabel: "user", ClientLabel: n.clientLabel},
				Query{Kind: KindThrottle, Dir: config.Fetch, Expr: n.fetchThrottle, UserLabel: "user", ClientLabel: n.clientLabel})
		}
		return qs
	}
	switch profile {
	case kafkaJMX.n.name:
		return jmxLike(kafkaJMX.n), nil
	case kafkaStrimzi.n.name:
		return jmxLike(kafkaStrimzi.n), nil
	case kafkaConfluent.n.name:
		return jmxLike(kafkaConfluent.n), nil
	case redpanda{}.Name():
		rpDirs := map[string]config.Direction{"produce_quota": config.Produce, "fetch_quota": config.Fetch}
		return []Query{
			{Kind: KindTopicBytes, Expr: r(`sum by (instance, redpanda_topic, redpanda_request) (rate(redpanda_kafka_request_bytes_total{redpanda_request=~"produce|consume"}[$W]))`),
				DirLabel: "redpanda_request", DirValues: map[string]config.Direction{"produce": config.Produce, "consume": config.Fetch}, NameLabel: "redpanda_topic"},
			{Kind: KindClientBytes, Expr: r(`rate(redpanda_kafka_quotas_client_quota_throughput_by_entity[$W])`), DirLabel: "redpanda_quota_type", DirValues: rpDirs,
				UserLabel: "redpanda_quota_user", ClientLabel: "redpanda_quota_client_id"},
			{Kind: KindThrottle, Expr: r(`rate(redpanda_kafka_quotas_client_quota_throttle_time_ms_by_entity[$W])`), DirLabel: "redpanda_quota_type", DirValues: rpDirs,
				UserLabel: "redpanda_quota_user", ClientLabel: "redpanda_quota_client_id"},
			{Kind: KindReactorBusy, Expr: r(`rate(redpanda_cpu_busy_seconds_total[$W])`), NameLabel: "shard"},
		}, nil
	case node{}.Name():
		return []Query{
			{Kind: KindCPUSeconds, Expr: r(`rate(node_cpu_seconds_total[$W])`), NameLabel: "cpu", SubLabel: "mode"},
			{Kind: KindNetBytes, Expr: r(`rate(node_network_receive_bytes_total{device!~"lo|veth.*|docker.*|br-.*|ifb.*|virbr.*"}[$W])`), NameLabel: "device", FixedSub: "receive"},
			{Kind: KindNetBytes, Expr: r(`rate(node_network_transmit_bytes_total{device!~"lo|veth.*|docker.*|br-.*|ifb.*|virbr.*"}[$W])`), NameLabel: "device", FixedSub: "transmit"},
			{Kind: KindDiskBytes, Expr: r(`rate(node_disk_read_bytes_total[$W])`), NameLabel: "device", FixedSub: "read"},
			{Kind: KindDiskBytes, Expr: r(`rate(node_disk_written_bytes_total[$W])`), NameLabel: "device", FixedSub: "write"},
			{Kind: KindFSSize, Expr: `node_filesystem_size_bytes`, NameLabel: "mountpoint"},
			{Kind: KindFSAvail, Expr: `node_filesystem_avail_bytes`, NameLabel: "mountpoint"},
		}, nil
	case kminion{}.Name():
		return []Query{{Kind: KindLag, Expr: `kminion_kafka_consumer_group_topic_partition_lag`,
			GroupLabel: "group_id", NameLabel: "topic_name", PartitionLabel: "partition_id"}}, nil
	case kafkaExporter{}.Name():
		return []Query{{Kind: KindLag, Expr: `kafka_consumergroup_lag`,
			GroupLabel: "consumergroup", NameLabel: "topic", PartitionLabel: "partition"}}, nil
	}
	return nil, fmt.Errorf("unknown profile %q", profile)
}
