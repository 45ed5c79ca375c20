package labrig

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/headroomhq/headroom/collector"
	"github.com/headroomhq/headroom/config"
	"github.com/headroomhq/headroom/internal/testpeer"
	"github.com/headroomhq/headroom/limiter"
	"github.com/headroomhq/headroom/round"
	"github.com/headroomhq/headroom/simulations/demo"
	"github.com/headroomhq/headroom/simulations/lab"
)

// Two brokers of 400 kB/s produce capacity each, at the default margin of
// 0.9: 360 kB/s safe per broker. Both projects have a partition on each
// broker; the mirror writes to one partition, on broker 1.
const exemptScenario = `
name: exempt
duration: 1h
brokers:
  count: 2
  capacity: {produce: 400kB/s, fetch: 800kB/s}
projects:
  - name: a
    produce: {share: 150kB/s}
    fetch: {share: 300kB/s}
    demand: {produce: {base: 40kB/s}}
  - name: b
    produce: {share: 150kB/s}
    fetch: {share: 300kB/s}
    demand: {produce: {base: 40kB/s}}
`

const (
	exemptCapacity = 400e3 // produce, per broker
	exemptFetchCap = 800e3
	exemptMargin   = config.DefaultMargin
	mirrorBroker   = 1
	mirrorRate     = 120e3 // bytes/s of record values the mirror sends
	// a sends 20 kB/s to each broker; b 250 kB/s to each, more than its
	// share and more than 360 − 120 − a's quota: while the mirror runs b
	// can only have what the mirror's reserve leaves.
	demandA = 40e3
	demandB = 500e3
)

// mirror is a producer no project owns, writing to one topic at a steady
// rate under its own client id, as MirrorMaker does. It counts the record
// batches the broker acknowledged, as the broker's sensor counts them.
type mirror struct {
	mu      sync.Mutex
	written float64
	cancel  context.CancelFunc
	done    chan struct{}
}

func startMirror(t *testing.T, seeds []string, clientID, topic string, rate float64) *mirror {
	t.Helper()
	m := &mirror{done: make(chan struct{})}
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ClientID(clientID), kgo.DefaultProduceTopic(topic),
		kgo.ProducerLinger(5*time.Millisecond), kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.WithHooks(m))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	go func() {
		defer close(m.done)
		defer cl.Close()
		value := make([]byte, 2000)
		// Paced on wall time, as the lab's load generators are: traffic,
		// not a wait.
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		last, due := time.Now(), 0.0
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-tick.C:
				due += rate * now.Sub(last).Seconds()
				last = now
				for ; due >= float64(len(value)); due -= float64(len(value)) {
					cl.TryProduce(ctx, &kgo.Record{Value: value}, nil)
				}
			}
		}
	}()
	t.Cleanup(m.stop)
	return m
}

// OnProduceBatchWritten counts a batch as the broker charges it: the
// records' bytes plus the 61-byte record batch header.
func (m *mirror) OnProduceBatchWritten(_ kgo.BrokerMetadata, _ string, _ int32, pm kgo.ProduceBatchMetrics) {
	m.mu.Lock()
	m.written += float64(pm.CompressedBytes + 61)
	m.mu.Unlock()
}

func (m *mirror) bytes() float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.written
}

func (m *mirror) stop() {
	m.cancel()
	<-m.done
}

// quotaGauge reads a kafka_server_quota_* gauge of a client id from a
// broker's metrics page; ok is false when the page has no such series.
func quotaGauge(t *testing.T, url, name, resource, clientID string) (float64, bool) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse %s: %v", url, err)
	}
	for _, m := range mfs[name].GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		if labels["resource"] == resource && labels["clientId"] == clientID && labels["user"] == "" {
			return m.GetGauge().GetValue(), true
		}
	}
	return 0, false
}

func planFor(t *testing.T, o round.Outcome, d config.Direction) limiter.Plan {
	t.Helper()
	for _, p := range o.Plans {
		if p.Direction == d {
			return p
		}
	}
	t.Fatalf("round %d planned no %v quotas: %+v", o.Index, d, o.Plans)
	return limiter.Plan{}
}

func brokerLoad(t *testing.T, p limiter.Plan, id int32) limiter.BrokerLoad {
	t.Helper()
	for _, b := range p.Brokers {
		if b.ID == id {
			return b
		}
	}
	t.Fatalf("plan %s/%v has no broker %d", p.Group, p.Direction, id)
	return limiter.BrokerLoad{}
}

func quotaOf(t *testing.T, p limiter.Plan, project string) float64 {
	t.Helper()
	for _, d := range p.Decisions {
		if d.Project == project {
			return d.After
		}
	}
	t.Fatalf("plan %s/%v has no decision for %s", p.Group, p.Direction, project)
	return 0
}

