package record

import (
	"context"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"

	"github.com/headroomhq/headroom/config"
	"github.com/headroomhq/headroom/limiter"
	"github.com/headroomhq/headroom/limiter/applier"
	"github.com/headroomhq/headroom/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const mib = 1 << 20

// twoProjects is a group of two brokers where "idle" uses little of its
// share and "busy" wants three times its own.
func twoProjects(idleQuota, busyQuota float64) *limiter.State {
	window := float64(limiter.DefaultThrottleWindow.Milliseconds())
	busyDemand := 60.0 * mib
	throttle := 0.0
	if busyDemand > busyQuota {
		throttle = (busyDemand - busyQuota) / busyQuota * window
	}
	load := func(b int, rate, thr float64) limiter.Load {
		return limiter.Load{Broker: b, Observed: rate, Rate: rate, ThrottleMs: thr}
	}
	return &limiter.State{
		Group: "g1", Direction: config.Produce, Margin: 0.9,
		Brokers: []limiter.Broker{{ID: 1, Capacity: 100 * mib}, {ID: 2, Capacity: 100 * mib}},
		Options: limiter.Options{Hysteresis: 0.05, Headroom: 0.1, LenderSpare: 0.1},
		Projects: []limiter.Project{
			{Name: "idle", Share: 45 * mib, Floor: 1 * mib, Ceiling: 90 * mib, Weight: 1, Quota: idleQuota,
				Loads: []limiter.Load{load(0, 5*mib, 0), load(1, 4*mib, 0)}},
			{Name: "busy", Share: 20 * mib, Floor: 1 * mib, Ceiling: 90 * mib, Weight: 1, Quota: busyQuota,
				Loads: []limiter.Load{load(0, min(busyDemand, busyQuota), throttle), load(1, 10*mib, 0)}},
		},
	}
}

func TestWhyDidProjectHaveQuotaAtTime(t *testing.T) {
	ctx := context.Background()
	c, err := kfake.NewCluster(kfake.NumBrokers(2))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ap := applier.New(kadm.NewClient(cl), applier.Config{})
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "headroom.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	entities := map[string]config.Entity{"idle": {User: "idle-svc"}, "busy": {User: "busy-svc", ClientID: "busy-app"}}
	names := map[string]string{}
	for p, e := range entities {
		names[p] = e.String()
	}
	t0 := time.Date(2026, 11, 23, 3, 0, 0, 0, time.UTC)
	idleQ, busyQ := 45.0*mib, 20.0*mib
	for round := range int64(3) {
		plan := limiter.Allocate(twoProjects(idleQ, busyQ))
		changes, err := applier.FromPlan(plan, entities)
		if err != nil {
			t.Fatal(err)
		}
		results, err := ap.Apply(ctx, changes)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.RecordDecisions(ctx, Entries(t0.Add(time.Duration(round)*15*time.Second), round, "enforce", plan, names, results)); err != nil {
			t.Fatal(err)
		}
		for _, r := range results {
			if r.Outcome != applier.Written && r.Outcome != applier.Unchanged {
				t.Fatalf("round %d: %s %s (%v)", round, r.Project, r.Outcome, r.Err)
			}
			if r.Project == "idle" {
				idleQ = r.InForce
			} else {
				busyQ = r.InForce
			}
		}
	}
	if !(busyQ > 20*mib && idleQ < 45*mib) {
		t.Fatalf("no borrowing happened: idle %v busy %v", idleQ, busyQ)
	}

	// Why did busy have its quota a little after the first round?
	e, err := db.DecisionAt(ctx, "busy", "produce", t0.Add(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if e.Round != 0 || e.Entity != "user=busy-svc,client-id=busy-app" {
		t.Fatalf("entry round %d entity %q", e.Round, e.Entity)
	}
	if len(e.BorrowedFrom) == 0 || e.BorrowedFrom[0].Project != "idle" {
		t.Fatalf("busy borrowed from %v, want idle first", e.BorrowedFrom)
	}
	var sum float64
	for _, b := range e.BorrowedFrom {
		sum += b.Bytes
	}
	if math.Abs(sum-(e.After-e.Share)) > 1e-6*e.After {
		t.Fatalf("borrowed amounts sum to %v, quota above share is %v", sum, e.After-e.Share)
	}
	text := Explain(e)
	for _, want := range []string{"project busy", "user=busy-svc,client-id=busy-app", "It borrowed", "idle", "borrowed_from", "written to the cluster", "It was 20.0 MiB/s before"} {
		if !strings.Contains(text, want) {
			t.Errorf("explanation lacks %q:\n%s", want, text)
		}
	}
	l, err := db.DecisionAt(ctx, "idle", "produce", t0.Add(20*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if lt := Explain(l); !strings.Contains(lt, "It lent") || !strings.Contains(lt, "busy") || !strings.Contains(lt, "It did not change this round") {
		t.Errorf("lender explanation lacks whom it lent to:\n%s", lt)
	}
}

func TestEntriesRecordFailuresWithTheQuotaKept(t *testing.T) {
	plan := limiter.Plan{Group: "g", Direction: config.Fetch, Decisions: []limiter.Decision{
		{Project: "a", Before: 10, After: 5, Write: true},
		{Project: "b", Before: 10, After: 10, Reasons: []limiter.Reason{limiter.ReasonHeldMissingData}},
		{Project: "c", Before: 10, After: 12, Write: true},
	}}
	results := []applier.Result{
		{Change: applier.Change{Project: "a", Direction: config.Fetch}, Outcome: applier.Failed, InForce: 10, Err: errTest},
	}
	es := Entries(time.Unix(0, 0), 7, "enforce", plan, nil, results)
	if len(es) != 3 {
		t.Fatalf("%d entries", len(es))
	}
	if es[0].Outcome != "failed" || es[0].After != 10 || es[0].Error == "" {
		t.Fatalf("failed write recorded as %+v", es[0])
	}
	if es[1].Outcome != OutcomeHeld || es[2].Outcome != OutcomePlanned {
		t.Fatalf("outcomes %q %q", es[1].Outcome, es[2].Outcome)
	}
}

type testErr struct{}

func (testErr) Error() string { return "broker said no" }

var errTest = testErr{}
