package alertfeed

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/headroomhq/headroom/alerting"
	"github.com/headroomhq/headroom/collector"
	"github.com/headroomhq/headroom/collector/kafkaadmin"
	"github.com/headroomhq/headroom/config"
	"github.com/headroomhq/headroom/limiter"
	"github.com/headroomhq/headroom/limiter/applier"
	"github.com/headroomhq/headroom/round"
)

func fresh(v float64) collector.Value { return collector.Value{Value: v, State: collector.Fresh} }

// observeFixture is a round on the example configuration's events group
// (brokers 1–3, 90 MiB/s safe produce each): checkout throttled at its
// quota on brokers 1 and 2, search unthrottled, a held project, a broker
// with little idle time, a lagging consumer, a target down and a group
// whose every write failed.
func observeFixture(t *testing.T) (*config.Config, *collector.Ownership, round.Outcome) {
	t.Helper()
	cfg := exampleConfig(t)
	own, err := collector.NewOwnership(cfg.Projects)
	if err != nil {
		t.Fatal(err)
	}
	brokers := []limiter.BrokerLoad{{ID: 1, Safe: 90 * mib}, {ID: 2, Safe: 90 * mib}, {ID: 3, Safe: 90 * mib}}
	o := round.Outcome{
		Time: time.Date(2026, 11, 23, 3, 0, 0, 0, time.UTC),
		Mode: config.ModeEnforce,
		Plans: []limiter.Plan{{Group: "events", Direction: config.Produce, Brokers: brokers, Decisions: []limiter.Decision{
			{Project: "checkout", Before: 40 * mib, After: 45 * mib, Demand: 80 * mib, Observed: 40 * mib, ThrottleMs: 900, Share: 30 * mib, HotBroker: 1},
			{Project: "search", Before: 30 * mib, After: 30 * mib, Demand: 20 * mib, Observed: 18 * mib, Share: 30 * mib, HotBroker: 2},
			{Project: "notifications", Before: 20 * mib, After: 20 * mib, Demand: 5 * mib, Share: 20 * mib,
				Reasons: []limiter.Reason{limiter.ReasonHeldMissingData}},
		}}},
		Snapshot: collector.Snapshot{
			Projects: []collector.ProjectRate{
				{BrokerKey: collector.BrokerKey{Cluster: "prod-eu", Broker: "1"}, Project: "checkout", Direction: config.Produce, Rate: fresh(40 * mib)},
				{BrokerKey: collector.BrokerKey{Cluster: "prod-eu", Broker: "2"}, Project: "checkout", Direction: config.Produce, Rate: fresh(30 * mib)},
				{BrokerKey: collector.BrokerKey{Cluster: "prod-eu", Broker: "2"}, Project: "search", Direction: config.Produce, Rate: fresh(18 * mib)},
			},
			Brokers: []collector.BrokerStats{
				{BrokerKey: collector.BrokerKey{Cluster: "prod-eu", Broker: "1"}, BytesIn: fresh(70 * mib), NetworkProcessorIdle: fresh(0.05), RequestHandlerIdle: fresh(0.4)},
				{BrokerKey: collector.BrokerKey{Cluster: "prod-eu", Broker: "2"}, BytesIn: fresh(95 * mib), RequestHandlerIdle: fresh(0.6)},
			},
			Targets: []collector.TargetStatus{
				{Target: "http://kafka-1.internal.example:7071/metrics", Up: true},
				{Target: "http://kafka-3.internal.example:7071/metrics", Up: false, Error: "connection refused"},
			},
		},
		Lag: []kafkaadmin.GroupLag{{Group: "billing", Complete: true, Partitions: []kafkaadmin.PartitionLag{
			{TopicPartition: kafkaadmin.TopicPartition{Topic: "checkout.orders", Partition: 0}, Lag: 10, Status: kafkaadmin.StatusOK},
			{TopicPartition: kafkaadmin.TopicPartition{Topic: "checkout.orders", Partition: 1}, Lag: 500, Status: kafkaadmin.StatusStall},
		}}, {Group: "new", Complete: false, Partitions: []kafkaadmin.PartitionLag{
			{TopicPartition: kafkaadmin.TopicPartition{Topic: "checkout.orders", Partition: 0}, Lag: 9, Status: kafkaadmin.StatusWarn},
		}}},
		Results: []applier.Result{
			{Change: applier.Change{Project: "reporting"}, Outcome: applier.Failed, Err: errors.New("CLUSTER_AUTHORIZATION_FAILED")},
			{Change: applier.Change{Project: "ml-features"}, Outcome: applier.Failed},
			{Change: applier.Change{Project: "checkout"}, Outcome: applier.Written},
			{Change: applier.Change{Project: "search"}, Outcome: applier.Failed},
		},
	}
	return cfg, own, o
}

