package lab

import (
	"net/http"
	"sort"
	"strconv"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"google.golang.org/protobuf/proto"
)

// The metric names below are those jmx_exporter's kafka-2_0_0 rules give a
// real broker's MBeans; the help strings name the MBean, as jmx_exporter's
// do. The idle gauges are a load model: kfake runs one in-process loop, so
// the lab derives them from the broker's measured byte rates over its
// configured capacity (idle = 1 − utilisation).

type family struct {
	mf *dto.MetricFamily
}

func newFamily(name, help string, t dto.MetricType) *family {
	return &family{mf: &dto.MetricFamily{Name: proto.String(name), Help: proto.String(help), Type: t.Enum()}}
}

func (f *family) add(v float64, labels ...string) {
	m := &dto.Metric{}
	for i := 0; i+1 < len(labels); i += 2 {
		if labels[i+1] == "" {
			continue
		}
		m.Label = append(m.Label, &dto.LabelPair{Name: proto.String(labels[i]), Value: proto.String(labels[i+1])})
	}
	sort.Slice(m.Label, func(i, j int) bool { return m.Label[i].GetName() < m.Label[j].GetName() })
	switch f.mf.GetType() {
	case dto.MetricType_COUNTER:
		m.Counter = &dto.Counter{Value: proto.Float64(v)}
	default:
		m.Gauge = &dto.Gauge{Value: proto.Float64(v)}
	}
	f.mf.Metric = append(f.mf.Metric, m)
}

func clamp01(v float64) float64 { return max(0, min(1, v)) }

