package collector

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"sync"
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

// servePagesForever serves a large jmx-style page under every path. Its
// counters grow with each wall-clock second (the page is rebuilt once per
// second and shared by all paths), so that both scrapers ingest changing
// values, as from a live broker.
func servePagesForever(addr string) {
	start := time.Now()
	var (
		mu   sync.Mutex
		tick int64 = -1
		page []byte
	)
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		now := int64(time.Since(start) / time.Second)
		mu.Lock()
		if now != tick {
			tick, page = now, largeJMXPageAt(seriesPerPage, now)
		}
		body := page
		mu.Unlock()
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		_, _ = w.Write(body)
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

// cpuSeconds is this process's user+system CPU time (getrusage).
func cpuSeconds() float64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// selfRSS is this process's resident set size from /proc/self/statm.
func selfRSS(b *testing.B) float64 {
	raw, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		b.Fatal(err)
	}
	var size, rss int64
	if _, err := fmt.Sscan(string(raw), &size, &rss); err != nil {
		b.Fatal(err)
	}
	return float64(rss * int64(os.Getpagesize()))
}

// peerStats are figures a Prometheus reports about itself.
type peerStats struct {
	cpu, samples, series, rss, heap float64
}

func promStats(b *testing.B, url string) peerStats {
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
	return peerStats{
		cpu:     sum("process_cpu_seconds_total"),
		samples: sum("prometheus_tsdb_head_samples_appended_total"),
		series:  sum("prometheus_tsdb_head_series"),
		rss:     sum("process_resident_memory_bytes"),
		heap:    sum("go_memstats_heap_inuse_bytes"),
	}
}

func waitFor(b *testing.B, d time.Duration) {
	select {
	case <-time.After(d):
	case <-b.Context().Done():
	}
}

// benchProjects own every topic of largeJMXPage, one project per ten
// topics, so that ownership mapping is part of the collector's work.
func benchProjects(topics int) []config.ProjectConfig {
	var out []config.ProjectConfig
	for i := 0; i < topics; i += 10 {
		var prefixes []string
		for k := i; k < min(i+10, topics); k++ {
			prefixes = append(prefixes, fmt.Sprintf("project-%d.", k))
		}
		out = append(out, config.ProjectConfig{Name: fmt.Sprintf("p%d", i/10),
			Entity: config.Entity{ClientID: fmt.Sprintf("c%d", i/10)}, Topics: config.TopicsConfig{Prefixes: prefixes}})
	}
	return out
}

