package api

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/headroomhq/headroom/config"
	"github.com/headroomhq/headroom/store"
)

// loadToken is the one automation client's token: the default rate limit
// lets one client run at 1,000 requests/s, and the limiter runs on every
// request.
const loadToken = "load-automation"

// newLoadEnv is the API over a real SQLite file holding what a day of
// running leaves behind: six hours of decisions at a 15 s round for every
// project and direction, overrides and an incident.
func newLoadEnv(b testing.TB) (*env, int64) {
	b.Helper()
	e := newEnv(b, "", func(c *config.Config) {
		def := config.DefaultAPIConfig()
		c.API.RateLimit, c.API.RateBurst = def.RateLimit, def.RateBurst
		c.API.Tokens = []config.APIToken{{Name: "automation", Role: config.RoleViewer, SHA256: HashToken(loadToken)}}
		c.API.Tokens = append(c.API.Tokens, config.APIToken{Name: "ada", Role: config.RoleAdmin, SHA256: HashToken(adminToken)})
		c.Alerting.Playbooks = []config.PlaybookConfig{{Alert: "GroupSaturated", Action: config.ActionRaiseMargin, Mode: config.ModeApprove,
			Margin: 0.95, Cooldown: config.DefaultPlaybookCooldown, MaxTargets: 1, VerifyWindow: config.DefaultPlaybookVerifyWindow, Duration: config.DefaultPlaybookDuration}}
	})
	// The load runs on the real clock, so that the rate limiter's buckets
	// refill as they would in production; the data ends now.
	e.now = time.Now().UTC()
	var err error
	e.api, err = New(Options{Config: func() *config.Config { return e.cfg }, Store: e.db, Alerts: e.alert, Now: time.Now, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	const round = 15 * time.Second
	var es []store.LedgerEntry
	for at := e.now.Add(-6 * time.Hour); !at.After(e.now); at = at.Add(round) {
		for _, p := range e.cfg.Projects {
			for _, d := range []struct {
				dir   string
				share config.Rate
			}{{"produce", p.Produce.Share}, {"fetch", p.Fetch.Share}} {
				es = append(es, store.LedgerEntry{At: at, Round: at.Unix() / 15, Group: p.Group, Direction: d.dir, Project: p.Name,
					Entity: p.Entity.String(), Mode: "enforce", Outcome: "unchanged", Before: float64(d.share), After: float64(d.share),
					Share: float64(d.share), Demand: float64(d.share) * 0.8, Reasons: []string{"within_share"}})
			}
		}
	}
	if err := e.db.RecordDecisions(ctx, es); err != nil {
		b.Fatal(err)
	}
	for _, ov := range []struct{ path, body string }{
		{"/api/v1/overrides/project/checkout", `{"produce": {"share": "35MiB/s"}, "reason": "launch"}`},
		{"/api/v1/overrides/project/search", `{"fetch": {"weight": 2}}`},
		{"/api/v1/overrides/group/batch", `{"freeze": true}`},
	} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("PUT", ov.path, strings.NewReader(ov.body))
		req.Header.Set("Authorization", "Bearer "+adminToken)
		e.api.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatalf("seed %s: %d %s", ov.path, rec.Code, rec.Body)
		}
	}
	return e, e.openIncident(b)
}

