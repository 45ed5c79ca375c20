package whatif

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/headroomhq/headroom/config"
	"github.com/headroomhq/headroom/limiter/overrides"
	"github.com/headroomhq/headroom/store"
)

func setup(t *testing.T) (*store.DB, *config.Config, time.Time) {
	t.Helper()
	cfg, err := config.LoadFile("../examples/headroom.yml")
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "h.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, cfg, time.Date(2026, 11, 23, 4, 0, 0, 0, time.UTC)
}

func TestReplayComparesChange(t *testing.T) {
	db, cfg, now := setup(t)
	// An hour of rounds: checkout wants 60MiB/s per broker (share 30),
	// search 5MiB/s (share 30), notifications 10MiB/s (share 20).
	var es []store.LedgerEntry
	for i := range 240 {
		at := now.Add(-time.Hour + time.Duration(i)*15*time.Second)
		for p, demand := range map[string]float64{"checkout": 60, "search": 5, "notifications": 10} {
			for _, d := range []string{"produce", "fetch"} {
				es = append(es, store.LedgerEntry{At: at, Group: "events", Direction: d, Project: p, Outcome: "written", Demand: demand * (1 << 20)})
			}
		}
	}
	if err := db.RecordDecisions(context.Background(), es); err != nil {
		t.Fatal(err)
	}
	ceiling, _ := config.ParseRate("35MiB/s")
	ans, err := Run(context.Background(), db, cfg, Change{Kind: overrides.KindProject, Name: "checkout",
		Spec: overrides.Spec{Produce: &overrides.Quota{Ceiling: &ceiling}}}, time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	if ans.Group != "events" || ans.Rounds < 200 {
		t.Fatalf("answer %+v", ans)
	}
	c, p, s := ans.Current, ans.Proposed, ans.Static
	if c.DemandBytes <= 0 || c.DemandBytes != p.DemandBytes {
		t.Fatalf("replays saw different demand: %v vs %v", c.DemandBytes, p.DemandBytes)
	}
	if !(p.ThrottledBytes > c.ThrottledBytes) {
		t.Errorf("capping the borrower did not add throttling: current %v proposed %v", c.ThrottledBytes, p.ThrottledBytes)
	}
	if !(s.ThrottledBytes > c.ThrottledBytes) {
		t.Errorf("static %v should throttle more than Headroom %v here", s.ThrottledBytes, c.ThrottledBytes)
	}
	if c.OverloadRounds != 0 || p.OverloadRounds != 0 {
		t.Errorf("overload: current %d proposed %d", c.OverloadRounds, p.OverloadRounds)
	}
}

func TestErrors(t *testing.T) {
	db, cfg, now := setup(t)
	w := 2.0
	_, err := Run(context.Background(), db, cfg, Change{Kind: overrides.KindProject, Name: "checkout", Spec: overrides.Spec{Produce: &overrides.Quota{Weight: &w}}}, time.Hour, now)
	if !errors.Is(err, ErrNoData) {
		t.Fatalf("empty ledger: %v", err)
	}
	if _, err := Run(context.Background(), db, cfg, Change{Kind: overrides.KindProject, Name: "nope", Spec: overrides.Spec{Produce: &overrides.Quota{Weight: &w}}}, time.Hour, now); err == nil {
		t.Fatal("unknown project accepted")
	}
	if _, err := Run(context.Background(), db, cfg, Change{Kind: overrides.KindProject, Name: "checkout"}, 30*24*time.Hour, now); err == nil {
		t.Fatal("a month-long window accepted")
	}
}