// BenchmarkVersusPrometheus runs the Debian Prometheus and Headroom's
// collector side by side, at the same time, on the same loopback targets at
// the same interval: HEADROOM_BENCH_PAGES (default 200) jmx-style pages of
// 5,000 series, every HEADROOM_BENCH_INTERVAL seconds (default 15). After
// two warm-up intervals both are measured over the same wall-clock window
// of HEADROOM_BENCH_INTERVALS intervals (default 4):
//
//   - CPU: Prometheus's process_cpu_seconds_total (from its /proc/self/stat);
//     Headroom's getrusage(RUSAGE_SELF) of this test process, which runs
//     nothing else during the window. The pages are served by a separate
//     process (this binary re-executed), so serving costs neither side.
//   - Samples: Prometheus's prometheus_tsdb_head_samples_appended_total;
//     Headroom's sample lines read from the pages it scraped. Headroom fully
//     parses only the families its profile maps and checks the rest
//     structurally; Prometheus stores every sample. The per-sample figure
//     counts every sample on the page for both.
//   - Memory: Prometheus's RSS and Go heap in use over its head series;
//     Headroom's RSS and Go heap in use (after a GC) over the series on the
//     pages, and over the series it keeps state for (the counter series it
//     rates).
//
// Run with -run '^$' -bench VersusPrometheus -benchtime 1x.
func BenchmarkVersusPrometheus(b *testing.B) {
	pages := envInt("HEADROOM_BENCH_PAGES", 200)
	interval := time.Duration(envInt("HEADROOM_BENCH_INTERVAL", 15)) * time.Second
	intervals := envInt("HEADROOM_BENCH_INTERVALS", 4)
	self, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	addr := testpeer.FreeAddr(b)
	testpeer.Start(b, testpeer.Spec{Name: "page-server", Binary: self, ReadyPath: "/page/0", Addr: addr,
		Args: func(string) []string { return []string{"-test.run=^$"} },
		Env:  []string{pageServerEnv + "=" + addr}})
	pageSeries := float64(pages * seriesPerPage)

	var cfg bytes.Buffer
	fmt.Fprintf(&cfg, "global: {scrape_interval: %s, scrape_timeout: %s}\nscrape_configs:\n  - job_name: pages\n    static_configs:\n",
		model.Duration(interval), model.Duration(min(interval, 10*time.Second)))
	for i := range pages {
		fmt.Fprintf(&cfg, "      - {targets: [%q], labels: {__metrics_path__: /page/%d, page: \"%d\"}}\n", addr, i, i)
	}
	targets := make([]Target, pages)
	for i := range targets {
		targets[i] = Target{URL: fmt.Sprintf("http://%s/page/%d", addr, i), Profile: config.ProfileKafkaJMX, Cluster: "bench", BrokerID: strconv.Itoa(i)}
	}
	ccfg := config.DefaultCollectorConfig()
	ccfg.ScrapeTimeout = model.Duration(min(interval, 10*time.Second))
	ccfg.StaleAfter = model.Duration(3 * interval)
	c, err := New(Options{Config: ccfg, Projects: benchProjects(seriesPerPage / 20), Now: time.Now})
	if err != nil {
		b.Fatal(err)
	}

	prom := testpeer.Prometheus(b, cfg.String())
	// Prometheus applies discovered targets a few seconds after start and
	// spreads first scrapes over an interval: wait (with a deadline) until
	// it has ingested every page once before Headroom starts.
	deadline := time.Now().Add(2*time.Minute + 2*interval)
	for promStats(b, prom.URL).samples < pageSeries {
		if time.Now().After(deadline) {
			b.Fatalf("Prometheus did not ingest every page once\n%s", prom.Logs())
		}
		waitFor(b, 500*time.Millisecond)
	}
	warm := promStats(b, prom.URL).samples

	// Headroom's rounds, on its own ticker, from now on.
	type round struct {
		at, end time.Time
		samples int
		err     error
	}
	rounds := make(chan round, 1024)
	ctx, cancel := context.WithCancel(b.Context())
	var wg sync.WaitGroup
	wg.Add(1)
	tstart := time.Now()
	go func() {
		defer wg.Done()
		defer close(rounds)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			at := time.Now()
			snap := c.Round(ctx, targets)
			r := round{at: at}
			for _, st := range snap.Targets {
				if !st.Up && r.err == nil {
					r.err = fmt.Errorf("target down: %+v", st)
				}
				r.samples += st.Samples
			}
			r.end = time.Now()
			rounds <- r
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()

	// Warm-up: two rounds, so both have created every series. The window
	// starts and ends half an interval after a Headroom round starts, so it
	// holds whole rounds (checked below) and as many Prometheus intervals.
	waitFor(b, time.Until(tstart.Add(2*interval+interval/2)))
	if p := promStats(b, prom.URL); p.samples-warm < 2*pageSeries {
		b.Fatalf("Prometheus ingested only %v samples in two intervals, want %v: the machine cannot keep up; lower HEADROOM_BENCH_PAGES\n%s",
			p.samples-warm, 2*pageSeries, prom.Logs())
	}
	b.ResetTimer()
	t0 := time.Now()
	p0, h0 := promStats(b, prom.URL), cpuSeconds()
	waitFor(b, time.Duration(intervals)*interval)
	p1, h1 := promStats(b, prom.URL), cpuSeconds()
	t1 := time.Now()
	b.StopTimer()
	cancel()
	wg.Wait()

	var ingested, nRounds int
	for r := range rounds {
		if r.err != nil {
			b.Fatal(r.err)
		}
		if !r.at.Before(t0) && r.at.Before(t1) {
			if r.end.After(t1) {
				b.Fatalf("a round took %s, more than half the interval: the machine cannot keep up; lower HEADROOM_BENCH_PAGES", r.end.Sub(r.at))
			}
			ingested += r.samples
			nRounds++
		}
	}
	if nRounds == 0 {
		b.Fatal("no Headroom round in the window")
	}
	hRSS := selfRSS(b)
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	kept := float64(c.rater.Series())
	runtime.KeepAlive(c)

	promCPU, hCPU := p1.cpu-p0.cpu, h1-h0
	promSamples := p1.samples - p0.samples
	promPer, hPer := promCPU/promSamples, hCPU/float64(ingested)
	b.ReportMetric(hPer*1e9, "headroom-cpu-ns/sample")
	b.ReportMetric(promPer*1e9, "prometheus-cpu-ns/sample")
	b.ReportMetric(hPer/promPer, "ratio")
	b.ReportMetric(hRSS/pageSeries, "headroom-rss-B/page-series")
	b.ReportMetric(float64(ms.HeapInuse)/pageSeries, "headroom-heap-B/page-series")
	b.ReportMetric(float64(ms.HeapInuse)/kept, "headroom-heap-B/kept-series")
	b.ReportMetric(p1.rss/p1.series, "prometheus-rss-B/series")
	b.ReportMetric(p1.heap/p1.series, "prometheus-heap-B/series")
	b.Logf("pages=%d series/page=%d interval=%s window=%s", pages, seriesPerPage, interval, t1.Sub(t0).Round(time.Millisecond))
	b.Logf("Prometheus: %.0f samples, %.2f CPU s, %.0f head series, RSS %.0f MiB, heap %.0f MiB",
		promSamples, promCPU, p1.series, p1.rss/(1<<20), p1.heap/(1<<20))
	b.Logf("Headroom:   %d samples in %d rounds, %.2f CPU s, %.0f kept series, RSS %.0f MiB, heap %.0f MiB",
		ingested, nRounds, hCPU, kept, hRSS/(1<<20), float64(ms.HeapInuse)/(1<<20))
}
