package lab

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"

	"github.com/headroomhq/headroom/config"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testWindow keeps Kafka's 11 samples but shortens each to 200ms so that a
// test sees whole windows in seconds; the formula is unchanged.
var testWindow = Window{Samples: 11, SampleWindow: 200 * time.Millisecond}

func startLab(t *testing.T, cfg Config) *Cluster {
	t.Helper()
	if cfg.Window.Samples == 0 {
		cfg.Window = testWindow
	}
	if os.Getenv("LAB_DEBUG") != "" {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	c, err := Start(t.Context(), cfg)
	if err != nil {
		t.Fatalf("start lab: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

func adminClient(t *testing.T, c *Cluster) *kadm.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Bootstrap()...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return kadm.NewClient(cl)
}

// scrape fetches and parses one broker's metrics page.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("parse %s: %v\n%s", url, err, body)
	}
	return mfs
}

// value returns the sample of family name whose labels are exactly want.
func value(mfs map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	mf := mfs[name]
	if mf == nil {
		return 0, false
	}
	for _, m := range mf.Metric {
		if len(m.Label) != len(want) {
			continue
		}
		match := true
		for _, l := range m.Label {
			if want[l.GetName()] != l.GetValue() {
				match = false
			}
		}
		if !match {
			continue
		}
		if m.Counter != nil {
			return m.Counter.GetValue(), true
		}
		return m.Gauge.GetValue(), true
	}
	return 0, false
}

// hold lets real time pass while traffic flows: the lab's rates are
// measured over wall-clock intervals, so a rate test must span one. It is
// not a wait on a loop; conditions are polled with testpeer.EventuallyNil.
func hold(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case <-time.After(d):
	case <-t.Context().Done():
	}
}

