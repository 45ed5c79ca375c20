package control

import (
	"context"
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/goleak"

	"github.com/headroomhq/headroom/config"
	"github.com/headroomhq/headroom/limiter"
	"github.com/headroomhq/headroom/limiter/applier"
	"github.com/headroomhq/headroom/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const mib = 1 << 20

// group: two brokers, "idle" uses 5 of its 45, "busy" wants demand on
// both brokers with share 20.
func group(busyDemand float64) *limiter.State {
	return &limiter.State{
		Group: "g1", Direction: config.Produce, Margin: 0.9,
		Brokers: []limiter.Broker{{ID: 1, Capacity: 100 * mib}, {ID: 2, Capacity: 100 * mib}},
		Options: limiter.Options{Hysteresis: 0.05, Headroom: 0.1, LenderSpare: 0.1},
		Projects: []limiter.Project{
			{Name: "idle", Share: 45 * mib, Floor: mib, Ceiling: 90 * mib, Weight: 1, Quota: 45 * mib,
				Loads: []limiter.Load{{Broker: 0, Rate: 5 * mib}, {Broker: 1, Rate: 5 * mib}}},
			{Name: "busy", Share: 20 * mib, Floor: mib, Ceiling: 90 * mib, Weight: 1, Quota: 20 * mib,
				Loads: []limiter.Load{{Broker: 0, Rate: busyDemand}, {Broker: 1, Rate: busyDemand}}},
		},
	}
}

// setup starts kfake (real Kafka protocol, in process), an applier on it
// and a SQLite store in a temp dir.
func setup(t *testing.T) (*kfake.Cluster, *applier.Applier, *store.DB) {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		c.Close()
		t.Fatal(err)
	}
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "h.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close(); cl.Close(); c.Close() })
	// The faults these tests inject are permanent, so the applier never
	// waits to retry: its clock is the default one.
	ap := applier.New(kadm.NewClient(cl), applier.Config{Attempts: 2})
	return c, ap, db
}

func TestStepAppliesRecordsAndKeepsLastGood(t *testing.T) {
	ctx := context.Background()
	c, ap, db := setup(t)
	ents := map[string]config.Entity{"idle": {User: "idle"}, "busy": {User: "busy"}}
	ctl := New(ap, db, "enforce", ents)
	t0 := time.Date(2026, 11, 23, 3, 0, 0, 0, time.UTC)

	// Round 0: busy wants 30 on each broker; it borrows.
	r0, err := ctl.Step(ctx, t0, []*limiter.State{group(30 * mib)})
	if err != nil {
		t.Fatal(err)
	}
	var busyQ float64
	for _, res := range r0.Results {
		if res.Outcome != applier.Written {
			t.Fatalf("round 0 %s: %s (%v)", res.Project, res.Outcome, res.Err)
		}
		if res.Project == "busy" {
			busyQ = res.InForce
		}
	}
	if busyQ < 30*mib {
		t.Fatalf("busy got %v MiB/s", busyQ/mib)
	}

	// Round 1: busy wants more than round 0 gave it (its target and a
	// share of the pool), but the broker now refuses its entity.
	h := c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.AlterClientQuotas}, Resource: "busy", Err: kerr.InvalidRequest, Count: -1})
	s1 := group(busyQ * 1.1)
	r1, err := ctl.Step(ctx, t0.Add(15*time.Second), []*limiter.State{s1})
	if err != nil {
		t.Fatal(err)
	}
	if s1.Projects[1].Quota != busyQ {
		t.Fatalf("round 1 planned from %v, want the last good %v", s1.Projects[1].Quota/mib, busyQ/mib)
	}
	var failed bool
	for _, res := range r1.Results {
		if res.Project == "busy" {
			failed = res.Outcome == applier.Failed && res.InForce == busyQ
		}
	}
	if !failed {
		t.Fatalf("round 1 results %+v", r1.Results)
	}
	e, err := db.DecisionAt(ctx, "busy", "produce", t0.Add(20*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if e.Round != 1 || e.Outcome != "failed" || e.After != busyQ || e.Error == "" {
		t.Fatalf("ledger: round %d outcome %s after %v error %q", e.Round, e.Outcome, e.After/mib, e.Error)
	}
	h.Remove()

	// Round 2: the fault is gone; the next state starts from the last good
	// value and the write lands.
	s2 := group(50 * mib)
	r2, err := ctl.Step(ctx, t0.Add(30*time.Second), []*limiter.State{s2})
	if err != nil {
		t.Fatal(err)
	}
	if s2.Projects[1].Quota != busyQ {
		t.Fatalf("round 2 planned from %v, want %v", s2.Projects[1].Quota/mib, busyQ/mib)
	}
	for _, res := range r2.Results {
		if res.Project == "busy" && (res.Outcome != applier.Written || res.InForce <= busyQ) {
			t.Fatalf("round 2 busy: %s in force %v", res.Outcome, res.InForce/mib)
		}
	}
}

func TestStepRecordsAGroupThatCouldNotBeApplied(t *testing.T) {
	ctx := context.Background()
	c, ap, db := setup(t)
	// The cluster refuses to say what is in force: nothing can be applied.
	h := c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.DescribeClientQuotas}, TopLevel: true, Err: kerr.ClusterAuthorizationFailed, Count: -1})
	defer h.Remove()
	ctl := New(ap, db, "enforce", map[string]config.Entity{"idle": {User: "idle"}, "busy": {User: "busy"}})
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, err := ctl.Step(ctx, at, []*limiter.State{group(30 * mib)}); err == nil {
		t.Fatal("an unreachable cluster went unreported")
	}
	e, err := db.DecisionAt(ctx, "busy", "produce", at)
	if err != nil {
		t.Fatal(err)
	}
	if e.Outcome != "failed" || e.After != 20*mib {
		t.Fatalf("ledger: outcome %s after %v", e.Outcome, e.After/mib)
	}
	// A project without an entity is an error too, recorded the same way.
	ctl = New(ap, db, "enforce", map[string]config.Entity{"idle": {User: "idle"}})
	if _, err := ctl.Step(ctx, at.Add(time.Minute), []*limiter.State{group(30 * mib)}); err == nil {
		t.Fatal("a project without an entity went unreported")
	}
	if e, err := db.DecisionAt(ctx, "busy", "produce", at.Add(time.Minute)); err != nil || e.Outcome != "failed" {
		t.Fatalf("ledger: %+v %v", e, err)
	}
}