// mirrorMeasured is what the round's snapshot reports of the mirror on
// broker 1, produce; ok is false when it reports nothing.
func mirrorMeasured(o round.Outcome) (collector.Value, bool) {
	for _, x := range o.Snapshot.Exempt {
		if x.Name == "mirror" && x.Broker == fmt.Sprint(mirrorBroker) && x.Direction == config.Produce {
			return x.Rate, true
		}
	}
	return collector.Value{}, false
}

// TestExemptMirrorReservedNeverThrottled runs the daemon on a lab cluster
// whose configuration lists a mirror (client id "mirror") as exempt. The
// mirror, a real franz-go producer, writes at a steady rate to a topic no
// project owns, led by broker 1, while project b wants more than broker 1
// can give it next to the mirror. Headroom must never write a quota for
// the mirror, must plan broker 1 as if the mirror's bytes were already
// spent, and must give them back once the mirror stops.
func TestExemptMirrorReservedNeverThrottled(t *testing.T) {
	safe := exemptMargin * exemptCapacity // 360 kB/s
	r := New(t, exemptScenario, lab.Window{Samples: 3, SampleWindow: time.Second})
	if err := r.Lab.CreateTopic(t.Context(), "mirror.replica", []int32{mirrorBroker}); err != nil {
		t.Fatal(err)
	}
	r.Set("a", demandA)
	r.Set("b", demandB)
	m := startMirror(t, r.Lab.Bootstrap(), "mirror", "mirror.replica", mirrorRate)
	url := r.Lab.MetricsURLs()[mirrorBroker]
	// Real bytes through the lab: the mirror has run for its whole quota
	// window before Headroom's first round, as a mirror that was running
	// before Headroom started.
	testpeer.EventuallyNil(t, "the lab's windowed rate of the mirror at its steady level", 20*time.Second, func() error {
		v, ok := quotaGauge(t, url, "kafka_server_quota_byte_rate", "Produce", "mirror")
		if !ok || v < 0.95*mirrorRate {
			return fmt.Errorf("byte-rate %.0f (present %v), want >= %.0f", v, ok, 0.95*mirrorRate)
		}
		return nil
	})
	r.WriteConfig(r.Config(demo.ConfigOptions{RoundInterval: time.Second,
		Exempt: []config.ExemptConfig{{Name: "mirror", Entity: config.Entity{ClientID: "mirror"}}}}))
	r.Start()

	// While the mirror runs.
	t0, b0 := time.Now(), m.bytes()
	var running []round.Outcome
	for range 16 {
		running = append(running, r.Step(500*time.Millisecond))
	}
	// The mirror's rate on the wire, from the batches its own client saw
	// acknowledged: the expectation, measured apart from the lab's sensors
	// and Headroom's collector.
	wire := (m.bytes() - b0) / time.Since(t0).Seconds()
	if wire < 0.95*mirrorRate || wire > 1.1*mirrorRate {
		t.Fatalf("the mirror sent %.0f B/s on the wire, want about %.0f (its values plus batch headers)", wire, float64(mirrorRate))
	}
	var bMax float64 // the most b held while the mirror ran
	resMin, resMax := math.Inf(1), math.Inf(-1)
	for _, o := range running {
		produce := planFor(t, o, config.Produce)
		// Broker 0 carries none of the mirror's bytes: nothing reserved.
		if s := brokerLoad(t, produce, 0).Safe; math.Abs(s-safe) > 1e-6 {
			t.Errorf("round %d: broker 0 safe produce %.0f, want margin × capacity %.0f", o.Index, s, safe)
		}
		// Broker 1: the reserve is at least the measured rate, and at most
		// the detector's upper bound over a steady series. The lab's
		// windowed rate of a steady producer moves by a batch or two in a
		// 3 s window (±2%), and the bound adds 2 × 1.25 × that noise's
		// mean deviation (≤ 5%); 10% below and 15% above cover both.
		reserve := safe - brokerLoad(t, produce, mirrorBroker).Safe
		resMin, resMax = min(resMin, reserve), max(resMax, reserve)
		if reserve < 0.9*wire || reserve > 1.15*wire {
			t.Errorf("round %d: broker %d safe produce %.0f: reserve %.0f, want the mirror's %.0f B/s within -10%%/+15%%",
				o.Index, mirrorBroker, safe-reserve, reserve, wire)
		}
		// The projects' quotas on broker 1 (each project has a partition
		// there) and the mirror's bytes fit margin × capacity; the slack is
		// the lab's windowed-rate jitter in the measurement the reserve
		// starts from (2% of the mirror's rate).
		if sum := quotaOf(t, produce, "a") + quotaOf(t, produce, "b"); sum+wire > safe+0.02*wire {
			t.Errorf("round %d: quotas a+b %.0f plus the mirror's %.0f exceed broker %d's %.0f", o.Index, sum, wire, mirrorBroker, safe)
		}
		bMax = max(bMax, quotaOf(t, produce, "b"))
		// The mirror does not consume: no fetch reserve anywhere.
		fetch := planFor(t, o, config.Fetch)
		for _, bl := range fetch.Brokers {
			if want := exemptMargin * exemptFetchCap; math.Abs(bl.Safe-want) > 1e-6 {
				t.Errorf("round %d: broker %d safe fetch %.0f, want %.0f", o.Index, bl.ID, bl.Safe, want)
			}
		}
		// Headroom plans and writes the projects' quotas only.
		for _, p := range o.Plans {
			if len(p.Decisions) != 2 {
				t.Errorf("round %d: %v plan has %d decisions, want a's and b's: %+v", o.Index, p.Direction, len(p.Decisions), p.Decisions)
			}
		}
		for _, res := range o.Results {
			if (res.Project != "a" && res.Project != "b") || strings.Contains(fmt.Sprint(res.Entity), "mirror") {
				t.Errorf("round %d: the applier wrote for %s (%v), not a project's entity", o.Index, res.Project, res.Entity)
			}
		}
	}
	t.Logf("mirror %.0f B/s on the wire; broker %d reserve %.0f..%.0f over %d rounds; b's quota at most %.0f", wire, mirrorBroker, resMin, resMax, len(running), bMax)
	// Never throttled: the lab's sensor of the mirror reports no throttle
	// time, and the cluster holds no quota for it.
	if v, ok := quotaGauge(t, url, "kafka_server_quota_throttle_time", "Produce", "mirror"); !ok || v != 0 {
		t.Errorf("the mirror's throttle-time on broker %d: %v (present %v), want 0", mirrorBroker, v, ok)
	}
	checkNoQuotaFor(t, r, "mirror")

	// The mirror stops. Kafka's windowed rate falls to zero once the
	// 3 s window holds none of its bytes; the broker keeps reporting the
	// sensor, at zero. Within 10 rounds of 500 ms, the round that measures
	// zero (or nothing) plans broker 1 at its full margin × capacity.
	m.stop()
	freed := 0 // rounds from the stop to the first that measured nothing
	for i := 0; i < 10 && freed == 0; i++ {
		o := r.Step(500 * time.Millisecond)
		v, ok := mirrorMeasured(o)
		if ok && v.Value > 0 {
			continue
		}
		freed = i + 1
		if s := brokerLoad(t, planFor(t, o, config.Produce), mirrorBroker).Safe; math.Abs(s-safe) > 1e-6 {
			t.Errorf("round %d: the mirror measured at %v (reported %v), broker %d safe produce %.0f, want %.0f: the reserve outlived the traffic",
				o.Index, v.Value, ok, mirrorBroker, s, safe)
		}
	}
	if freed == 0 {
		t.Fatalf("the mirror still measured above zero 10 rounds (5 s) after it stopped")
	}
	t.Logf("the mirror measured at zero %d rounds after it stopped", freed)

	// b, busy (250 kB/s on broker 1), borrows what the mirror held: its
	// quota rises past 360 − 0.9 × the mirror's rate, more than broker 1
	// could give b alone next to the mirror. Borrowing grows by steps a
	// round; 40 rounds bound it.
	limitWithMirror := safe - 0.9*wire
	var bQuota float64
	var borrowed int
	for borrowed = 1; borrowed <= 40; borrowed++ {
		produce := planFor(t, r.Step(500*time.Millisecond), config.Produce)
		bQuota = quotaOf(t, produce, "b")
		if s := brokerLoad(t, produce, mirrorBroker).Safe; math.Abs(s-safe) > 1e-6 {
			t.Fatalf("broker %d safe produce %.0f after the mirror stopped, want %.0f", mirrorBroker, s, safe)
		}
		if bQuota > limitWithMirror {
			break
		}
	}
	t.Logf("b's quota %.0f, past %.0f, %d rounds later", bQuota, limitWithMirror, borrowed)
	if !(bQuota > limitWithMirror) {
		t.Errorf("b's quota %.0f (at most %.0f while the mirror ran) never passed %.0f, what it could hold next to the mirror",
			bQuota, bMax, limitWithMirror)
	}
	checkNoQuotaFor(t, r, "mirror")
}

// checkNoQuotaFor describes every client quota of the lab through the
// Kafka API and fails on any entity naming clientID; it also checks that
// Headroom wrote the projects' quotas (they left the shares the lab
// started with).
func checkNoQuotaFor(t *testing.T, r *Rig, clientID string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(r.Lab.Bootstrap()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	quotas, err := kadm.NewClient(cl).DescribeClientQuotas(t.Context(), false, nil)
	if err != nil {
		t.Fatalf("describe client quotas: %v", err)
	}
	written := 0
	for _, q := range quotas {
		for _, c := range q.Entity {
			if c.Name != nil && *c.Name == clientID {
				t.Errorf("the cluster holds a client quota for %s: %v %+v", clientID, q.Entity, q.Values)
			}
		}
		for _, v := range q.Values {
			if v.Key == lab.KeyProducerByteRate && v.Value != 150e3 {
				written++
			}
		}
	}
	if written == 0 {
		t.Errorf("no produce quota left its initial share: Headroom wrote none (%+v)", quotas)
	}
}
