package collector

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	dto "github.com/prometheus/client_model/go"

	"github.com/headroomhq/headroom/config"
)

// Profile maps one exposition format onto canonical points.
type Profile interface {
	// Name is the configuration name, e.g. "kafka-jmx".
	Name() string
	// Map appends the canonical points of a parsed page to dst. Samples
	// with a NaN or infinite value are skipped and counted in dropped.
	Map(dst []Point, fams Families) (pts []Point, dropped int)
	// HasClientQuotaMetrics reports whether the format exports per-client
	// quota byte rates (so project rates come from them, not from topics).
	HasClientQuotaMetrics() bool
	// HasBrokerTotals reports whether the format exports topic-less broker
	// totals; without them the total is the sum of the topic rates.
	HasBrokerTotals() bool
	// Families lists the metric families Map reads.
	Families() []string
}

// ProfileByName returns the profile registered under name.
func ProfileByName(name string) (Profile, error) {
	switch name {
	case config.ProfileKafkaJMX:
		return kafkaJMX, nil
	case config.ProfileKafkaStrimzi:
		return kafkaStrimzi, nil
	case config.ProfileKafkaConfluent:
		return kafkaConfluent, nil
	case config.ProfileRedpanda:
		return redpanda{}, nil
	case config.ProfileNode:
		return node{}, nil
	case config.ProfileKminion:
		return kminion{}, nil
	case config.ProfileKafkaExporter:
		return kafkaExporter{}, nil
	}
	return nil, fmt.Errorf("unknown profile %q", name)
}