// gather builds broker b's metric families from what it measured.
func (c *Cluster) gather(b *brokerState) []*dto.MetricFamily {
	now := c.cfg.Now()
	counter, gauge := dto.MetricType_COUNTER, dto.MetricType_GAUGE
	bytesIn := newFamily("kafka_server_brokertopicmetrics_bytesin_total", "kafka.server:name=BytesInPerSec,type=BrokerTopicMetrics,attribute=Count", counter)
	bytesOut := newFamily("kafka_server_brokertopicmetrics_bytesout_total", "kafka.server:name=BytesOutPerSec,type=BrokerTopicMetrics,attribute=Count", counter)
	msgsIn := newFamily("kafka_server_brokertopicmetrics_messagesin_total", "kafka.server:name=MessagesInPerSec,type=BrokerTopicMetrics,attribute=Count", counter)
	produceReqs := newFamily("kafka_server_brokertopicmetrics_totalproducerequests_total", "kafka.server:name=TotalProduceRequestsPerSec,type=BrokerTopicMetrics,attribute=Count", counter)
	fetchReqs := newFamily("kafka_server_brokertopicmetrics_totalfetchrequests_total", "kafka.server:name=TotalFetchRequestsPerSec,type=BrokerTopicMetrics,attribute=Count", counter)
	byteRate := newFamily("kafka_server_quota_byte_rate", "kafka.server:name=null,type=Produce,attribute=byte-rate", gauge)
	throttle := newFamily("kafka_server_quota_throttle_time", "kafka.server:name=null,type=Produce,attribute=throttle-time", gauge)
	throttledBytes := newFamily("headroom_lab_quota_throttled_bytes_total", "The lab's accounting, not a Kafka MBean: bytes its quota enforcement refused (a throttled fetch, answered without records) or delayed (produce bytes over the quota's allowance in the window), per quota entity", counter)
	throttleSeconds := newFamily("headroom_lab_quota_throttle_seconds_total", "The lab's accounting, not a Kafka MBean: the throttle time of every throttled response, summed (how long the entity's connections were muted), per quota entity", counter)
	handlerIdle := newFamily("kafka_server_kafkarequesthandlerpool_requesthandleravgidle_percent", "kafka.server:name=RequestHandlerAvgIdlePercent,type=KafkaRequestHandlerPool,attribute=MeanRate", gauge)
	networkIdle := newFamily("kafka_network_socketserver_networkprocessoravgidlepercent", "kafka.network:name=NetworkProcessorAvgIdlePercent,type=SocketServer,attribute=Value", gauge)
	requests := newFamily("kafka_network_requestmetrics_requests_total", "kafka.network:name=RequestsPerSec,type=RequestMetrics,attribute=Count", counter)
	partitions := newFamily("kafka_server_replicamanager_partitioncount", "kafka.server:name=PartitionCount,type=ReplicaManager,attribute=Value", gauge)
	leaders := newFamily("kafka_server_replicamanager_leadercount", "kafka.server:name=LeaderCount,type=ReplicaManager,attribute=Value", gauge)
	underReplicated := newFamily("kafka_server_replicamanager_underreplicatedpartitions", "kafka.server:name=UnderReplicatedPartitions,type=ReplicaManager,attribute=Value", gauge)

	b.mu.Lock()
	b.expireSensors(now)
	bytesIn.add(b.total.bytesIn)
	bytesOut.add(b.total.bytesOut)
	msgsIn.add(b.total.messagesIn)
	produceReqs.add(b.total.produceRequests)
	fetchReqs.add(b.total.fetchRequests)
	for _, t := range b.sortedTopics() {
		tc := b.topics[t]
		bytesIn.add(tc.bytesIn, "topic", t)
		bytesOut.add(tc.bytesOut, "topic", t)
		msgsIn.add(tc.messagesIn, "topic", t)
		produceReqs.add(tc.produceRequests, "topic", t)
		fetchReqs.add(tc.fetchRequests, "topic", t)
	}
	keys := make([]sensorKey, 0, len(b.sensors))
	for k := range b.sensors {
		keys = append(keys, k)
	}
	sortSensorKeys(keys)
	for _, k := range keys {
		s := b.sensors[k]
		labels := []string{"resource", resource(k.dir), "user", k.tags.user, "clientId", k.tags.clientID}
		byteRate.add(s.bytes.rate(now), labels...)
		throttle.add(s.throttle.avg(now), labels...)
	}
	perEntity := map[sensorKey]Enforcement{}
	for k, acc := range b.accounts {
		e := perEntity[k.sensorKey]
		e.Add(*acc)
		perEntity[k.sensorKey] = e
	}
	entities := make([]sensorKey, 0, len(perEntity))
	for k := range perEntity {
		entities = append(entities, k)
	}
	sortSensorKeys(entities)
	for _, k := range entities {
		e := perEntity[k]
		labels := []string{"resource", resource(k.dir), "user", k.tags.user, "clientId", k.tags.clientID}
		throttledBytes.add(e.Refused, append(labels, "reason", "refused")...)
		throttledBytes.add(e.Delayed, append(labels, "reason", "delayed")...)
		throttleSeconds.add(e.ThrottleTime.Seconds(), labels...)
	}
	reqKeys := make([]requestKey, 0, len(b.requests))
	for k := range b.requests {
		reqKeys = append(reqKeys, k)
	}
	sort.Slice(reqKeys, func(i, j int) bool {
		if reqKeys[i].name != reqKeys[j].name {
			return reqKeys[i].name < reqKeys[j].name
		}
		return reqKeys[i].version < reqKeys[j].version
	})
	for _, k := range reqKeys {
		requests.add(b.requests[k], "request", k.name, "version", strconv.Itoa(int(k.version)))
	}
	in, out := b.in.rate(now), b.out.rate(now)
	nLeaders := b.leaders
	b.mu.Unlock()

	capIn, capOut := c.cfg.Capacity.Produce, c.cfg.Capacity.Fetch
	util := 0.0
	if capIn > 0 {
		util = max(util, in/capIn)
	}
	if capOut > 0 {
		util = max(util, out/capOut)
	}
	handlerIdle.add(clamp01(1 - util))
	netUtil := 0.0
	if capIn+capOut > 0 {
		netUtil = (in + out) / (capIn + capOut)
	}
	networkIdle.add(clamp01(1 - netUtil))
	partitions.add(float64(nLeaders))
	leaders.add(float64(nLeaders))
	underReplicated.add(0)

	var out2 []*dto.MetricFamily
	for _, f := range []*family{bytesIn, bytesOut, msgsIn, produceReqs, fetchReqs, byteRate, throttle, throttledBytes, throttleSeconds, handlerIdle, networkIdle, requests, partitions, leaders, underReplicated} {
		if len(f.mf.Metric) > 0 {
			out2 = append(out2, f.mf)
		}
	}
	return out2
}

func (c *Cluster) metricsHandler(b *brokerState) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		format := expfmt.NewFormat(expfmt.TypeTextPlain)
		w.Header().Set("Content-Type", string(format))
		enc := expfmt.NewEncoder(w, format)
		for _, mf := range c.gather(b) {
			if err := enc.Encode(mf); err != nil {
				c.cfg.Logger.Debug("lab metrics write failed", "broker", b.id, "err", err)
				return
			}
		}
	})
}

func sortSensorKeys(keys []sensorKey) {
	sort.Slice(keys, func(i, j int) bool {
		a, z := keys[i], keys[j]
		if a.dir != z.dir {
			return a.dir < z.dir
		}
		if a.tags.user != z.tags.user {
			return a.tags.user < z.tags.user
		}
		return a.tags.clientID < z.tags.clientID
	})
}
