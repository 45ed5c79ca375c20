package round

import (
	"testing"
	"time"

	"github.com/headroomhq/headroom/collector"
	"github.com/headroomhq/headroom/collector/kafkaadmin"
	"github.com/headroomhq/headroom/config"
	"github.com/headroomhq/headroom/detector"
	"github.com/headroomhq/headroom/limiter/demand"
	"github.com/headroomhq/headroom/store"
)

func TestDetectorInput(t *testing.T) {
	now := time.Unix(1700000000, 0)
	snap := &collector.Snapshot{
		Brokers: []collector.BrokerStats{
			{BrokerKey: collector.BrokerKey{Cluster: "c", Broker: "1"},
				RequestHandlerIdle: collector.Value{Value: 0.4, State: collector.Fresh}, NetworkProcessorIdle: collector.Value{State: collector.Missing}},
			{BrokerKey: collector.BrokerKey{Cluster: "c", Broker: "2"}}, // nothing fresh: no sample
		},
		Targets: []collector.TargetStatus{{Target: "http://b1/metrics", Up: false, Error: "refused"}},
	}
	est := map[pdKey]*projectEstimate{
		{"a", config.Produce}: {fresh: true, total: 700, loads: []brokerEstimate{{throttleMs: 5}, {throttleMs: 20}}},
		{"b", config.Produce}: {fresh: false, total: 50, loads: []brokerEstimate{{}}}, // stale: not fed
		{"c", config.Fetch}:   {fresh: true},                                          // no placement: not fed
	}
	lags := []kafkaadmin.GroupLag{
		{Group: "g", Complete: true, Partitions: []kafkaadmin.PartitionLag{
			{TopicPartition: kafkaadmin.TopicPartition{Topic: "t", Partition: 0}, Lag: 5, Status: kafkaadmin.StatusOK},
			{TopicPartition: kafkaadmin.TopicPartition{Topic: "t", Partition: 1}, Lag: 7, Status: kafkaadmin.StatusStall},
		}},
		{Group: "h", Complete: false, Partitions: []kafkaadmin.PartitionLag{{Lag: 9, Status: kafkaadmin.StatusWarn}}}, // provisional
	}
	in := detectorInput(now, snap, est, lags)
	if len(in.Traffic) != 1 || in.Traffic[0] != (detector.TrafficSample{Project: "a", Direction: config.Produce, Rate: 700}) {
		t.Fatalf("traffic %+v, want only a's fresh total", in.Traffic)
	}
	if len(in.Throttle) != 1 || in.Throttle[0].Time != 20*time.Millisecond {
		t.Fatalf("throttle %+v, want the worst broker's 20ms", in.Throttle)
	}
	if len(in.Idle) != 1 || in.Idle[0] != (detector.IdleSample{Broker: "c/1", NetworkIdle: 1, RequestHandler: 0.4}) {
		t.Fatalf("idle %+v", in.Idle)
	}
	if len(in.Targets) != 1 || in.Targets[0].Up || in.Targets[0].Err != "refused" {
		t.Fatalf("targets %+v", in.Targets)
	}
	if len(in.Lag) != 1 || in.Lag[0] != (detector.LagSample{Group: "g", Topic: "t", Status: detector.LagStall, Lag: 12}) {
		t.Fatalf("lag %+v, want g/t summed with its worst status", in.Lag)
	}
}

func TestDamageLedgerEntries(t *testing.T) {
	cfg := config.DefaultConfig()
	b := &builder{cfg: &cfg}
	now := time.Unix(1700000000, 0)
	est := map[pdKey]*projectEstimate{
		// Borrowing 140 against a share of 100, unthrottled: static
		// would have throttled 40 B/s.
		{"a", config.Produce}: {fresh: true, loads: []brokerEstimate{{}}, in: demand.Input{Quota: 150, Share: 100, Loads: []demand.Observed{{Served: 140}}}},
		// Stale: no entry, nothing charged on missing data.
		{"b", config.Produce}: {fresh: false, loads: []brokerEstimate{{}}, in: demand.Input{Quota: 10, Share: 100, Loads: []demand.Observed{{Served: 10, ThrottleMs: 5000}}}},
		// No placement: no entry.
		{"c", config.Fetch}: {fresh: true},
	}
	got := b.damage(est, now, 10)
	if len(got) != 1 || got[0] != (store.DamageEntry{At: now, Project: "a", Direction: "produce", HeadroomBytes: 0, StaticBytes: 400}) {
		t.Fatalf("damage %+v, want only a's 400 static bytes over 10 s", got)
	}
}

func TestRoundSeconds(t *testing.T) {
	var l Loop
	t0 := time.Unix(1700000000, 0)
	for i, tc := range []struct {
		at   time.Time
		want float64
	}{
		{t0, 15},                       // first round: the interval
		{t0.Add(14 * time.Second), 14}, // the time since the last round
		{t0.Add(14 * time.Minute), 30}, // after a pause: at most two intervals
		{t0.Add(13 * time.Minute), 0},  // a clock step back charges nothing
	} {
		if got := l.roundSeconds(tc.at, 15*time.Second); got != tc.want {
			t.Fatalf("round %d: %v s, want %v", i, got, tc.want)
		}
	}
}
