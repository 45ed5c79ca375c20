package round

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
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
