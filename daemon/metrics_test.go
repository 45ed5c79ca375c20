package daemon

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

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
