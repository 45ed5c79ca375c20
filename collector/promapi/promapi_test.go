package promapi

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/headroomhq/headroom/collector"
	"github.com/headroomhq/headroom/config"
	"github.com/headroomhq/headroom/internal/testpeer"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Counter growth of the live broker page, bytes/s per series.
var liveRates = map[string]float64{
	"kafka_server_brokertopicmetrics_bytesin_total":  10_000,
	"kafka_server_brokertopicmetrics_bytesout_total": 20_000,
}

// liveBroker serves the jmx fixture with its byte counters growing in real
// time at liveRates, so that Prometheus and direct scraping both see the
// same known load.
func liveBroker(t *testing.T) *httptest.Server {
	page, err := os.ReadFile("../testdata/kafka_jmx_exporter-1.0.1_rules-jmx_exporter-kafka-2_0_0.prom")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		elapsed := time.Since(start).Seconds()
		var out bytes.Buffer
		for _, line := range bytes.Split(page, []byte("\n")) {
			name := line
			if i := bytes.IndexAny(line, "{ "); i >= 0 {
				name = line[:i]
			}
			r, ok := liveRates[string(name)]
			if ok && len(line) > 0 && line[0] != '#' {
				i := bytes.LastIndexByte(line, ' ')
				v, err := strconv.ParseFloat(string(line[i+1:]), 64)
				if err == nil {
					line = fmt.Appendf(line[:i+1:i+1], "%f", v+r*elapsed)
				}
			}
			out.Write(line)
			out.WriteByte('\n')
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		_, _ = w.Write(out.Bytes())
	}))
	t.Cleanup(srv.Close)
	return srv
}

func projects() []config.ProjectConfig {
	return []config.ProjectConfig{
		{Name: "proj-a", Entity: config.Entity{User: "alice", ClientID: "proj-a"}, Topics: config.TopicsConfig{Prefixes: []string{"orders"}}},
		{Name: "proj-b", Entity: config.Entity{ClientID: "proj-b"}, Topics: config.TopicsConfig{Prefixes: []string{"payments"}}},
	}
}

func within(a, b, rel float64) bool {
	return math.Abs(a-b) <= rel*math.Max(math.Abs(a), math.Abs(b))
}

// TestPromQLSourceMatchesDirectScraping runs a real Prometheus that scrapes
// a live broker page and a real node_exporter, and compares the Snapshot
// read through PromQL with the one from direct scraping.
func TestPromQLSourceMatchesDirectScraping(t *testing.T) {
	broker := liveBroker(t)
	ne := testpeer.NodeExporter(t)
	bu, _ := url.Parse(broker.URL)
	prom := testpeer.Prometheus(t, fmt.Sprintf(`
global: {scrape_interval: 1s, scrape_timeout: 1s}
scrape_configs:
  - job_name: brokers
    static_configs: [{targets: [%q]}]
  - job_name: node
    static_configs: [{targets: [%q]}]
`, bu.Host, ne.Addr))

	targets := []collector.Target{
		{URL: broker.URL + "/metrics", Profile: "kafka-jmx", Cluster: "lab", BrokerID: "1"},
		{URL: ne.URL + "/metrics", Profile: "node", Host: "self"},
	}
	cfg := config.DefaultCollectorConfig()
	direct, err := collector.New(collector.Options{Config: cfg, Projects: projects(), Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	direct.Round(ctx, targets) // first sight of the counters

	src, err := New(Options{Address: prom.URL, Window: "5s", Projects: projects(), Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	// Poll (with a deadline) until Prometheus holds a full rate window of
	// samples of both targets: rate() over a partly filled window
	// extrapolates from too few points.
	var viaProm collector.Snapshot
	deadline := time.Now().Add(60 * time.Second)
	for {
		full := false
		if vec, qerr := src.query(ctx, `min(count_over_time(up[5s])) >= 5`, time.Now()); qerr == nil && len(vec) == 1 {
			full = true
		}
		viaProm, err = src.Snapshot(ctx, targets)
		if full && err == nil && len(viaProm.Brokers) == 1 && viaProm.Brokers[0].BytesIn.OK() &&
			len(viaProm.Hosts) == 1 && viaProm.Hosts[0].CPUBusy.OK() && viaProm.Hosts[0].CPUs > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Prometheus never had the series: err=%v snapshot=%+v\n%s", err, viaProm, prom.Logs())
		}
		select {
		case <-time.After(250 * time.Millisecond):
		case <-ctx.Done():
		}
	}
	scraped := direct.Round(ctx, targets)

	for _, st := range append(scraped.Targets, viaProm.Targets...) {
		if !st.Up {
			t.Errorf("target down: %+v", st)
		}
	}
	b1, b2 := scraped.Brokers[0], viaProm.Brokers[0]
	for _, c := range []struct {
		what        string
		got, want   collector.Value
		wantExactly float64
	}{
		{"bytes_in", b2.BytesIn, b1.BytesIn, 10_000},
		{"bytes_out", b2.BytesOut, b1.BytesOut, 20_000},
		{"request_handler_idle", b2.RequestHandlerIdle, b1.RequestHandlerIdle, 0.783},
	} {
		if !c.got.OK() || !c.want.OK() || !within(c.got.Value, c.want.Value, 0.05) || !within(c.want.Value, c.wantExactly, 0.05) {
			t.Errorf("%s: promql %+v, direct %+v, load %v", c.what, c.got, c.want, c.wantExactly)
		}
	}
	if len(scraped.Projects) != len(viaProm.Projects) {
		t.Fatalf("projects: direct %+v, promql %+v", scraped.Projects, viaProm.Projects)
	}
	for i := range scraped.Projects {
		d, p := scraped.Projects[i], viaProm.Projects[i]
		if d.Project != p.Project || d.Direction != p.Direction || d.Source != p.Source ||
			!d.Rate.OK() || !p.Rate.OK() || !within(d.Rate.Value, p.Rate.Value, 0.05) {
			t.Errorf("project rate: direct %+v, promql %+v", d, p)
		}
	}
	h1, h2 := scraped.Hosts[0], viaProm.Hosts[0]
	if h1.CPUs != h2.CPUs || len(h1.Filesystems) != len(h2.Filesystems) {
		t.Errorf("host: direct %+v, promql %+v", h1, h2)
	}
	for i := range h1.Filesystems {
		if h1.Filesystems[i].Mountpoint != h2.Filesystems[i].Mountpoint || h1.Filesystems[i].SizeBytes != h2.Filesystems[i].SizeBytes {
			t.Errorf("filesystem: direct %+v, promql %+v", h1.Filesystems[i], h2.Filesystems[i])
		}
	}
	for _, v := range []collector.Value{h1.CPUBusy, h2.CPUBusy} {
		if !v.OK() || v.Value < 0 || v.Value > 1 {
			t.Errorf("cpu busy %+v", v)
		}
	}
}

func TestEveryProfileHasAPromQLForm(t *testing.T) {
	for _, name := range collector.ProfileNames() {
		qs, err := collector.PromQL(name, "1m")
		if err != nil || len(qs) == 0 {
			t.Errorf("%s: %v (%d queries)", name, err, len(qs))
		}
		for _, q := range qs {
			if q.Expr == "" || bytes.Contains([]byte(q.Expr), []byte("$W")) {
				t.Errorf("%s: bad expression %q", name, q.Expr)
			}
		}
	}
	if _, err := collector.PromQL("nope", "1m"); err == nil {
		t.Error("unknown profile accepted")
	}
}
