package labrig

import (
	"math"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/headroomhq/headroom/round"
	"github.com/headroomhq/headroom/simulations/demo"
	"github.com/headroomhq/headroom/simulations/lab"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const oneProject = `
name: rig
duration: 1h
brokers:
  count: 1
  capacity: {produce: 1MB/s, fetch: 2MB/s}
projects:
  - name: a
    produce: {share: 300kB/s}
    fetch: {share: 600kB/s}
    partitions: 1
    demand: {produce: {base: 50kB/s}}
`

func planned(o round.Outcome, project string) bool {
	for _, p := range o.Plans {
		for _, d := range p.Decisions {
			if d.Project == project && p.Direction.String() == "produce" {
				return true
			}
		}
	}
	return false
}

// TestStepAndRestart: each Step runs one round of the running daemon;
// after a restart at the same URL the numbering resumes from the store.
func TestStepAndRestart(t *testing.T) {
	r := New(t, oneProject, lab.Window{Samples: 3, SampleWindow: time.Second})
	r.Set("a", 50e3)
	r.WriteConfig(r.Config(demo.ConfigOptions{RoundInterval: time.Second}))
	if q := r.Quota("nobody"); !math.IsNaN(q) {
		t.Fatalf("quota of a project the lab does not have: %v, want NaN", q)
	}
	r.Start()
	url := r.URL
	var last int64
	for i := range 2 {
		o := r.Step(100 * time.Millisecond)
		if i > 0 && o.Index != last+1 {
			t.Fatalf("round %d after round %d", o.Index, last)
		}
		if !planned(o, "a") {
			t.Fatalf("round %d planned no produce quota for a: %+v", o.Index, o.Plans)
		}
		last = o.Index
	}
	r.Stop()
	r.Start()
	if o := r.Step(0); o.Index != last+1 || r.URL != url {
		t.Fatalf("after the restart: round %d at %s, want round %d at %s", o.Index, r.URL, last+1, url)
	}
	if n := len(r.Rounds()); n != 3 {
		t.Fatalf("%d outcomes recorded, want 3", n)
	}
	if q := r.Quota("a"); !(q > 0) {
		t.Fatalf("the lab holds no produce quota for a: %v", q)
	}
}