func TestObserve(t *testing.T) {
	cfg, own, o := observeFixture(t)
	obs := Observe(cfg, own, o)
	if obs.Cluster != "prod-eu" || !obs.Time.Equal(o.Time) {
		t.Fatalf("cluster %q time %v", obs.Cluster, obs.Time)
	}
	want := []alerting.ProjectObservation{
		{Cluster: "prod-eu", Group: "events", Project: "checkout", Direction: "produce", Demand: 80 * mib, Served: 40 * mib, Quota: 45 * mib, Share: 30 * mib},
		// Not throttled by Kafka: nothing of its demand is throttled.
		{Cluster: "prod-eu", Group: "events", Project: "search", Direction: "produce", Demand: 20 * mib, Served: 20 * mib, Quota: 30 * mib, Share: 30 * mib},
	}
	if len(obs.Projects) != len(want) {
		t.Fatalf("projects %+v", obs.Projects)
	}
	for i := range want {
		if obs.Projects[i] != want[i] {
			t.Errorf("project %d: %+v, want %+v", i, obs.Projects[i], want[i])
		}
	}
	// Broker 2 carries checkout and search: 100 MiB/s of demand against 90.
	if len(obs.Groups) != 1 || obs.Groups[0] != (alerting.GroupObservation{Cluster: "prod-eu", Group: "events", Direction: "produce", Demand: 100 * mib, SafeCapacity: 90 * mib}) {
		t.Errorf("groups %+v", obs.Groups)
	}
	brokers := map[string]alerting.BrokerObservation{}
	for _, b := range obs.Brokers {
		brokers[b.Broker+"/"+b.Direction] = b
	}
	if b := brokers["1/"]; b.Idle != 0.05 || b.Group != "events" {
		t.Errorf("broker 1 idle %+v", b)
	}
	if b := brokers["2/produce"]; b.Served != 95*mib || b.SafeCapacity != 90*mib || b.Idle != 1 {
		t.Errorf("broker 2 produce %+v", b)
	}
	if _, ok := brokers["3/"]; ok {
		t.Errorf("broker 3 has no idle figure, yet an observation: %+v", brokers["3/"])
	}
	if len(obs.Lag) != 1 || obs.Lag[0] != (alerting.LagObservation{Cluster: "prod-eu", ConsumerGroup: "billing", Topic: "checkout.orders", Project: "checkout", Status: "STALL", Growing: true, Lag: 510}) {
		t.Errorf("lag %+v", obs.Lag)
	}
	var down []alerting.TargetObservation
	for _, tg := range obs.Targets {
		if !tg.Up {
			down = append(down, tg)
		}
	}
	if len(down) != 1 || down[0].Broker != "3" || down[0].Group != "events" || down[0].Err != "connection refused" {
		t.Errorf("targets down %+v", down)
	}
	applies := map[string]alerting.ApplyObservation{}
	for _, a := range obs.Applies {
		applies[a.Group] = a
	}
	if a := applies["batch"]; !a.Failed || !strings.Contains(a.Err, "AUTHORIZATION") {
		t.Errorf("batch: every write failed, got %+v", a)
	}
	if a := applies["events"]; a.Failed {
		t.Errorf("events had a write succeed, got %+v", a)
	}

	// The rules see it as a round: every condition above holds.
	r := alerting.NewRules(alerting.RuleOptions{ThrottledFor: time.Nanosecond, SaturatedFor: time.Nanosecond, OverloadFor: time.Nanosecond,
		LagFor: time.Nanosecond, TargetDownFor: time.Nanosecond, ApplyFailingFor: time.Nanosecond})
	r.Evaluate(obs)
	o.Time = o.Time.Add(time.Second)
	names := map[string]int{}
	for _, a := range r.Evaluate(Observe(cfg, own, o)) {
		names[a.Name()]++
	}
	wantNames := map[string]int{alerting.AlertProjectThrottled: 1, alerting.AlertGroupSaturated: 1, alerting.AlertBrokerOverloaded: 2,
		alerting.AlertConsumerLagGrowing: 1, alerting.AlertCollectorTargetDown: 1, alerting.AlertQuotaApplyFailing: 1}
	for n, c := range wantNames {
		if names[n] != c {
			t.Errorf("%s fired %d times, want %d (all: %v)", n, names[n], c, names)
		}
	}
}

func TestObserveShadowModeCountsTheQuotaInForce(t *testing.T) {
	cfg, own, o := observeFixture(t)
	o.Mode = config.ModeShadow
	obs := Observe(cfg, own, o)
	if obs.Projects[0].Quota != 40<<20 {
		t.Fatalf("shadow mode: quota %v, want the 40 MiB/s the cluster keeps", obs.Projects[0].Quota)
	}
}
