package daemon_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/headroomhq/headroom/internal/labrig"
	"github.com/headroomhq/headroom/internal/testpeer"
	"github.com/headroomhq/headroom/limiter/applier"
	"github.com/headroomhq/headroom/round"
	"github.com/headroomhq/headroom/simulations/demo"
	"github.com/headroomhq/headroom/simulations/lab"
)

// With the state topic gone, the active replica cannot save what it
// decides where a successor would find it: it holds the quotas in force,
// records why, and counts the failures in
// headroom_state_publish_errors_total.
func TestHAStateTopicUnreachableHoldsQuotas(t *testing.T) {
	rig := labrig.New(t, oneBroker, lab.Window{})
	cfg := rig.Config(demo.ConfigOptions{RoundInterval: time.Second}) +
		"ha:\n  group_id: headroom-test\n  session_timeout: 6s\n  lease: 1s\n"
	cfg = strings.Replace(cfg, "mode: shadow", "mode: enforce", 1)
	rig.WriteConfig(cfg)
	rig.Set("hot", 600e3)
	rig.Start()
	defer rig.Stop()
	// The single replica wins the election; until it leads it plays no
	// round, so Step waits for its status first.
	// Real bytes: the election through the lab's Kafka, read on serve's status.
	testpeer.Eventually(t, "the replica leading", 30*time.Second, func() bool {
		var s struct{ Active, Writable bool }
		if resp, err := http.Get(rig.URL + "/api/v1/status"); err == nil {
			_ = json.NewDecoder(resp.Body).Decode(&s)
			resp.Body.Close()
		}
		return s.Active && s.Writable
	})
	wrote := func(o round.Outcome) bool {
		for _, r := range o.Results {
			if r.Outcome == applier.Written {
				return true
			}
		}
		return false
	}
	var o round.Outcome
	for i := 0; i < 10 && !wrote(o); i++ {
		o = rig.Step(time.Second)
	}
	if !wrote(o) {
		t.Fatalf("no quota written in 10 rounds while leading: %+v", o.Results)
	}

	cl, err := kgo.NewClient(kgo.SeedBrokers(rig.Lab.Bootstrap()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).DeleteTopics(context.Background(), "_headroom_state"); err != nil {
		t.Fatal(err)
	}
	held := rig.Quota("hot")
	rig.Set("hot", 950e3) // the plan wants more for hot
	// Kafka's window (11 s) shows hot's new demand a little more each
	// round; the rounds run until the plan wants a write, at most 15.
	refused := 0
	for i := 0; i < 15 && refused == 0; i++ {
		o := rig.Step(time.Second)
		for _, r := range o.Results {
			if r.Outcome == applier.Written {
				t.Errorf("round %d wrote %s = %g with the state topic gone", o.Index, r.Project, r.Quota)
			}
			if r.Outcome == applier.Failed && r.Err != nil && strings.Contains(r.Err.Error(), "state topics unreachable") {
				refused++
			}
		}
	}
	if refused == 0 {
		t.Error("no planned write was refused for the unreachable state topic in 15 rounds")
	}
	if q := rig.Quota("hot"); q != held {
		t.Errorf("hot's quota moved from %g to %g with the state topic gone", held, q)
	}
	resp, err := http.Get(rig.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.Contains(string(b), "headroom_state_publish_errors_total 0\n") || !strings.Contains(string(b), "headroom_state_publish_errors_total ") {
		t.Error("headroom_state_publish_errors_total does not count the failures")
	}
}
