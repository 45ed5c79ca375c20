package collector

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/headroomhq/headroom/config"
	"github.com/headroomhq/headroom/internal/testpeer"
)

const (
	pageServerEnv = "HEADROOM_BENCH_PAGE_SERVER"
	seriesPerPage = 5000
)

// servePagesForever serves the same large jmx-style page under /page/N.
func servePagesForever(addr string) {
	page := largeJMXPage(seriesPerPage)
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		_, _ = w.Write(page)
	})
	fmt.Fprintln(os.Stderr, http.ListenAndServe(addr, mux))
	os.Exit(1)
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// promStats reads a peer's own metrics.
func promStats(b *testing.B, url string) (cpu, samples, series, rss float64) {
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		b.Fatal(err)
	}
	sum := func(name string) float64 {
		var s float64
		if f := fams[name]; f != nil {
			for _, m := range f.GetMetric() {
				v, _ := sampleValue(m)
				s += v
			}
		}
		return s
	}
	return sum("process_cpu_seconds_total"), sum("prometheus_tsdb_head_samples_appended_total"),
		sum("prometheus_tsdb_head_series"), sum("process_resident_memory_bytes")
}

func waitFor(b *testing.B, d time.Duration) {
	select {
	case <-time.After(d):
	case <-b.Context().Done():
	}
}

// BenchmarkVersusPrometheus scrapes the same loopback pages with the Debian
// Prometheus and with Headroom's collector, one after the other, and
// reports CPU seconds per ingested sample for each and their ratio.
// HEADROOM_BENCH_PAGES (default 40) pages of 5,000 series; Prometheus
// scrapes every HEADROOM_BENCH_INTERVAL seconds (default 2) for
// HEADROOM_BENCH_SECONDS (default 20). Run with -benchtime=1x.
func BenchmarkVersusPrometheus(b *testing.B) {
	pages := envInt("HEADROOM_BENCH_PAGES", 40)
	interval := envInt("HEADROOM_BENCH_INTERVAL", 2)
	seconds := envInt("HEADROOM_BENCH_SECONDS", 20)
	self, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	addr := testpeer.FreeAddr(b)
	testpeer.Start(b, testpeer.Spec{Name: "page-server", Binary: self, ReadyPath: "/page/0", Addr: addr,
		Args: func(string) []string { return []string{"-test.run=^$"} },
		Env:  []string{pageServerEnv + "=" + addr}})
	samplesPerRound := float64(pages * seriesPerPage)

	// Prometheus first.
	var cfg bytes.Buffer
	fmt.Fprintf(&cfg, "global: {scrape_interval: %ds, scrape_timeout: %ds}\nscrape_configs:\n  - job_name: pages\n    static_configs:\n", interval, interval)
	for i := range pages {
		fmt.Fprintf(&cfg, "      - {targets: [%q], labels: {__metrics_path__: /page/%d, page: \"%d\"}}\n", addr, i, i)
	}
	prom := testpeer.Prometheus(b, cfg.String())
	// Warm up until every page has been ingested once.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		_, samples, _, _ := promStats(b, prom.URL)
		if samples >= samplesPerRound {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("Prometheus ingested only %v samples", samples)
		}
		waitFor(b, 500*time.Millisecond)
	}
	cpu0, s0, _, _ := promStats(b, prom.URL)
	waitFor(b, time.Duration(seconds)*time.Second)
	cpu1, s1, promSeries, promRSS := promStats(b, prom.URL)
	prom.Stop()
	promPerSample := (cpu1 - cpu0) / (s1 - s0)

	// Then Headroom, for as many samples as Prometheus ingested.
	targets := make([]Target, pages)
	for i := range targets {
		targets[i] = Target{URL: fmt.Sprintf("http://%s/page/%d", addr, i), Profile: config.ProfileKafkaJMX, BrokerID: strconv.Itoa(i)}
	}
	runtime.GC()
	var m0 runtime.MemStats
	runtime.ReadMemStats(&m0)
	clk := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	c, err := New(Options{Config: config.DefaultCollectorConfig(), Projects: testProjects(), Now: clk.Now, Concurrency: 8})
	if err != nil {
		b.Fatal(err)
	}
	rounds := max(1, int((s1-s0)/samplesPerRound+0.5))
	b.ResetTimer()
	hcpu0 := cpuSeconds()
	var ingested int
	var snap Snapshot
	for range rounds {
		clk.Advance(time.Duration(interval) * time.Second)
		snap = c.Round(context.Background(), targets)
		for _, st := range snap.Targets {
			if !st.Up {
				b.Fatalf("target down: %+v", st)
			}
			ingested += st.Samples
		}
	}
	hcpu := cpuSeconds() - hcpu0
	b.StopTimer()
	runtime.GC()
	var m1 runtime.MemStats
	runtime.ReadMemStats(&m1)
	runtime.KeepAlive(c)
	runtime.KeepAlive(snap)
	headroomPerSample := hcpu / float64(ingested)
	b.ReportMetric(headroomPerSample*1e9, "headroom-cpu-ns/sample")
	b.ReportMetric(promPerSample*1e9, "prometheus-cpu-ns/sample")
	b.ReportMetric(headroomPerSample/promPerSample, "ratio")
	b.ReportMetric(float64(int64(m1.HeapInuse)-int64(m0.HeapInuse))/samplesPerRound, "headroom-heap-B/series")
	b.ReportMetric(promRSS/promSeries, "prometheus-rss-B/series")
	b.Logf("pages=%d series/page=%d interval=%ds: Prometheus %.0f samples in %.2f CPU s; Headroom %d samples in %d rounds, %.2f CPU s",
		pages, seriesPerPage, interval, s1-s0, cpu1-cpu0, ingested, rounds, hcpu)
}
