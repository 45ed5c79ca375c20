package promapi

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/headroomhq/headroom/collector"
	"github.com/headroomhq/headroom/config"
	"github.com/headroomhq/headroom/internal/testpeer"
	"github.com/headroomhq/headroom/simulations/lab"
)

// TestPromQLOverLabMatchesDirectScraping runs a real Prometheus (Debian)
// scraping a running lab cluster under real franz-go load, and checks that
// the Snapshot read through PromQL equals direct scraping: broker totals and
// per-topic project rates (b) within 5% under load, and the per-client quota
// sensors (a) exactly once the load is stopped and the sensors' clock is
// frozen.
//
// The per-client sensors are gauges of a windowed rate, read at one instant:
// Prometheus holds the value of its last scrape (up to one scrape interval
// old), the direct collector the value now. Under load on a busy machine a
// one-second stall moves an 11 s windowed rate by 1/11, so comparing the two
// while the load runs would measure the machine, not the mapping.
func TestPromQLOverLabMatchesDirectScraping(t *testing.T) {
	clock := &freezable{}
	c, err := lab.Start(t.Context(), lab.Config{
		Now:     clock.Now,
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
	defer c.Close()
	load, err := lab.StartLoad(t.Context(), c, map[string]lab.DemandFunc{
		"a": func(time.Time) lab.Rates { return lab.Rates{Produce: 1 << 20, Fetch: 1 << 20} },
		"b": func(time.Time) lab.Rates { return lab.Rates{Produce: 768 << 10} },
	}, lab.LoadOptions{RecordSize: 4 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer load.Close()

	var targets []collector.Target
	var hosts []string
	for id, u := range c.MetricsURLs() {
		targets = append(targets, collector.Target{URL: u, Profile: config.ProfileKafkaJMX, Cluster: "lab", BrokerID: strconv.Itoa(int(id))})
		pu, _ := url.Parse(u)
		hosts = append(hosts, strconv.Quote(pu.Host))
	}
	prom := testpeer.Prometheus(t, fmt.Sprintf(`
global: {scrape_interval: 1s, scrape_timeout: 1s}
scrape_configs:
  - job_name: lab
    static_configs: [{targets: [%s]}]
`, strings.Join(hosts, ", ")))
	projects := []config.ProjectConfig{
		{Name: "a", Entity: config.Entity{ClientID: "a"}, Topics: config.TopicsConfig{Prefixes: []string{"a."}}},
		// b is mapped by a user its clients do not authenticate as. Kafka
		// measures every client once a quota is in force, tagged by the
		// kinds of entity quotas are on (here client ids, for a), so b's
		// bytes reach no sensor Headroom can match to b: they come from
		// its topics.
		{Name: "b", Entity: config.Entity{User: "b-user"}, Topics: config.TopicsConfig{Prefixes: []string{"b."}}},
	}
	const window = 6 * time.Second
	direct, err := collector.New(collector.Options{Config: config.DefaultCollectorConfig(), Projects: projects, Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	src, err := New(Options{Address: prom.URL, Window: "6s", Projects: projects, Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	// Wait (with a deadline) until Prometheus holds a full rate window of
	// both brokers and the lab's quota window (11 s) is full of load.
	loadSince := time.Now()
	deadline := time.Now().Add(60 * time.Second)
	for {
		vec, qerr := src.query(ctx, `count(count_over_time(up[6s]) >= 6)`, time.Now())
		if qerr == nil && len(vec) == 1 && vec[0].Value == 2 && time.Since(loadSince) > 12*time.Second-window {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Prometheus never had a full window of both brokers: %v %v\n%s", vec, qerr, prom.Logs())
		}
		select {
		case <-time.After(250 * time.Millisecond):
		case <-t.Context().Done():
		}
	}
	direct.Round(ctx, targets) // first sight of the counters
	select {
	case <-time.After(window):
	case <-t.Context().Done():
	}
	scraped := direct.Round(ctx, targets)
	viaProm, err := src.Snapshot(ctx, targets)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range append(scraped.Targets, viaProm.Targets...) {
		if !st.Up {
			t.Errorf("target down: %+v", st)
		}
	}
	if len(scraped.Brokers) != 2 || len(viaProm.Brokers) != 2 {
		t.Fatalf("brokers: direct %+v, promql %+v", scraped.Brokers, viaProm.Brokers)
	}
	for i := range scraped.Brokers {
		d, p := scraped.Brokers[i], viaProm.Brokers[i]
		for _, v := range []struct {
			what   string
			d, p   collector.Value
			minVal float64
		}{
			{"bytes_in", d.BytesIn, p.BytesIn, 100_000},
			{"bytes_out", d.BytesOut, p.BytesOut, 100_000},
			{"request_handler_idle", d.RequestHandlerIdle, p.RequestHandlerIdle, 0.5},
		} {
			if d.BrokerKey != p.BrokerKey || !v.d.OK() || !v.p.OK() || v.d.Value < v.minVal || !within(v.d.Value, v.p.Value, 0.05) {
				t.Errorf("broker %s %s: direct %+v, promql %+v", d.Broker, v.what, v.d, v.p)
			}
		}
	}
	if len(scraped.Projects) != len(viaProm.Projects) || len(scraped.Projects) == 0 {
		t.Fatalf("projects: direct %+v, promql %+v", scraped.Projects, viaProm.Projects)
	}
	sources := map[string]collector.Source{}
	for i := range scraped.Projects {
		d, p := scraped.Projects[i], viaProm.Projects[i]
		sources[d.Project+"/"+d.Direction.String()] = d.Source
		if d.BrokerKey != p.BrokerKey || d.Project != p.Project || d.Direction != p.Direction || d.Source != p.Source ||
			!d.Rate.OK() || !p.Rate.OK() {
			t.Errorf("project rate: direct %+v, promql %+v", d, p)
		}
		if d.Source == collector.FromTopics && !within(d.Rate.Value, p.Rate.Value, 0.05) {
			t.Errorf("project rate from topics: direct %+v, promql %+v", d, p)
		}
		t.Logf("under load: %s broker %s %s (%s): direct %.0f, promql %.0f B/s", d.Project, d.Broker, d.Direction, d.Source, d.Rate.Value, p.Rate.Value)
	}
	if sources["a/produce"] != collector.FromClientQuota || sources["b/produce"] != collector.FromTopics {
		t.Errorf("sources %v: want a from client quotas and b from topics", sources)
	}

	// The quota sensors, frozen: stop the load, stop the sensors' clock, and
	// wait until Prometheus holds a scrape taken after both.
	load.Close()
	frozenAt := clock.Freeze()
	for {
		vec, qerr := src.query(ctx, `min(timestamp(up))`, time.Now())
		if qerr == nil && len(vec) == 1 && float64(vec[0].Value) > float64(frozenAt.UnixMilli())/1000+0.1 {
			break
		}
		if time.Now().After(deadline.Add(30 * time.Second)) {
			t.Fatalf("Prometheus never scraped after the freeze at %v: %v %v", frozenAt, vec, qerr)
		}
		select {
		case <-time.After(250 * time.Millisecond):
		case <-t.Context().Done():
		}
	}
	scraped = direct.Round(ctx, targets)
	viaProm, err = src.Snapshot(ctx, targets)
	if err != nil {
		t.Fatal(err)
	}
	pr := map[string]collector.ProjectRate{}
	for _, p := range viaProm.Projects {
		pr[p.Project+"/"+p.Direction.String()+"/"+p.Broker] = p
	}
	n := 0
	for _, d := range scraped.Projects {
		if d.Source != collector.FromClientQuota {
			continue
		}
		n++
		p := pr[d.Project+"/"+d.Direction.String()+"/"+d.Broker]
		if p.Source != d.Source || !d.Rate.OK() || !p.Rate.OK() || d.Rate.Value < 100_000 || !within(d.Rate.Value, p.Rate.Value, 1e-6) {
			t.Errorf("frozen quota sensor: direct %+v, promql %+v", d, p)
		}
		t.Logf("frozen: %s broker %s %s: direct %.0f, promql %.0f B/s", d.Project, d.Broker, d.Direction, d.Rate.Value, p.Rate.Value)
	}
	if n != 4 {
		t.Errorf("%d project rates from client quotas, want 4 (a × 2 brokers × 2 directions)", n)
	}
}

// freezable is the lab sensors' clock: the wall clock until Freeze, then
// the instant of the freeze.
type freezable struct {
	mu     sync.Mutex
	frozen time.Time
}

func (f *freezable) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.frozen.IsZero() {
		return f.frozen
	}
	return time.Now()
}

func (f *freezable) Freeze() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.frozen = time.Now()
	return f.frozen
}