// The controller feeds each plan's Decision.Owed back as the next round's
// Project.Owed: b, short of its demand, is held at its quota for a 4%
// increase in round 0 and gets it written in round 1, when what it is
// owed passes the 5% band (see limiter's TestOwedIncreaseIsWritten).
func TestStepFeedsBackWhatIsOwed(t *testing.T) {
	ctx := context.Background()
	_, ap, db := setup(t)
	ctl := New(ap, db, "enforce", map[string]config.Entity{"l": {User: "l"}, "b": {User: "b"}})
	t0 := time.Date(2026, 12, 3, 3, 0, 0, 0, time.UTC)
	state := func() *limiter.State {
		return &limiter.State{
			Group: "g1", Direction: config.Produce, Margin: 1,
			Brokers: []limiter.Broker{{ID: 1, Capacity: 101.5 * mib}},
			Options: limiter.Options{Hysteresis: 0.05, Headroom: 0.1, LenderSpare: 0.1},
			Projects: []limiter.Project{
				{Name: "l", Share: 50 * mib, Floor: mib, Ceiling: 100 * mib, Weight: 1, Quota: 48 * mib,
					Loads: []limiter.Load{{Broker: 0, Rate: 45 * mib}}},
				{Name: "b", Share: 50 * mib, Floor: mib, Ceiling: 100 * mib, Weight: 1, Quota: 50 * mib,
					Loads: []limiter.Load{{Broker: 0, Rate: 80 * mib, FromThrottle: true}}},
			},
		}
	}
	r0, err := ctl.Step(ctx, t0, []*limiter.State{state()})
	if err != nil {
		t.Fatal(err)
	}
	if len(r0.Results) != 0 {
		t.Fatalf("round 0 wrote %+v; want every increase held", r0.Results)
	}
	s1 := state()
	r1, err := ctl.Step(ctx, t0.Add(10*time.Second), []*limiter.State{s1})
	if err != nil {
		t.Fatal(err)
	}
	if got := s1.Projects[1].Owed; math.Abs(got-0.04) > 1e-9 {
		t.Fatalf("round 1 planned b with %v owed, want round 0's 0.04", got)
	}
	if len(r1.Results) != 1 || r1.Results[0].Project != "b" || r1.Results[0].Outcome != applier.Written || math.Abs(r1.Results[0].InForce-52*mib) > 1 {
		t.Fatalf("round 1 results %+v; want b written at 52MiB/s", r1.Results)
	}
}
