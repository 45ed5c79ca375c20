package round

import (
	"math"
	"testing"
	"time"

	"github.com/headroomhq/headroom/collector"
	"github.com/headroomhq/headroom/collector/kafkaadmin"
	"github.com/headroomhq/headroom/detector"
	"github.com/headroomhq/headroom/limiter"
)

func TestThrottledDemand(t *testing.T) {
	const window = 11000.0
	for _, tc := range []struct {
		name                             string
		observed, throttle, quota, share float64
		want                             float64
	}{
		{"not throttled: the served rate", 300, 0, 1000, 2000, 300},
		{"no quota known: the served rate", 300, 50, 0, 2000, 300},
		{"lender muted below its share gets the share", 990, 10, 1000, 2000, 2000},
		{"lender grazed its quota: Kafka's formula only", 850, 20, 1000, 2000, 1000 * (1 + 20.0/window)},
		{"lender cut hard, served far below: the share", 400, 3500, 1000, 2000, 2000},
		{"borrower grazed its quota: no probe step", 2000, 20, 2500, 2000, 2500 * (1 + 20.0/window)},
		{"borrower throttled at onset: Kafka's formula", 3000, 22000, 2500, 2000, 7500},
		{"borrower muted: at least a probe step", 2500, 10, 2500, 2000, 2500 * (1 + ProbeStep)},
		{"served above the estimate wins", 6000, 10, 2500, 2000, 6000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := throttledDemand(tc.observed, tc.throttle, tc.quota, tc.share, window); math.Abs(got-tc.want) > 1e-9*tc.want {
				t.Fatalf("throttledDemand = %v, want %v", got, tc.want)
			}
		})
	}
}

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
		{"a", limiter.Produce}: {fresh: true, total: 700, loads: []brokerEstimate{{throttleMs: 5, estimate: 300}, {throttleMs: 20, estimate: 400}}},
		{"b", limiter.Produce}: {fresh: false, total: 50, loads: []brokerEstimate{{estimate: 50}}}, // stale: not fed
		{"c", limiter.Fetch}:   {fresh: true},                                                      // no placement: not fed
	}
	lags := []kafkaadmin.GroupLag{
		{Group: "g", Complete: true, Partitions: []kafkaadmin.PartitionLag{
			{TopicPartition: kafkaadmin.TopicPartition{Topic: "t", Partition: 0}, Lag: 5, Status: kafkaadmin.StatusOK},
			{TopicPartition: kafkaadmin.TopicPartition{Topic: "t", Partition: 1}, Lag: 7, Status: kafkaadmin.StatusStall},
		}},
		{Group: "h", Complete: false, Partitions: []kafkaadmin.PartitionLag{{Lag: 9, Status: kafkaadmin.StatusWarn}}}, // provisional
	}
	in := detectorInput(now, snap, est, lags)
	if len(in.Traffic) != 1 || in.Traffic[0] != (detector.TrafficSample{Project: "a", Direction: detector.Produce, Rate: 700}) {
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
