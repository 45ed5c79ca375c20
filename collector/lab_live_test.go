package collector

import (
	"context"
	"math"
	"strconv"
	"testing"
	"time"

	"github.com/headroomhq/headroom/config"
	"github.com/headroomhq/headroom/simulations/lab"
)

// Offered load of the live lab test, bytes/s summed over brokers.
const (
	liveAProduce = 1 << 20   // a: per-client quota sensors (quota set, far above the load)
	liveAFetch   = 1 << 20   // a's consumer reads everything a produces
	liveBProduce = 768 << 10 // b: no quota, so per-topic series mapped by ownership
)

// startLiveLab runs a two-broker lab with steady load: project a spread
// evenly, project b skewed 1:2 towards broker 1.
func startLiveLab(t *testing.T) (*lab.Cluster, []Target) {
	t.Helper()
	c, err := lab.Start(t.Context(), lab.Config{
		Brokers: 2,
		// Kafka's default quota window (11 × 1 s): the per-client byte-rate
		// gauges are read at one instant, so they must not follow every
		// lump of a loaded machine.
		Window:   lab.DefaultWindow,
		Capacity: lab.Rates{Produce: 32 << 20, Fetch: 32 << 20},
		Projects: []lab.Project{
			{Name: "a", Quota: lab.Rates{Produce: 256 << 20, Fetch: 256 << 20}},
			{Name: "b", Leaders: []int32{0, 1, 1}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	load, err := lab.StartLoad(t.Context(), c, map[string]lab.DemandFunc{
		"a": func(time.Time) lab.Rates { return lab.Rates{Produce: liveAProduce, Fetch: liveAFetch} },
		"b": func(time.Time) lab.Rates { return lab.Rates{Produce: liveBProduce} },
	}, lab.LoadOptions{RecordSize: 4 << 10})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(load.Close)
	var targets []Target
	for id, u := range c.MetricsURLs() {
		targets = append(targets, Target{URL: u, Profile: config.ProfileKafkaJMX, Cluster: "lab", BrokerID: strconv.Itoa(int(id))})
	}
	return c, targets
}

func liveProjects() []config.ProjectConfig {
	return []config.ProjectConfig{
		{Name: "a", Entity: config.Entity{ClientID: "a"}, Topics: config.TopicsConfig{Prefixes: []string{"a."}}},
		// b is mapped by a user its clients do not authenticate as. Kafka
		// measures every client once a quota is in force, tagged by the
		// kinds of entity quotas are on (here client ids, for a), so b's
		// bytes reach no sensor Headroom can match to b: they come from
		// its topics.
		{Name: "b", Entity: config.Entity{User: "b-user"}, Topics: config.TopicsConfig{Prefixes: []string{"b."}}},
	}
}

// pause lets real time pass while the lab's load flows: rates are measured
// over wall-clock intervals, so the test must span one.
func pause(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case <-time.After(d):
	case <-t.Context().Done():
	}
}

// TestLabScrapedLive scrapes a running lab cluster with real franz-go load
// and checks that the project rates in the Snapshot match the offered load
// within 5%, in total and per broker, through both mappings: per-client
// quota sensors (a) and per-topic series by ownership (b).
func TestLabScrapedLive(t *testing.T) {
	_, targets := startLiveLab(t)
	c, err := New(Options{Config: testCollectorConfig(), Projects: liveProjects(), Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	pause(t, 12*time.Second) // a full quota window (11 s) of steady load
	c.Round(ctx, targets)    // first sight of the counters
	pause(t, 6*time.Second)
	s := c.Round(ctx, targets)
	for _, st := range s.Targets {
		if !st.Up || st.Stale {
			t.Fatalf("target %+v", st)
		}
	}
	type key struct {
		project string
		dir     config.Direction
	}
	total := map[key]float64{}
	perBroker := map[key]map[string]float64{}
	sources := map[key]Source{}
	for _, p := range s.Projects {
		if !p.Rate.OK() {
			t.Errorf("rate not fresh: %+v", p)
		}
		k := key{p.Project, p.Direction}
		total[k] += p.Rate.Value
		if perBroker[k] == nil {
			perBroker[k] = map[string]float64{}
		}
		perBroker[k][p.Broker] += p.Rate.Value
		sources[k] = p.Source
	}
	cases := []struct {
		k      key
		source Source
		want   float64
		split  map[string]float64 // share per broker
	}{
		{key{"a", config.Produce}, FromClientQuota, liveAProduce, map[string]float64{"0": 0.5, "1": 0.5}},
		{key{"a", config.Fetch}, FromClientQuota, liveAFetch, map[string]float64{"0": 0.5, "1": 0.5}},
		{key{"b", config.Produce}, FromTopics, liveBProduce, map[string]float64{"0": 1.0 / 3, "1": 2.0 / 3}},
	}
	for _, tc := range cases {
		if sources[tc.k] != tc.source {
			t.Errorf("%v: source %q, want %q", tc.k, sources[tc.k], tc.source)
		}
		if got := total[tc.k]; math.Abs(got-tc.want) > 0.05*tc.want {
			t.Errorf("%v: %.0f B/s over all brokers, offered %.0f (±5%%)", tc.k, got, tc.want)
		}
		for b, share := range tc.split {
			want := tc.want * share
			if got := perBroker[tc.k][b]; math.Abs(got-want) > 0.05*want {
				t.Errorf("%v broker %s: %.0f B/s, offered %.0f (±5%%)", tc.k, b, got, want)
			}
		}
		t.Logf("%v: %.0f B/s (offered %.0f), per broker %v", tc.k, total[tc.k], tc.want, perBroker[tc.k])
	}
	if got := total[key{"b", config.Fetch}]; got != 0 {
		t.Errorf("b fetch: %.0f B/s, nobody consumes b", got)
	}
}
