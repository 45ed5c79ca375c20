package collector

import (
	"testing"
	"time"

	"github.com/headroomhq/headroom/config"
)

// TestExemptEntitiesReportedApart: an exempt entity's per-entity bytes are
// reported per broker under its name, in its own cluster only, never as a
// project's; an entity neither a project's nor exempt is not reported.
func TestExemptEntitiesReportedApart(t *testing.T) {
	own, err := NewOwnership([]config.ProjectConfig{{Name: "alpha", Entity: config.Entity{ClientID: "alpha"},
		Topics: config.TopicsConfig{Prefixes: []string{"alpha."}}}})
	if err != nil {
		t.Fatal(err)
	}
	own.WithExempt([]config.ClusterConfig{
		{Name: "eu", Exempt: []config.ExemptConfig{{Name: "mm2", Entity: config.Entity{User: "mirror"}}}},
		{Name: "us"},
	})
	bytes := func(user, client string, d config.Direction, v float64) RatedPoint {
		return RatedPoint{PointKey: PointKey{Kind: KindClientBytes, Dir: d, User: user, ClientID: client}, Value: v, State: Fresh}
	}
	points := []RatedPoint{
		bytes("", "alpha", config.Produce, 100),
		bytes("mirror", "mm2-a", config.Produce, 1000), // the user matches; the client id is not configured
		bytes("mirror", "mm2-b", config.Produce, 500),  // a second client of the same user adds up
		bytes("mirror", "", config.Fetch, 300),
		bytes("someone", "else", config.Produce, 7000),
	}
	data := func(cluster string, up bool) TargetData {
		return TargetData{
			Target: Target{URL: "http://" + cluster + ":7071/metrics", Profile: config.ProfileKafkaJMX, Cluster: cluster, BrokerID: "1"},
			Status: TargetStatus{Target: "http://" + cluster + ":7071/metrics", Up: up},
			Points: points,
		}
	}
	s := Assemble(time.Unix(0, 0), own, []TargetData{data("eu", true), data("us", true)})
	// Keyed by direction: the snapshot's order is the sort's business.
	want := map[config.Direction]ExemptRate{
		config.Produce: {BrokerKey{"eu", "1"}, "mm2", config.Produce, Value{1500, Fresh}},
		config.Fetch:   {BrokerKey{"eu", "1"}, "mm2", config.Fetch, Value{300, Fresh}},
	}
	if len(s.Exempt) != len(want) {
		t.Fatalf("exempt = %+v, want %+v", s.Exempt, want)
	}
	for _, got := range s.Exempt {
		if got != want[got.Direction] {
			t.Errorf("exempt %+v, want %+v", got, want[got.Direction])
		}
	}
	for _, p := range s.Projects {
		if p.Project == "alpha" && p.Direction == config.Produce && p.Rate.Value != 100 {
			t.Errorf("alpha's produce = %v, want 100 (the exempt bytes are not a project's)", p.Rate)
		}
	}

	// A broker that is down reports its last figures as stale.
	s = Assemble(time.Unix(0, 0), own, []TargetData{data("eu", false)})
	if len(s.Exempt) != 2 || s.Exempt[0].Rate.State != Stale {
		t.Errorf("down broker: exempt = %+v, want two stale rates", s.Exempt)
	}
}
