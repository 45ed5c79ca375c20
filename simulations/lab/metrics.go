package lab

import (
	"net/http"
	"sort"
	"strconv"
	"time"

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

// brokerFamilies are the metric families one broker exposes, in the order
// of its page.
type brokerFamilies struct {
	bytesIn, bytesOut, msgsIn, produceReqs, fetchReqs *family
	byteRate, throttle                                *family
	throttledBytes, throttleSeconds                   *family
	handlerIdle, networkIdle                          *family
	requests                                          *family
	partitions, leaders, underReplicated              *family
}

func newBrokerFamilies() *brokerFamilies {
	counter, gauge := dto.MetricType_COUNTER, dto.MetricType_GAUGE
	return &brokerFamilies{
		bytesIn:         newFamily("kafka_server_brokertopicmetrics_bytesin_total", "kafka.server:name=BytesInPerSec,type=BrokerTopicMetrics,attribute=Count", counter),
		bytesOut:        newFamily("kafka_server_brokertopicmetrics_bytesout_total", "kafka.server:name=BytesOutPerSec,type=BrokerTopicMetrics,attribute=Count", counter),
		msgsIn:          newFamily("kafka_server_brokertopicmetrics_messagesin_total", "kafka.server:name=MessagesInPerSec,type=BrokerTopicMetrics,attribute=Count", counter),
		produceReqs:     newFamily("kafka_server_brokertopicmetrics_totalproducerequests_total", "kafka.server:name=TotalProduceRequestsPerSec,type=BrokerTopicMetrics,attribute=Count", counter),
		fetchReqs:       newFamily("kafka_server_brokertopicmetrics_totalfetchrequests_total", "kafka.server:name=TotalFetchRequestsPerSec,type=BrokerTopicMetrics,attribute=Count", counter),
		byteRate:        newFamily("kafka_server_quota_byte_rate", "kafka.server:name=null,type=Produce,attribute=byte-rate", gauge),
		throttle:        newFamily("kafka_server_quota_throttle_time", "kafka.server:name=null,type=Produce,attribute=throttle-time", gauge),
		throttledBytes:  newFamily("headroom_lab_quota_throttled_bytes_total", "The lab's accounting, not a Kafka MBean: bytes its quota enforcement refused (a throttled fetch, answered without records) or delayed (produce bytes over the quota's allowance in the window), per quota entity", counter),
		throttleSeconds: newFamily("headroom_lab_quota_throttle_seconds_total", "The lab's accounting, not a Kafka MBean: the throttle time of every throttled response, summed (how long the entity's connections were muted), per quota entity", counter),
		handlerIdle:     newFamily("kafka_server_kafkarequesthandlerpool_requesthandleravgidle_percent", "kafka.server:name=RequestHandlerAvgIdlePercent,type=KafkaRequestHandlerPool,attribute=MeanRate", gauge),
		networkIdle:     newFamily("kafka_network_socketserver_networkprocessoravgidlepercent", "kafka.network:name=NetworkProcessorAvgIdlePercent,type=SocketServer,attribute=Value", gauge),
		requests:        newFamily("kafka_network_requestmetrics_requests_total", "kafka.network:name=RequestsPerSec,type=RequestMetrics,attribute=Count", counter),
		partitions:      newFamily("kafka_server_replicamanager_partitioncount", "kafka.server:name=PartitionCount,type=ReplicaManager,attribute=Value", gauge),
		leaders:         newFamily("kafka_server_replicamanager_leadercount", "kafka.server:name=LeaderCount,type=ReplicaManager,attribute=Value", gauge),
		underReplicated: newFamily("kafka_server_replicamanager_underreplicatedpartitions", "kafka.server:name=UnderReplicatedPartitions,type=ReplicaManager,attribute=Value", gauge),
	}
}

// gather builds broker b's metric families from what it measured.
func (c *Cluster) gather(b *brokerState) []*dto.MetricFamily {
	now := c.cfg.Now()
	f := newBrokerFamilies()
	b.mu.Lock()
	b.expireSensors(now)
	f.addTopics(b)
	f.addSensors(b, now)
	f.addAccounts(b)
	f.addRequests(b)
	in, out := b.in.rate(now), b.out.rate(now)
	nLeaders := b.leaders
	b.mu.Unlock()
	f.addLoad(in, out, c.cfg.Capacity)
	f.partitions.add(float64(nLeaders))
	f.leaders.add(float64(nLeaders))
	f.underReplicated.add(0)
	return f.nonEmpty()
}

// addTopics adds the broker's byte, message and request counters: its
// totals, then per topic. b.mu must be held.
func (f *brokerFamilies) addTopics(b *brokerState) {
	f.bytesIn.add(b.total.bytesIn)
	f.bytesOut.add(b.total.bytesOut)
	f.msgsIn.add(b.total.messagesIn)
	f.produceReqs.add(b.total.produceRequests)
	f.fetchReqs.add(b.total.fetchRequests)
	for _, t := range b.sortedTopics() {
		tc := b.topics[t]
		f.bytesIn.add(tc.bytesIn, "topic", t)
		f.bytesOut.add(tc.bytesOut, "topic", t)
		f.msgsIn.add(tc.messagesIn, "topic", t)
		f.produceReqs.add(tc.produceRequests, "topic", t)
		f.fetchReqs.add(tc.fetchRequests, "topic", t)
	}
}

// sensorLabels are the labels Kafka's quota metrics give a sensor.
func sensorLabels(k sensorKey) []string {
	return []string{"resource", resource(k.dir), "user", k.tags.user, "clientId", k.tags.clientID}
}

// addSensors adds each live quota sensor's byte rate and throttle time, as
// Kafka's quota metrics do. b.mu must be held.
func (f *brokerFamilies) addSensors(b *brokerState, now time.Time) {
	keys := make([]sensorKey, 0, len(b.sensors))
	for k := range b.sensors {
		keys = append(keys, k)
	}
	sortSensorKeys(keys)
	for _, k := range keys {
		s := b.sensors[k]
		labels := sensorLabels(k)
		f.byteRate.add(s.bytes.rate(now), labels...)
		f.throttle.add(s.throttle.avg(now), labels...)
	}
}

// addAccounts adds the lab's own accounting of what enforcement did, per
// quota entity (the projects of one entity summed). b.mu must be held.
func (f *brokerFamilies) addAccounts(b *brokerState) {
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
		labels := sensorLabels(k)
		f.throttledBytes.add(e.Refused, append(labels, "reason", "refused")...)
		f.throttledBytes.add(e.Delayed, append(labels, "reason", "delayed")...)
		f.throttleSeconds.add(e.ThrottleTime.Seconds(), labels...)
	}
}

