package alertfeed

import (
	"errors"
	"math"
	"slices"
	"testing"

	"github.com/headroomhq/headroom/alerting"
	"github.com/headroomhq/headroom/collector"
	"github.com/headroomhq/headroom/config"
	"github.com/headroomhq/headroom/limiter"
	"github.com/headroomhq/headroom/limiter/applier"
)

const mib = 1 << 20

func exampleConfig(t *testing.T) *config.Config {
	t.Helper()
	cfg, err := config.LoadFile("../../examples/headroom.yml")
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestProjectObservation(t *testing.T) {
	cases := []struct {
		name string
		d    limiter.Decision
		mode string
		want alerting.ProjectObservation
		ok   bool
	}{
		{"throttled: served is what Kafka let through", limiter.Decision{Project: "p", Before: 40, After: 45, Demand: 80, Observed: 40, ThrottleMs: 900, Share: 30},
			config.ModeEnforce, alerting.ProjectObservation{Project: "p", Demand: 80, Served: 40, Quota: 45, Share: 30}, true},
		{"not throttled: all its demand is served", limiter.Decision{Project: "p", Before: 30, After: 30, Demand: 20, Observed: 18, Share: 30},
			config.ModeEnforce, alerting.ProjectObservation{Project: "p", Demand: 20, Served: 20, Quota: 30, Share: 30}, true},
		{"not throttled, observed above the estimate", limiter.Decision{Project: "p", Before: 30, After: 30, Demand: 20, Observed: 25, Share: 30},
			config.ModeEnforce, alerting.ProjectObservation{Project: "p", Demand: 20, Served: 25, Quota: 30, Share: 30}, true},
		{"shadow mode: the quota the cluster keeps", limiter.Decision{Project: "p", Before: 40, After: 45, Demand: 80, Observed: 40, ThrottleMs: 900, Share: 30},
			config.ModeShadow, alerting.ProjectObservation{Project: "p", Demand: 80, Served: 40, Quota: 40, Share: 30}, true},
		{"held for missing data", limiter.Decision{Project: "p", Demand: 5, Reasons: []limiter.Reason{limiter.ReasonHeldMissingData}}, config.ModeEnforce, alerting.ProjectObservation{}, false},
		{"held for bad input", limiter.Decision{Project: "p", Demand: 5, Reasons: []limiter.Reason{limiter.ReasonHeldBadInput}}, config.ModeEnforce, alerting.ProjectObservation{}, false},
		{"no demand", limiter.Decision{Project: "p", Before: 10, After: 10}, config.ModeEnforce, alerting.ProjectObservation{}, false},
		{"NaN demand", limiter.Decision{Project: "p", Demand: math.NaN()}, config.ModeEnforce, alerting.ProjectObservation{}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := projectObservation(tc.d, tc.mode)
			if ok != tc.ok || got != tc.want {
				t.Fatalf("got %+v, %v; want %+v, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

// TestGroupLoad: a group's load is taken at its broker with the most
// demand against its safe capacity, a project's demand counting in full on
// every broker where it has traffic, or on its hottest broker without.
func TestGroupLoad(t *testing.T) {
	three := []limiter.BrokerLoad{{ID: 1, Safe: 90 * mib}, {ID: 2, Safe: 90 * mib}, {ID: 3, Safe: 90 * mib}}
	at := func(broker, project string) placeKey { return placeKey{"prod-eu", broker, project, config.Produce} }
	cases := []struct {
		name      string
		brokers   []limiter.BrokerLoad
		decisions []limiter.Decision
		placed    map[placeKey]bool
		want      *alerting.GroupObservation
	}{
		{"placed on two brokers, counted on each", three,
			[]limiter.Decision{{Project: "a", Demand: 50 * mib, HotBroker: 3}, {Project: "b", Demand: 30 * mib, HotBroker: 2}},
			map[placeKey]bool{at("1", "a"): true, at("2", "a"): true, at("2", "b"): true},
			&alerting.GroupObservation{Demand: 80 * mib, SafeCapacity: 90 * mib}},
		{"no traffic seen: its hottest broker", three,
			[]limiter.Decision{{Project: "a", Demand: 50 * mib, HotBroker: 3}, {Project: "b", Demand: 30 * mib, HotBroker: 2}},
			map[placeKey]bool{at("2", "b"): true},
			&alerting.GroupObservation{Demand: 50 * mib, SafeCapacity: 90 * mib}},
		{"traffic in the other direction does not place it", three,
			[]limiter.Decision{{Project: "a", Demand: 50 * mib, HotBroker: 3}},
			map[placeKey]bool{{"prod-eu", "1", "a", config.Fetch}: true},
			&alerting.GroupObservation{Demand: 50 * mib, SafeCapacity: 90 * mib}},
		{"the worst ratio, not the most bytes", []limiter.BrokerLoad{{ID: 1, Safe: 200 * mib}, {ID: 2, Safe: 40 * mib}},
			[]limiter.Decision{{Project: "a", Demand: 100 * mib}, {Project: "b", Demand: 30 * mib}},
			map[placeKey]bool{at("1", "a"): true, at("2", "b"): true},
			&alerting.GroupObservation{Demand: 30 * mib, SafeCapacity: 40 * mib}},
		{"a broker without safe capacity is skipped", []limiter.BrokerLoad{{ID: 1, Safe: 0}, {ID: 2, Safe: 90 * mib}},
			[]limiter.Decision{{Project: "a", Demand: 100 * mib}, {Project: "b", Demand: 10 * mib}},
			map[placeKey]bool{at("1", "a"): true, at("2", "b"): true},
			&alerting.GroupObservation{Demand: 10 * mib, SafeCapacity: 90 * mib}},
		{"no broker with safe capacity: none", []limiter.BrokerLoad{{ID: 1}},
			[]limiter.Decision{{Project: "a", Demand: 100 * mib}}, map[placeKey]bool{at("1", "a"): true}, nil},
		{"held decisions carry no load", three,
			[]limiter.Decision{{Project: "a", Demand: 100 * mib, Reasons: []limiter.Reason{limiter.ReasonHeldMissingData}}},
			map[placeKey]bool{at("1", "a"): true}, &alerting.GroupObservation{Demand: 0, SafeCapacity: 90 * mib}},
	}
	ix := newIndex(exampleConfig(t))
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			plan := limiter.Plan{Group: "events", Direction: config.Produce, Brokers: tc.brokers, Decisions: tc.decisions}
			_, got := observePlan(ix, tc.placed, plan, config.ModeEnforce)
			if tc.want != nil {
				tc.want.Cluster, tc.want.Group, tc.want.Direction = "prod-eu", "events", "produce"
			}
			if (got == nil) != (tc.want == nil) || (got != nil && *got != *tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestPlacements(t *testing.T) {
	rate := func(broker, project string, dir config.Direction, v collector.Value) collector.ProjectRate {
		return collector.ProjectRate{BrokerKey: collector.BrokerKey{Cluster: "c", Broker: broker}, Project: project, Direction: dir, Rate: v}
	}
	got := placements([]collector.ProjectRate{
		rate("1", "a", config.Produce, collector.Value{Value: 5, State: collector.Fresh}),
		rate("2", "a", config.Fetch, collector.Value{Value: 5, State: collector.Fresh}),
		rate("3", "a", config.Produce, collector.Value{Value: 0, State: collector.Fresh}),
		rate("4", "a", config.Produce, collector.Value{Value: 5, State: collector.Stale}),
	})
	want := map[placeKey]bool{{"c", "1", "a", config.Produce}: true, {"c", "2", "a", config.Fetch}: true}
	if len(got) != len(want) {
		t.Fatalf("placements %v, want %v", got, want)
	}
	for k := range want {
		if !got[k] {
			t.Errorf("missing %+v in %v", k, got)
		}
	}
}

func TestBrokerObservations(t *testing.T) {
	fresh := func(v float64) collector.Value { return collector.Value{Value: v, State: collector.Fresh} }
	stale := collector.Value{Value: 1, State: collector.Stale}
	stats := func(broker string, s collector.BrokerStats) collector.BrokerStats {
		s.BrokerKey = collector.BrokerKey{Cluster: "prod-eu", Broker: broker}
		return s
	}
	cases := []struct {
		name   string
		stats  collector.BrokerStats
		dir    config.Direction
		idle   []alerting.BrokerObservation
		served []alerting.BrokerObservation
	}{
		{"the lower idle ratio; produce serves bytes in", stats("1", collector.BrokerStats{NetworkProcessorIdle: fresh(0.3), RequestHandlerIdle: fresh(0.2),
			BytesIn: fresh(70 * mib), BytesOut: fresh(10 * mib)}), config.Produce,
			[]alerting.BrokerObservation{{Cluster: "prod-eu", Group: "events", Broker: "1", Idle: 0.2}},
			[]alerting.BrokerObservation{{Cluster: "prod-eu", Group: "events", Broker: "1", Direction: "produce", Idle: 1, Served: 70 * mib, SafeCapacity: 90 * mib}}},
		{"a stale idle ratio is ignored; fetch serves bytes out", stats("2", collector.BrokerStats{NetworkProcessorIdle: stale, RequestHandlerIdle: fresh(0.6),
			BytesIn: fresh(70 * mib), BytesOut: fresh(10 * mib)}), config.Fetch,
			[]alerting.BrokerObservation{{Cluster: "prod-eu", Group: "events", Broker: "2", Idle: 0.6}},
			[]alerting.BrokerObservation{{Cluster: "prod-eu", Group: "events", Broker: "2", Direction: "fetch", Idle: 1, Served: 10 * mib, SafeCapacity: 90 * mib}}},
		{"nothing fresh: nothing observed", stats("3", collector.BrokerStats{NetworkProcessorIdle: stale, BytesIn: stale}), config.Produce, nil, nil},
		{"a broker not in the configuration or the plan", stats("9", collector.BrokerStats{RequestHandlerIdle: fresh(0.1), BytesIn: fresh(mib)}), config.Produce, nil, nil},
	}
	cfg := exampleConfig(t)
	ix := newIndex(cfg)
	plan := func(d config.Direction) []limiter.Plan {
		return []limiter.Plan{{Group: "events", Direction: d, Brokers: []limiter.BrokerLoad{{ID: 1, Safe: 90 * mib}, {ID: 2, Safe: 90 * mib}, {ID: 3, Safe: 90 * mib}}}}
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := brokerStats([]collector.BrokerStats{tc.stats})
			if got := idleObservations(cfg, st); !slices.Equal(got, tc.idle) {
				t.Errorf("idle %+v, want %+v", got, tc.idle)
			}
			if got := servedObservations(ix, st, plan(tc.dir)); !slices.Equal(got, tc.served) {
				t.Errorf("served %+v, want %+v", got, tc.served)
			}
		})
	}
}

func TestTargetObservations(t *testing.T) {
	cfg := exampleConfig(t)
	cases := []struct {
		name string
		in   collector.TargetStatus
		want alerting.TargetObservation
	}{
		{"a broker's metrics", collector.TargetStatus{Target: "http://kafka-2.internal.example:7071/metrics", Up: true},
			alerting.TargetObservation{Cluster: "prod-eu", Group: "events", Broker: "2", Target: "http://kafka-2.internal.example:7071/metrics", Up: true}},
		{"its host's metrics", collector.TargetStatus{Target: "http://kafka-3.internal.example:9100/metrics", Error: "connection refused"},
			alerting.TargetObservation{Cluster: "prod-eu", Group: "events", Broker: "3", Target: "http://kafka-3.internal.example:9100/metrics", Err: "connection refused"}},
		{"another group's broker", collector.TargetStatus{Target: "http://kafka-5.internal.example:7071/metrics", Up: true},
			alerting.TargetObservation{Cluster: "prod-eu", Group: "batch", Broker: "5", Target: "http://kafka-5.internal.example:7071/metrics", Up: true}},
		{"a target no broker names", collector.TargetStatus{Target: "http://elsewhere:1/metrics", Up: true},
			alerting.TargetObservation{Target: "http://elsewhere:1/metrics", Up: true}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := targetObservations(cfg, []collector.TargetStatus{tc.in})
			if len(got) != 1 || got[0] != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestApplyObservations(t *testing.T) {
	denied := errors.New("CLUSTER_AUTHORIZATION_FAILED")
	timeout := errors.New("request timed out")
	result := func(project string, o applier.Outcome, err error) applier.Result {
		return applier.Result{Change: applier.Change{Project: project}, Outcome: o, Err: err}
	}
	cases := []struct {
		name    string
		results []applier.Result
		want    []alerting.ApplyObservation
	}{
		{"nothing written: nothing to report", nil, nil},
		{"every write failed: the group fails with the first error",
			[]applier.Result{result("reporting", applier.Failed, denied), result("ml-features", applier.Failed, timeout)},
			[]alerting.ApplyObservation{{Cluster: "prod-eu", Group: "batch", Failed: true, Err: denied.Error()}}},
		{"one write landed: the group does not fail",
			[]applier.Result{result("checkout", applier.Written, nil), result("search", applier.Failed, timeout)},
			[]alerting.ApplyObservation{{Cluster: "prod-eu", Group: "events", Err: timeout.Error()}}},
		{"unchanged and shadow are not writes",
			[]applier.Result{result("checkout", applier.Unchanged, nil), result("search", applier.Shadow, nil)}, nil},
		{"unchanged beside a failure: the failure is every write",
			[]applier.Result{result("checkout", applier.Unchanged, nil), result("search", applier.Failed, timeout)},
			[]alerting.ApplyObservation{{Cluster: "prod-eu", Group: "events", Failed: true, Err: timeout.Error()}}},
		{"deferred and refused are writes that did not fail",
			[]applier.Result{result("checkout", applier.Deferred, nil), result("search", applier.Refused, nil), result("notifications", applier.Failed, timeout)},
			[]alerting.ApplyObservation{{Cluster: "prod-eu", Group: "events", Err: timeout.Error()}}},
		{"groups in name order",
			[]applier.Result{result("checkout", applier.Written, nil), result("reporting", applier.Written, nil)},
			[]alerting.ApplyObservation{{Cluster: "prod-eu", Group: "batch"}, {Cluster: "prod-eu", Group: "events"}}},
	}
	ix := newIndex(exampleConfig(t))
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := applyObservations(ix, tc.results); !slices.Equal(got, tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}