// BenchmarkLoad1000 is the API's load figure: an open-loop client sends
// mixed reads at a fixed 1,000 requests/s over loopback TCP to the real gin
// API on a real SQLite file, with the default rate limits, and reports the
// latency percentiles. Each op is one request; ns/op is therefore the pace
// (1 ms), not the cost. Ten seconds:
//
//	go test -run '^$' -bench Load1000 -benchtime 10000x ./api
//
// p50/p99/max are measured from when the request was sent; p99-sched from
// when it was due, so a client that fell behind (coordinated omission)
// shows up too; cpu-µs/req is the process's CPU time (client and server)
// per request; max-late-ms is how late the client itself sent its worst
// request (the machine did not run it in time), which bounds what the
// percentiles can mean on a shared machine. Any non-200 answer fails the
// benchmark.
func BenchmarkLoad1000(b *testing.B) {
	const rate = 1000
	e, incident := newLoadEnv(b)
	srv := httptest.NewServer(e.api)
	defer srv.Close()
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256}}
	defer client.CloseIdleConnections()

	paths := loadPaths(incident)
	type sample struct {
		sent, sched time.Duration
		status      int
		path        string
		err         error
	}
	samples := make([]sample, b.N)
	var wg sync.WaitGroup
	interval := time.Second / rate
	var late time.Duration // the dispatcher's worst lateness: the machine's hiccups, not the API's
	cpu0 := processCPU(b)
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		due := start.Add(time.Duration(i) * interval)
		if d := time.Until(due); d > 0 {
			time.Sleep(d) // pacing the client, not waiting on the server
		} else {
			late = max(late, -d)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			path := paths[i%len(paths)]
			req, _ := http.NewRequest("GET", srv.URL+path, nil)
			req.Header.Set("Authorization", "Bearer "+loadToken)
			sent := time.Now()
			resp, err := client.Do(req)
			s := sample{path: path, err: err}
			if err == nil {
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				s.status, s.err = resp.StatusCode, err
			}
			done := time.Now()
			s.sent, s.sched = done.Sub(sent), done.Sub(due)
			samples[i] = s
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	cpu := processCPU(b) - cpu0

	sent := make([]time.Duration, 0, len(samples))
	sched := make([]time.Duration, 0, len(samples))
	failed := 0
	for _, s := range samples {
		if s.err != nil || s.status != http.StatusOK {
			if failed < 5 {
				b.Errorf("GET %s: status %d, %v", s.path, s.status, s.err)
			}
			failed++
		}
		sent = append(sent, s.sent)
		sched = append(sched, s.sched)
	}
	if failed > 0 {
		b.Fatalf("%d of %d requests failed", failed, len(samples))
	}
	byPath := map[string][]time.Duration{}
	for _, s := range samples {
		byPath[s.path] = append(byPath[s.path], s.sent)
	}
	for _, p := range paths {
		ds := byPath[p]
		slices.Sort(ds)
		if b.N >= 10*len(paths) {
			b.Logf("%-60s n=%-5d p50 %6.2f ms  p99 %6.2f ms", p, len(ds), float64(percentile(ds, 0.5))/1e6, float64(percentile(ds, 0.99))/1e6)
		}
	}
	slices.Sort(sent)
	slices.Sort(sched)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(percentile(sent, 0.50)), "p50-ms")
	b.ReportMetric(ms(percentile(sent, 0.99)), "p99-ms")
	b.ReportMetric(ms(sent[len(sent)-1]), "max-ms")
	b.ReportMetric(ms(percentile(sched, 0.99)), "p99-sched-ms")
	b.ReportMetric(float64(len(samples))/elapsed.Seconds(), "req/s")
	b.ReportMetric(ms(late), "max-late-ms")
	b.ReportMetric(float64(cpu.Microseconds())/float64(len(samples)), "cpu-µs/req")
}

// loadPaths are the mixed reads of the load: the plugin's and an
// automation client's.
func loadPaths(incident int64) []string {
	return []string{
		"/api/v1/groups",
		"/api/v1/groups/events",
		"/api/v1/projects",
		"/api/v1/projects/checkout",
		"/api/v1/quotas",
		"/api/v1/overrides",
		"/api/v1/overrides/project/checkout",
		"/api/v1/ledger?project=checkout&direction=produce&limit=100",
		"/api/v1/explain?project=search&direction=fetch",
		"/api/v1/alerts",
		fmt.Sprintf("/api/v1/alerts/%d", incident),
		"/api/v1/health",
	}
}

// processCPU is the CPU time (user and system) the test process has used:
// server and client together, which is what a request costs the machine
// whatever else shares it.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// percentile returns the q-quantile of sorted durations (nearest rank).
func percentile(sorted []time.Duration, q float64) time.Duration {
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func TestPercentile(t *testing.T) {
	var ds []time.Duration
	for i := 1; i <= 100; i++ {
		ds = append(ds, time.Duration(i))
	}
	for _, tt := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 50}, {0.99, 99}, {1, 100}, {0, 1}} {
		if got := percentile(ds, tt.q); got != tt.want {
			t.Errorf("percentile(%v) = %v, want %v", tt.q, got, tt.want)
		}
	}
	if got := percentile([]time.Duration{7}, 0.99); got != 7 {
		t.Errorf("one sample: %v", got)
	}
}