// addRequests adds the request counters by API and version. b.mu must be
// held.
func (f *brokerFamilies) addRequests(b *brokerState) {
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
		f.requests.add(b.requests[k], "request", k.name, "version", strconv.Itoa(int(k.version)))
	}
}

// addLoad adds the idle gauges of the load model: the request handlers
// idle as the busier direction leaves them, the network as both together
// do, from the broker's byte rates in and out over its capacity.
func (f *brokerFamilies) addLoad(in, out float64, capacity Rates) {
	capIn, capOut := capacity.Produce, capacity.Fetch
	util := 0.0
	if capIn > 0 {
		util = max(util, in/capIn)
	}
	if capOut > 0 {
		util = max(util, out/capOut)
	}
	f.handlerIdle.add(clamp01(1 - util))
	netUtil := 0.0
	if capIn+capOut > 0 {
		netUtil = (in + out) / (capIn + capOut)
	}
	f.networkIdle.add(clamp01(1 - netUtil))
}

// nonEmpty returns the families with at least one sample, in page order.
func (f *brokerFamilies) nonEmpty() []*dto.MetricFamily {
	var out []*dto.MetricFamily
	for _, fam := range []*family{f.bytesIn, f.bytesOut, f.msgsIn, f.produceReqs, f.fetchReqs, f.byteRate, f.throttle,
		f.throttledBytes, f.throttleSeconds, f.handlerIdle, f.networkIdle, f.requests, f.partitions, f.leaders, f.underReplicated} {
		if len(fam.mf.Metric) > 0 {
			out = append(out, fam.mf)
		}
	}
	return out
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
