package round

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/headroomhq/headroom/config"
	"github.com/headroomhq/headroom/limiter"
)

// Every quota write outcome is exported at zero before the first round,
// so that increase() over a first failure sees it.
func TestQuotaWriteOutcomesStartAtZero(t *testing.T) {
	reg := prometheus.NewRegistry()
	newMetrics(reg)
	want := `
# HELP headroom_quota_writes_total Planned quota changes by what became of them (written, unchanged, deferred, failed, refused, shadow). A change too small to be worth a write is never planned: headroom_decisions_total counts it with reason held_hysteresis.
# TYPE headroom_quota_writes_total counter
headroom_quota_writes_total{outcome="deferred"} 0
headroom_quota_writes_total{outcome="failed"} 0
headroom_quota_writes_total{outcome="refused"} 0
headroom_quota_writes_total{outcome="shadow"} 0
headroom_quota_writes_total{outcome="unchanged"} 0
headroom_quota_writes_total{outcome="written"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "headroom_quota_writes_total"); err != nil {
		t.Fatal(err)
	}
}

// A broker's reserve for exempt traffic is exported while it has one, and
// its series goes away when the traffic stops.
func TestBrokerReservedExportedWhileThere(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := newMetrics(reg)
	plan := func(reserved float64) limiter.Plan {
		return limiter.Plan{Group: "events", Direction: config.Produce,
			Brokers: []limiter.BrokerLoad{{ID: 1, Safe: 90 - reserved, Reserved: reserved}, {ID: 2, Safe: 90}}}
	}
	m.observe(&Outcome{Plans: []limiter.Plan{plan(30)}}, nil)
	want := `
# HELP headroom_broker_reserved_bytes What a broker keeps back for the cluster's exempt entities (traffic Headroom never throttles) before lending, bytes/s; only brokers that carry exempt traffic.
# TYPE headroom_broker_reserved_bytes gauge
headroom_broker_reserved_bytes{broker="1",direction="produce",group="events"} 30
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "headroom_broker_reserved_bytes"); err != nil {
		t.Fatal(err)
	}
	m.observe(&Outcome{Plans: []limiter.Plan{plan(0)}}, nil)
	if n := testutil.CollectAndCount(m.reserved.vec); n != 0 {
		t.Fatalf("%d reserve series after the exempt traffic stopped, want none", n)
	}
}