func TestAlterClientQuotasValidation(t *testing.T) {
	c := startLab(t, Config{Brokers: 1, Projects: []Project{{Name: "a", Quota: Rates{Produce: 1000}}}})
	adm := adminClient(t, c)
	before := c.Quotas()
	if got := before["client-id=a"][KeyProducerByteRate]; got != 1000 {
		t.Fatalf("initial quota: got %v, want 1000 (table %v)", got, before)
	}
	name := func(s string) *string { return &s }
	entity := kadm.ClientQuotaEntity{{Type: "client-id", Name: name("a")}}
	cases := []struct {
		name    string
		entries []kadm.AlterClientQuotaEntry
	}{
		{"negative rate", []kadm.AlterClientQuotaEntry{{Entity: entity, Ops: []kadm.AlterClientQuotaOp{{Key: KeyProducerByteRate, Value: -5}}}}},
		{"zero rate", []kadm.AlterClientQuotaEntry{{Entity: entity, Ops: []kadm.AlterClientQuotaOp{{Key: KeyProducerByteRate, Value: 0}}}}},
		{"non-numeric rate", []kadm.AlterClientQuotaEntry{{Entity: entity, Ops: []kadm.AlterClientQuotaOp{{Key: KeyProducerByteRate, Value: nan()}}}}},
		{"fractional byte rate", []kadm.AlterClientQuotaEntry{{Entity: entity, Ops: []kadm.AlterClientQuotaOp{{Key: KeyConsumerByteRate, Value: 1.5}}}}},
		{"unknown key", []kadm.AlterClientQuotaEntry{{Entity: entity, Ops: []kadm.AlterClientQuotaOp{{Key: "producer_bytes_rate", Value: 5000}}}}},
		{"unknown entity type", []kadm.AlterClientQuotaEntry{{Entity: kadm.ClientQuotaEntity{{Type: "group", Name: name("a")}}, Ops: []kadm.AlterClientQuotaOp{{Key: KeyProducerByteRate, Value: 5000}}}}},
		{"ip with user", []kadm.AlterClientQuotaEntry{{Entity: kadm.ClientQuotaEntity{{Type: "ip", Name: name("1.2.3.4")}, {Type: "user", Name: name("u")}}, Ops: []kadm.AlterClientQuotaOp{{Key: "connection_creation_rate", Value: 5}}}}},
		{"one bad entry rejects the request", []kadm.AlterClientQuotaEntry{
			{Entity: entity, Ops: []kadm.AlterClientQuotaOp{{Key: KeyProducerByteRate, Value: 9000}}},
			{Entity: kadm.ClientQuotaEntity{{Type: "client-id", Name: name("b")}}, Ops: []kadm.AlterClientQuotaOp{{Key: KeyProducerByteRate, Value: -1}}},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, err := adm.AlterClientQuotas(t.Context(), tc.entries)
			if err != nil {
				t.Fatalf("request failed: %v", err)
			}
			for _, r := range res {
				if !errors.Is(r.Err, kerr.InvalidRequest) {
					t.Errorf("entity %v: got error %v, want INVALID_REQUEST", r.Entity, r.Err)
				}
				if r.ErrMessage == "" {
					t.Errorf("entity %v: no error message", r.Entity)
				}
			}
			if got := c.Quotas(); !equalQuotas(got, before) {
				t.Errorf("quotas changed: got %v, want %v", got, before)
			}
			described, err := adm.DescribeClientQuotas(t.Context(), false, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(described) != 1 || len(described[0].Values) != 1 || described[0].Values[0].Value != 1000 {
				t.Errorf("kfake's stored quotas changed: %+v", described)
			}
		})
	}

	t.Run("valid alter is stored and enforced", func(t *testing.T) {
		res, err := adm.AlterClientQuotas(t.Context(), []kadm.AlterClientQuotaEntry{
			{Entity: entity, Ops: []kadm.AlterClientQuotaOp{{Key: KeyProducerByteRate, Value: 2000}, {Key: KeyConsumerByteRate, Value: 3000}}},
		})
		if err != nil || res[0].Err != nil {
			t.Fatalf("alter: %v %v", err, res)
		}
		got := c.Quotas()["client-id=a"]
		if got[KeyProducerByteRate] != 2000 || got[KeyConsumerByteRate] != 3000 {
			t.Errorf("lab quotas: %v", got)
		}
		described, err := adm.DescribeClientQuotas(t.Context(), false, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(described) != 1 || len(described[0].Values) != 2 {
			t.Errorf("kfake stored %+v", described)
		}
	})
	t.Run("validate only changes nothing", func(t *testing.T) {
		before := c.Quotas()
		if _, err := adm.ValidateAlterClientQuotas(t.Context(), []kadm.AlterClientQuotaEntry{
			{Entity: entity, Ops: []kadm.AlterClientQuotaOp{{Key: KeyProducerByteRate, Value: 1}}},
		}); err != nil {
			t.Fatal(err)
		}
		if got := c.Quotas(); !equalQuotas(got, before) {
			t.Errorf("quotas changed: %v", got)
		}
	})
}

func nan() float64 { var z float64; return z / z }

func equalQuotas(a, b map[string]map[string]float64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, av := range a {
		bv := b[k]
		if len(av) != len(bv) {
			return false
		}
		for kk, v := range av {
			if bv[kk] != v {
				return false
			}
		}
	}
	return true
}

// TestThrottlingMatchesQuota is the acceptance test: a project producing
// at 2x its per-broker quota is served at its quota (±10%) on each broker,
// its throttle time is above zero, and raising the quota through
// AlterClientQuotas lifts its served rate within one window.
func TestThrottlingMatchesQuota(t *testing.T) {
	t.Parallel()
	const quota = 1 << 20 // bytes/s per broker
	// A longer sample window than the other tests: a produce request is a
	// lump of a few hundred KiB, which must be small against a window's
	// worth of quota for the served rate to be steady.
	w := Window{Samples: 11, SampleWindow: 400 * time.Millisecond}
	c := startLab(t, Config{
		Brokers:  2,
		Window:   w,
		Capacity: Rates{Produce: 8 << 20, Fetch: 16 << 20},
		// Eight partitions per broker with small batches: a produce request
		// carries one batch per partition, so the client is not limited by
		// round trips, and no single request is a large lump of the window.
		Projects: []Project{{Name: "a", Leaders: []int32{0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1}, Quota: Rates{Produce: quota}}},
	})
	demand := Rates{Produce: 2 * 2 * quota} // 2x the quota on each of 2 brokers
	load, err := StartLoad(t.Context(), c, map[string]DemandFunc{"a": func(time.Time) Rates { return demand }}, LoadOptions{RecordSize: 4 << 10, BatchMaxBytes: 32 << 10, MaxBuffered: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer load.Close()
	urls := c.MetricsURLs()
	topic := map[string]string{"topic": "a.events"}
	entity := map[string]string{"resource": "Produce", "clientId": "a"}
	window := time.Duration(w.Samples) * w.SampleWindow

	bytesIn := func() []float64 {
		var out []float64
		for id := range int32(2) {
			v, _ := value(scrape(t, urls[id]), "kafka_server_brokertopicmetrics_bytesin_total", topic)
			out = append(out, v)
		}
		return out
	}
	servedOver := func(d time.Duration) []float64 {
		a := bytesIn()
		start := time.Now()
		hold(t, d)
		b := bytesIn()
		el := time.Since(start).Seconds()
		return []float64{(b[0] - a[0]) / el, (b[1] - a[1]) / el}
	}

	hold(t, 2*window) // past the fresh sensor's transient (see TestThrottledClientConvergesToQuota)
	served := servedOver(2 * window)
	for id, r := range served {
		if r < 0.9*quota || r > 1.1*quota {
			t.Errorf("broker %d: served %.0f B/s, want %d ±10%%", id, r, quota)
		}
		mfs := scrape(t, urls[int32(id)])
		if th, ok := value(mfs, "kafka_server_quota_throttle_time", entity); !ok || th <= 0 {
			t.Errorf("broker %d: throttle time %v (present %v), want > 0", id, th, ok)
		}
		checkThrottledBytes(t, mfs, "Produce", "delayed", "refused")
		if br, ok := value(mfs, "kafka_server_quota_byte_rate", entity); !ok || br < 0.75*quota || br > 1.25*quota {
			// One reading over one window, not an average over three.
			t.Errorf("broker %d: byte-rate gauge %v, want %d ±25%%", id, br, quota)
		}
	}
	t.Logf("served at 2x demand: %.0f B/s per broker (quota %d)", served, quota)

	// The live view a terminal demo reads shows the same: demand, quota,
	// served near the quota on each broker, and throttling.
	if got := load.Demand(time.Now())["a"]; got != demand {
		t.Errorf("Load.Demand = %+v, want %+v", got, demand)
	}
	status := c.Status()
	if len(status) != 1 || status[0].Project != "a" || status[0].Quota.Produce != quota || status[0].Quota.Fetch != 0 || len(status[0].Brokers) != 2 {
		t.Fatalf("Status = %+v", status)
	}
	for _, bs := range status[0].Brokers {
		if bs.Served.Produce < 0.75*quota || bs.Served.Produce > 1.25*quota || bs.ProduceThrottle <= 0 {
			// One reading over one window, as the byte-rate gauge above.
			t.Errorf("Status broker %d: served %.0f B/s (want %d ±25%%), throttle %s (want > 0)", bs.Broker, bs.Served.Produce, quota, bs.ProduceThrottle)
		}
	}
	if st := status[0]; st.ProduceThrottle <= 0 || st.FetchThrottle != 0 {
		t.Errorf("Status throttle: produce %s, fetch %s", st.ProduceThrottle, st.FetchThrottle)
	}

	adm := adminClient(t, c)
	name := "a"
	res, err := adm.AlterClientQuotas(t.Context(), []kadm.AlterClientQuotaEntry{{
		Entity: kadm.ClientQuotaEntity{{Type: "client-id", Name: &name}},
		Ops:    []kadm.AlterClientQuotaOp{{Key: KeyProducerByteRate, Value: 4 * quota}},
	}})
	if err != nil || res[0].Err != nil {
		t.Fatalf("raise quota: %v %v", err, res)
	}
	lifted := servedOver(window)
	for id, r := range lifted {
		if want := 0.9 * demand.Produce / 2; r < want {
			t.Errorf("broker %d: served %.0f B/s within one window of the raise, want >= %.0f", id, r, want)
		}
	}
	t.Logf("served after the raise: %.0f B/s per broker", lifted)
	if got := c.Status()[0].Quota.Produce; got != 4*quota {
		t.Errorf("Status quota after the raise: %v, want %d", got, 4*quota)
	}
}

// batchBytes sums, per topic, the record batches a client wrote or read
// as they are on the wire: kgo reports the records' bytes, and every batch
// adds Kafka's 61-byte record batch header.
type batchBytes struct {
	mu       sync.Mutex
	produced map[string]float64
	fetched  map[string]float64
}

const batchHeader = 61

func (b *batchBytes) OnProduceBatchWritten(_ kgo.BrokerMetadata, topic string, _ int32, m kgo.ProduceBatchMetrics) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.produced[topic] += float64(m.CompressedBytes + batchHeader)
}

func (b *batchBytes) OnFetchBatchRead(_ kgo.BrokerMetadata, topic string, _ int32, m kgo.FetchBatchMetrics) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.fetched[topic] += float64(m.CompressedBytes + batchHeader)
}

func produceAndConsume(t *testing.T, c *Cluster, records int) *batchBytes {
	t.Helper()
	hooks := &batchBytes{produced: map[string]float64{}, fetched: map[string]float64{}}
	for _, p := range c.Projects() {
		roundTrip(t, c, hooks, p.ClientID, p.Topic, records)
	}
	return hooks
}

// roundTrip produces records to topic as clientID, then consumes them back
// under the same client id, counting the batches on the wire in hooks.
func roundTrip(t *testing.T, c *Cluster, hooks *batchBytes, clientID, topic string, records int) {
	t.Helper()
	ctx := t.Context()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Bootstrap()...), kgo.ClientID(clientID), kgo.DefaultProduceTopic(topic),
		kgo.WithHooks(hooks), kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err != nil {
		t.Fatal(err)
	}
	for i := range records {
		cl.Produce(ctx, &kgo.Record{Value: make([]byte, 1000+i%100)}, func(_ *kgo.Record, err error) {
			if err != nil {
				t.Errorf("produce: %v", err)
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	cl.Close()
	cons, err := kgo.NewClient(kgo.SeedBrokers(c.Bootstrap()...), kgo.ClientID(clientID), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.WithHooks(hooks))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	for n := 0; n < records; {
		fs := cons.PollFetches(ctx)
		if err := fs.Err(); err != nil {
			t.Fatal(err)
		}
		n += fs.NumRecords()
	}
}

// TestMetricsMatchTraffic checks that every page parses, that per-topic
// bytes in and out match the batches the clients wrote and read to within
// 2%, and that each broker's total is the sum of its topics.
func TestMetricsMatchTraffic(t *testing.T) {
	t.Parallel()
	c := startLab(t, Config{
		Brokers:  3,
		Capacity: Rates{Produce: 8 << 20, Fetch: 16 << 20},
		Projects: []Project{
			{Name: "a", Quota: Rates{Produce: 64 << 20, Fetch: 64 << 20}},
			{Name: "b", User: "bob", Leaders: []int32{1, 1, 2}, Quota: Rates{Produce: 64 << 20}},
		},
	})
	hooks := produceAndConsume(t, c, 2000)

	totals := map[string]map[string]float64{}
	sawUserClient := false
	for id, url := range c.MetricsURLs() {
		mfs := scrape(t, url)
		for _, name := range []string{"kafka_server_brokertopicmetrics_bytesin_total", "kafka_server_brokertopicmetrics_bytesout_total", "kafka_server_brokertopicmetrics_messagesin_total"} {
			var sum float64
			for _, m := range mfs[name].GetMetric() {
				if len(m.Label) == 1 {
					if totals[name] == nil {
						totals[name] = map[string]float64{}
					}
					totals[name][m.Label[0].GetValue()] += m.Counter.GetValue()
					sum += m.Counter.GetValue()
				}
			}
			total, _ := value(mfs, name, map[string]string{})
			if total != sum {
				t.Errorf("broker %d %s: total %v != sum of topics %v", id, name, total, sum)
			}
		}
		if v, ok := value(mfs, "kafka_server_quota_byte_rate", map[string]string{"resource": "Produce", "user": "bob", "clientId": "b"}); ok && v > 0 {
			sawUserClient = true
		}
		if _, ok := value(mfs, "kafka_server_quota_byte_rate", map[string]string{"resource": "Fetch", "user": "bob", "clientId": "b"}); ok {
			t.Errorf("broker %d: a Fetch sensor for b, which has no fetch quota", id)
		}
	}
	within := func(got, want float64) bool { return got >= want*0.98 && got <= want*1.02 }
	for _, topic := range []string{"a.events", "b.events"} {
		if got, want := totals["kafka_server_brokertopicmetrics_bytesin_total"][topic], hooks.produced[topic]; !within(got, want) || want == 0 {
			t.Errorf("bytesin_total{topic=%q} = %.0f, produced %.0f", topic, got, want)
		}
		if got, want := totals["kafka_server_brokertopicmetrics_bytesout_total"][topic], hooks.fetched[topic]; !within(got, want) || want == 0 {
			t.Errorf("bytesout_total{topic=%q} = %.0f, fetched %.0f", topic, got, want)
		}
		if got := totals["kafka_server_brokertopicmetrics_messagesin_total"][topic]; got != 2000 {
			t.Errorf("messagesin_total{topic=%q} = %v, want 2000", topic, got)
		}
	}
	if !sawUserClient {
		t.Errorf("no Produce byte-rate for user=bob,clientId=b (quota set at the user+client-id level)")
	}
}

// TestClientSensorsCountTheBytes checks the per-client quota sensors: what
// each recorded equals the bytes its client produced and fetched.
func TestClientSensorsCountTheBytes(t *testing.T) {
	c := startLab(t, Config{Brokers: 2, Projects: []Project{{Name: "a", Quota: Rates{Produce: 1 << 30, Fetch: 1 << 30}}}})
	hooks := produceAndConsume(t, c, 500)
	var produced, fetched float64
	for _, b := range c.brokers {
		b.mu.Lock()
		if s := b.sensors[sensorKey{dir: config.Produce, tags: sensorTags{clientID: "a"}}]; s != nil {
			produced += s.total
		}
		if s := b.sensors[sensorKey{dir: config.Fetch, tags: sensorTags{clientID: "a"}}]; s != nil {
			fetched += s.total
		}
		b.mu.Unlock()
	}
	if want := hooks.produced["a.events"]; produced < 0.98*want || produced > 1.02*want {
		t.Errorf("produce sensors recorded %.0f bytes, client produced %.0f", produced, want)
	}
	if want := hooks.fetched["a.events"]; fetched < 0.98*want || fetched > 1.02*want {
		t.Errorf("fetch sensors recorded %.0f bytes, client fetched %.0f", fetched, want)
	}
}

// checkThrottledBytes checks the lab's own accounting on a metrics page:
// the entity "a" in resource has throttled bytes for reason, none for
// other, and a throttle time above zero.
func checkThrottledBytes(t *testing.T, mfs map[string]*dto.MetricFamily, resource, reason, other string) {
	t.Helper()
	labels := func(extra ...string) map[string]string {
		m := map[string]string{"resource": resource, "clientId": "a"}
		for i := 0; i+1 < len(extra); i += 2 {
			m[extra[i]] = extra[i+1]
		}
		return m
	}
	if v, ok := value(mfs, "headroom_lab_quota_throttled_bytes_total", labels("reason", reason)); !ok || v <= 0 {
		t.Errorf("%s throttled bytes (%s): %v (present %v), want > 0", resource, reason, v, ok)
	}
	if v, ok := value(mfs, "headroom_lab_quota_throttled_bytes_total", labels("reason", other)); !ok || v != 0 {
		t.Errorf("%s throttled bytes (%s): %v (present %v), want 0", resource, other, v, ok)
	}
	if v, ok := value(mfs, "headroom_lab_quota_throttle_seconds_total", labels()); !ok || v <= 0 {
		t.Errorf("%s throttle seconds: %v (present %v), want > 0", resource, v, ok)
	}
}
