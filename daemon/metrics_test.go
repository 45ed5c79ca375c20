package daemon

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/headroomhq/headroom/alerting"
	"github.com/headroomhq/headroom/store"
)

func TestAlertsByState(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "h.db"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_700_000_000, 0)
	for i, state := range []string{"firing", "firing", "acknowledged"} {
		in := store.Incident{Fingerprint: string(rune('a' + i)), AlertName: "ProjectThrottled", State: state, OpenedAt: now, UpdatedAt: now}
		if _, err := db.OpenIncident(ctx, in, store.IncidentStep{At: now, To: state, Actor: "test", Action: "open"}); err != nil {
			t.Fatal(err)
		}
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(newAlertsCollector(db))
	want := `
# HELP headroom_alerts Alert incidents by lifecycle state (detected, firing, acknowledged, handling, resolved, escalated).
# TYPE headroom_alerts gauge
headroom_alerts{state="acknowledged"} 1
headroom_alerts{state="detected"} 0
headroom_alerts{state="escalated"} 0
headroom_alerts{state="firing"} 2
headroom_alerts{state="handling"} 0
headroom_alerts{state="resolved"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "headroom_alerts"); err != nil {
		t.Fatal(err)
	}
	// A closed store leaves the metric out with an error, never zeros.
	db.Close()
	if _, err := reg.Gather(); err == nil {
		t.Fatal("gathering from a closed store reported no error")
	}
}

func TestObservationMetrics(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	now := t0
	c := newObservationCollector(func() time.Time { return now }, func() time.Duration { return 45 * time.Second })
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	c.set(alerting.Observation{Time: t0, Cluster: "main",
		Projects: []alerting.ProjectObservation{
			// 100 wanted, 80 served under a quota of 90: 20% throttled.
			{Group: "g", Project: "a", Direction: "produce", Demand: 100, Served: 80, Quota: 90},
			// Served above the quota (the quota window's lag) counts as
			// the quota: (200 - 150) / 200.
			{Group: "g", Project: "b", Direction: "fetch", Demand: 200, Served: 190, Quota: 150},
			// No demand: no ratio.
			{Group: "g", Project: "c", Direction: "produce", Demand: 0, Served: 0, Quota: 10},
		},
		Groups: []alerting.GroupObservation{
			{Cluster: "other", Group: "g", Direction: "produce", Demand: 90, SafeCapacity: 120},
			{Group: "h", Direction: "produce", Demand: 90, SafeCapacity: 0},
		},
		Brokers: []alerting.BrokerObservation{
			{Group: "g", Broker: "1", Idle: 0.25},
			{Group: "g", Broker: "1", Direction: "produce", Idle: 1, Served: 150, SafeCapacity: 100},
		},
		Lag: []alerting.LagObservation{
			{ConsumerGroup: "c1", Topic: "t", Project: "a", Status: "OK", Lag: 3},
			{ConsumerGroup: "c2", Topic: "t", Project: "a", Status: "WARN", Growing: true, Lag: 40},
			{ConsumerGroup: "c3", Topic: "u", Status: "STALL", Growing: true, Lag: 7},
		},
	})
	want := `
# HELP headroom_broker_idle_ratio The lower of a broker's network processor and request handler idle ratios, in the last round.
# TYPE headroom_broker_idle_ratio gauge
headroom_broker_idle_ratio{broker="1",cluster="main",group="g"} 0.25
# HELP headroom_broker_load_ratio Bytes a broker served over its safe capacity (margin x capacity), in the last round.
# TYPE headroom_broker_load_ratio gauge
headroom_broker_load_ratio{broker="1",cluster="main",direction="produce",group="g"} 1.5
# HELP headroom_consumer_lag_messages Messages a consumer group has yet to consume on a topic, in the last round.
# TYPE headroom_consumer_lag_messages gauge
headroom_consumer_lag_messages{cluster="main",consumer_group="c1",project="a",topic="t"} 3
headroom_consumer_lag_messages{cluster="main",consumer_group="c2",project="a",topic="t"} 40
headroom_consumer_lag_messages{cluster="main",consumer_group="c3",project="",topic="u"} 7
# HELP headroom_consumer_lag_status Burrow-style status of a consumer group on a topic: 0 OK, 1 WARN (lag growing), 2 STALL, STOP or ERR.
# TYPE headroom_consumer_lag_status gauge
headroom_consumer_lag_status{cluster="main",consumer_group="c1",project="a",topic="t"} 0
headroom_consumer_lag_status{cluster="main",consumer_group="c2",project="a",topic="t"} 1
headroom_consumer_lag_status{cluster="main",consumer_group="c3",project="",topic="u"} 2
# HELP headroom_group_utilization_ratio Demand at the group's most loaded broker over its safe capacity (margin x capacity), in the last round.
# TYPE headroom_group_utilization_ratio gauge
headroom_group_utilization_ratio{cluster="other",direction="produce",group="g"} 0.75
# HELP headroom_project_throttled_ratio Share of the project's demand not let through at its hottest broker, (demand - min(served, quota)) / demand, in the last round.
# TYPE headroom_project_throttled_ratio gauge
headroom_project_throttled_ratio{cluster="main",direction="fetch",group="g",project="b"} 0.25
headroom_project_throttled_ratio{cluster="main",direction="produce",group="g",project="a"} 0.2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}

	// Three rounds later with no new observation, nothing is exported.
	now = t0.Add(46 * time.Second)
	if n, err := testutil.GatherAndCount(reg); err != nil || n != 0 {
		t.Fatalf("a stale observation exported %d series (err %v)", n, err)
	}
}