// ProfileNames lists every profile.
func ProfileNames() []string {
	return []string{config.ProfileKafkaJMX, config.ProfileKafkaStrimzi, config.ProfileKafkaConfluent,
		config.ProfileRedpanda, config.ProfileNode, config.ProfileKminion, config.ProfileKafkaExporter}
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// each calls fn for every metric of family name with a finite value.
func each(fams Families, name string, dropped *int, fn func(m *dto.Metric, v float64)) {
	f := fams[name]
	if f == nil {
		return
	}
	for _, m := range f.GetMetric() {
		v, ok := sampleValue(m)
		if !ok {
			continue
		}
		if !finite(v) {
			*dropped++
			continue
		}
		fn(m, v)
	}
}

// kafkaNames are the metric and label names of one jmx_exporter rule set.
type kafkaNames struct {
	name                           string
	bytesIn, bytesOut              string // topic meters (Count); no topic label = broker total
	quotaByteRate, quotaThrottle   string // resource-labelled quota gauges (jmx_exporter rules)
	produceRate, fetchRate         string // per-direction quota gauges (Confluent rules)
	produceThrottle, fetchThrottle string
	clientLabel                    string
	handlerIdle                    []string
	networkIdle                    []string
}

type kafkaProfile struct{ n kafkaNames }

var (
	kafkaJMX = kafkaProfile{kafkaNames{
		name:          config.ProfileKafkaJMX,
		bytesIn:       "kafka_server_brokertopicmetrics_bytesin_total",
		bytesOut:      "kafka_server_brokertopicmetrics_bytesout_total",
		quotaByteRate: "kafka_server_quota_byte_rate",
		quotaThrottle: "kafka_server_quota_throttle_time",
		clientLabel:   "clientId",
		handlerIdle:   []string{"kafka_server_kafkarequesthandlerpool_requesthandleravgidle_percent"},
		networkIdle:   []string{"kafka_network_socketserver_networkprocessoravgidlepercent"},
	}}
	kafkaStrimzi = kafkaProfile{kafkaNames{
		name:        config.ProfileKafkaStrimzi,
		bytesIn:     "kafka_server_brokertopicmetrics_bytesin_total",
		bytesOut:    "kafka_server_brokertopicmetrics_bytesout_total",
		handlerIdle: []string{"kafka_server_kafkarequesthandlerpool_requesthandleravgidle_percent"},
		networkIdle: []string{"kafka_network_socketserver_networkprocessoravgidle_percent",
			"kafka_network_socketserver_networkprocessoravgidlepercent"},
	}}
	kafkaConfluent = kafkaProfile{kafkaNames{
		name:            config.ProfileKafkaConfluent,
		bytesIn:         "kafka_server_brokertopicmetrics_bytesinpersec",
		bytesOut:        "kafka_server_brokertopicmetrics_bytesoutpersec",
		produceRate:     "kafka_server_produce_byte_rate",
		fetchRate:       "kafka_server_fetch_byte_rate",
		produceThrottle: "kafka_server_produce_throttle_time",
		fetchThrottle:   "kafka_server_fetch_throttle_time",
		clientLabel:     "client_id",
		// The un-suffixed requesthandleravgidlepercent is the meter's
		// Count (a trap); the one-minute rate is the idle ratio.
		handlerIdle: []string{"kafka_server_kafkarequesthandlerpool_requesthandleravgidlepercent_oneminuterate"},
		networkIdle: []string{"kafka_network_socketserver_networkprocessoravgidlepercent"},
	}}
)

func (p kafkaProfile) Name() string { return p.n.name }
func (p kafkaProfile) HasClientQuotaMetrics() bool {
	return p.n.quotaByteRate != "" || p.n.produceRate != ""
}
func (kafkaProfile) HasBrokerTotals() bool { return true }

func (p kafkaProfile) Families() []string {
	n := p.n
	out := []string{n.bytesIn, n.bytesOut}
	for _, f := range []string{n.quotaByteRate, n.quotaThrottle, n.produceRate, n.fetchRate, n.produceThrottle, n.fetchThrottle} {
		if f != "" {
			out = append(out, f)
		}
	}
	return append(append(out, n.handlerIdle...), n.networkIdle...)
}

func direction(resource string) (config.Direction, bool) {
	switch strings.ToLower(resource) {
	case "produce":
		return config.Produce, true
	case "fetch":
		return config.Fetch, true
	}
	return 0, false
}

func (p kafkaProfile) Map(dst []Point, fams Families) ([]Point, int) {
	n := &p.n
	dropped := 0
	topicBytes := func(name string, d config.Direction) {
		each(fams, name, &dropped, func(m *dto.Metric, v float64) {
			// Broker totals sit next to per-topic series: the series
			// without a topic label (or with topic="") is the total.
			if t := labelValue(m, "topic"); t != "" {
				dst = append(dst, Point{PointKey{Kind: KindTopicBytes, Dir: d, Name: t}, v, true})
			} else {
				dst = append(dst, Point{PointKey{Kind: KindBrokerBytes, Dir: d}, v, true})
			}
		})
	}
	topicBytes(n.bytesIn, config.Produce)
	topicBytes(n.bytesOut, config.Fetch)
	// entity maps a family of per-entity series: in direction fixed, or
	// in the one their "resource" label names when byResource is set.
	entity := func(kind Kind, name string, fixed config.Direction, byResource bool) {
		each(fams, name, &dropped, func(m *dto.Metric, v float64) {
			d := fixed
			if byResource {
				var ok bool
				if d, ok = direction(labelValue(m, "resource")); !ok {
					return // Request quotas are not byte rates.
				}
			}
			dst = append(dst, Point{PointKey{Kind: kind, Dir: d, User: labelValue(m, "user"),
				ClientID: labelValue(m, n.clientLabel)}, v, false})
		})
	}
	if n.quotaByteRate != "" {
		entity(KindClientBytes, n.quotaByteRate, 0, true)
		entity(KindThrottle, n.quotaThrottle, 0, true)
	}
	if n.produceRate != "" {
		entity(KindClientBytes, n.produceRate, config.Produce, false)
		entity(KindClientBytes, n.fetchRate, config.Fetch, false)
		entity(KindThrottle, n.produceThrottle, config.Produce, false)
		entity(KindThrottle, n.fetchThrottle, config.Fetch, false)
	}
	gauge := func(kind Kind, names []string) {
		for _, name := range names {
			if fams[name] == nil {
				continue
			}
			each(fams, name, &dropped, func(_ *dto.Metric, v float64) {
				dst = append(dst, Point{PointKey{Kind: kind}, v, false})
			})
			return
		}
	}
	gauge(KindRequestHandlerIdle, n.handlerIdle)
	gauge(KindNetworkProcessorIdle, n.networkIdle)
	return dst, dropped
}

// redpanda maps Redpanda's public metrics (/public_metrics).
type redpanda struct{}

func (redpanda) Name() string                { return config.ProfileRedpanda }
func (redpanda) HasClientQuotaMetrics() bool { return true }
func (redpanda) HasBrokerTotals() bool       { return false }
func (redpanda) Families() []string {
	return []string{"redpanda_kafka_request_bytes_total", "redpanda_kafka_quotas_client_quota_throughput_by_entity",
		"redpanda_kafka_quotas_client_quota_throttle_time_ms_by_entity", "redpanda_cpu_busy_seconds_total"}
}

func (redpanda) Map(dst []Point, fams Families) ([]Point, int) {
	dropped := 0
	each(fams, "redpanda_kafka_request_bytes_total", &dropped, func(m *dto.Metric, v float64) {
		var d config.Direction
		switch labelValue(m, "redpanda_request") {
		case "produce":
			d = config.Produce
		case "consume":
			d = config.Fetch
		default:
			return
		}
		dst = append(dst, Point{PointKey{Kind: KindTopicBytes, Dir: d, Name: labelValue(m, "redpanda_topic")}, v, true})
	})
	entity := func(kind Kind, name string) {
		each(fams, name, &dropped, func(m *dto.Metric, v float64) {
			var d config.Direction
			switch labelValue(m, "redpanda_quota_type") {
			case "produce_quota":
				d = config.Produce
			case "fetch_quota":
				d = config.Fetch
			default:
				return
			}
			dst = append(dst, Point{PointKey{Kind: kind, Dir: d, User: labelValue(m, "redpanda_quota_user"),
				ClientID: labelValue(m, "redpanda_quota_client_id")}, v, true})
		})
	}
	entity(KindClientBytes, "redpanda_kafka_quotas_client_quota_throughput_by_entity")
	entity(KindThrottle, "redpanda_kafka_quotas_client_quota_throttle_time_ms_by_entity")
	each(fams, "redpanda_cpu_busy_seconds_total", &dropped, func(m *dto.Metric, v float64) {
		dst = append(dst, Point{PointKey{Kind: KindReactorBusy, Name: labelValue(m, "shard")}, v, true})
	})
	return dst, dropped
}

// node maps node_exporter.
type node struct{}

func (node) Name() string                { return config.ProfileNode }
func (node) HasClientQuotaMetrics() bool { return false }
func (node) HasBrokerTotals() bool       { return false }
func (node) Families() []string {
	return []string{"node_cpu_seconds_total", "node_network_receive_bytes_total", "node_network_transmit_bytes_total",
		"node_disk_read_bytes_total", "node_disk_written_bytes_total", "node_filesystem_size_bytes", "node_filesystem_avail_bytes"}
}

func (node) Map(dst []Point, fams Families) ([]Point, int) {
	dropped := 0
	each(fams, "node_cpu_seconds_total", &dropped, func(m *dto.Metric, v float64) {
		dst = append(dst, Point{PointKey{Kind: KindCPUSeconds, Name: labelValue(m, "cpu"), Sub: labelValue(m, "mode")}, v, true})
	})
	dev := func(kind Kind, name, sub string) {
		each(fams, name, &dropped, func(m *dto.Metric, v float64) {
			d := labelValue(m, "device")
			if kind == KindNetBytes && virtualNetDevice(d) {
				return
			}
			dst = append(dst, Point{PointKey{Kind: kind, Name: d, Sub: sub}, v, true})
		})
	}
	dev(KindNetBytes, "node_network_receive_bytes_total", "receive")
	dev(KindNetBytes, "node_network_transmit_bytes_total", "transmit")
	dev(KindDiskBytes, "node_disk_read_bytes_total", "read")
	dev(KindDiskBytes, "node_disk_written_bytes_total", "write")
	fs := func(kind Kind, name string) {
		each(fams, name, &dropped, func(m *dto.Metric, v float64) {
			dst = append(dst, Point{PointKey{Kind: kind, Name: labelValue(m, "mountpoint")}, v, false})
		})
	}
	fs(KindFSSize, "node_filesystem_size_bytes")
	fs(KindFSAvail, "node_filesystem_avail_bytes")
	return dst, dropped
}

func virtualNetDevice(d string) bool {
	if d == "lo" {
		return true
	}
	for _, p := range []string{"veth", "docker", "br-", "ifb", "virbr"} {
		if strings.HasPrefix(d, p) {
			return true
		}
	}
	return false
}

// kminion maps kminion's consumer-group lag.
type kminion struct{}

func (kminion) Name() string                { return config.ProfileKminion }
func (kminion) HasClientQuotaMetrics() bool { return false }
func (kminion) HasBrokerTotals() bool       { return false }
func (kminion) Families() []string {
	return []string{"kminion_kafka_consumer_group_topic_partition_lag", "kminion_kafka_consumer_group_topic_lag"}
}

func (kminion) Map(dst []Point, fams Families) ([]Point, int) {
	dropped := 0
	seen := map[[2]string]bool{}
	each(fams, "kminion_kafka_consumer_group_topic_partition_lag", &dropped, func(m *dto.Metric, v float64) {
		p, err := strconv.ParseInt(labelValue(m, "partition_id"), 10, 32)
		if err != nil {
			dropped++
			return
		}
		g, t := labelValue(m, "group_id"), labelValue(m, "topic_name")
		seen[[2]string{g, t}] = true
		dst = append(dst, Point{PointKey{Kind: KindLag, Group: g, Name: t, Partition: int32(p)}, v, false})
	})
	// With minion.consumerGroups.granularity=topic only the topic sum exists.
	each(fams, "kminion_kafka_consumer_group_topic_lag", &dropped, func(m *dto.Metric, v float64) {
		g, t := labelValue(m, "group_id"), labelValue(m, "topic_name")
		if seen[[2]string{g, t}] {
			return
		}
		dst = append(dst, Point{PointKey{Kind: KindLag, Group: g, Name: t, Partition: -1}, v, false})
	})
	return dst, dropped
}

// kafkaExporter maps danielqsj/kafka_exporter's consumer-group lag.
type kafkaExporter struct{}

func (kafkaExporter) Name() string                { return config.ProfileKafkaExporter }
func (kafkaExporter) HasClientQuotaMetrics() bool { return false }
func (kafkaExporter) HasBrokerTotals() bool       { return false }
func (kafkaExporter) Families() []string          { return []string{"kafka_consumergroup_lag"} }

func (kafkaExporter) Map(dst []Point, fams Families) ([]Point, int) {
	dropped := 0
	each(fams, "kafka_consumergroup_lag", &dropped, func(m *dto.Metric, v float64) {
		p, err := strconv.ParseInt(labelValue(m, "partition"), 10, 32)
		if err != nil {
			dropped++
			return
		}
		dst = append(dst, Point{PointKey{Kind: KindLag, Group: labelValue(m, "consumergroup"),
			Name: labelValue(m, "topic"), Partition: int32(p)}, v, false})
	})
	return dst, dropped
}
