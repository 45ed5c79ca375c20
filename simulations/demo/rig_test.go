package demo_test

import (
	"context"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/headroomhq/headroom/internal/labrig"
	"github.com/headroomhq/headroom/round"
	"github.com/headroomhq/headroom/simulations/demo"
	"github.com/headroomhq/headroom/simulations/lab"
	"github.com/headroomhq/headroom/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newRig is a lab for the scenario text (rates as written, scale 1) under
// the daemon's configuration at the given round interval, with demand set
// by the test; the daemon is started by the test.
func newRig(t *testing.T, scenarioYAML string, round time.Duration) *labrig.Rig {
	return newRigWindow(t, scenarioYAML, round, lab.DefaultWindow)
}

// newRigWindow is newRig with the brokers' quota window set (Kafka's
// quota.window.num × quota.window.size.seconds), and Headroom's
// limiter.throttle_window set to match.
func newRigWindow(t *testing.T, scenarioYAML string, round time.Duration, w lab.Window) *labrig.Rig {
	t.Helper()
	r := labrig.New(t, scenarioYAML, w)
	r.WriteConfig(r.Config(demo.ConfigOptions{RoundInterval: round}))
	return r
}

func stats(t *testing.T, r *labrig.Rig, project string) lab.LoadStats {
	t.Helper()
	for _, s := range r.Load.Stats() {
		if s.Project == project {
			return s
		}
	}
	t.Fatalf("no load for project %s", project)
	return lab.LoadStats{}
}

func openStore(t *testing.T, r *labrig.Rig) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), r.StorePath)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func decision(o round.Outcome, project, dir string) (d struct {
	Before, After, Demand float64
	Reasons               []string
}, ok bool) {
	for _, p := range o.Plans {
		if p.Direction.String() != dir {
			continue
		}
		for _, x := range p.Decisions {
			if x.Project == project {
				d.Before, d.After, d.Demand = x.Before, x.After, x.Demand
				for _, r := range x.Reasons {
					d.Reasons = append(d.Reasons, string(r))
				}
				return d, true
			}
		}
	}
	return d, false
}
