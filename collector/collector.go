package collector

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/headroomhq/headroom/config"
)

// Options configure a Collector.
type Options struct {
	Config   config.CollectorConfig
	Projects []config.ProjectConfig
	// Clusters supply each cluster's exempt entities, whose byte rates
	// the snapshot reports apart. Optional.
	Clusters []config.ClusterConfig
	// Now is the clock. Required.
	Now func() time.Time
	// Client is the HTTP client; default http.DefaultClient.
	Client *http.Client
	// Registerer receives the collector's own metrics; nil for none.
	Registerer prometheus.Registerer
	Logger     *slog.Logger
	// Concurrency caps simultaneous scrapes. Default 64.
	Concurrency int
}

// Collector scrapes targets and assembles Snapshots. Round must not be
// called concurrently with itself.
type Collector struct {
	opts    Options
	fetcher Fetcher
	own     *Ownership
	rater   *Rater
	last    map[string]targetMemory // by URL
	metrics *ownMetrics
}

type targetMemory struct {
	points      []RatedPoint
	lastSuccess time.Time
}

type ownMetrics struct {
	duration *prometheus.GaugeVec
	samples  *prometheus.GaugeVec
	points   *prometheus.GaugeVec
	errors   *prometheus.CounterVec
	up       *prometheus.GaugeVec
	series   prometheus.Gauge
}

func newOwnMetrics(r prometheus.Registerer) *ownMetrics {
	m := &ownMetrics{
		duration: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "headroom_collector_scrape_duration_seconds",
			Help: "Duration of the last scrape of a target."}, []string{"target"}),
		samples: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "headroom_collector_scrape_samples",
			Help: "Samples parsed in the last scrape of a target."}, []string{"target"}),
		points: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "headroom_collector_scrape_series_mapped",
			Help: "Canonical series mapped from the last scrape of a target."}, []string{"target"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "headroom_collector_scrape_errors_total",
			Help: "Failed scrapes of a target."}, []string{"target"}),
		up: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "headroom_collector_target_up",
			Help: "1 if the last scrape of a target succeeded."}, []string{"target"}),
		series: prometheus.NewGauge(prometheus.GaugeOpts{Name: "headroom_collector_rate_series",
			Help: "Counter series remembered for rating."}),
	}
	if r != nil {
		r.MustRegister(m.duration, m.samples, m.points, m.errors, m.up, m.series)
	}
	return m
}

// New returns a Collector.
func New(o Options) (*Collector, error) {
	if o.Now == nil {
		return nil, fmt.Errorf("collector: Options.Now is required")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 64
	}
	own, err := NewOwnership(o.Projects)
	if err != nil {
		return nil, fmt.Errorf("collector: %w", err)
	}
	return &Collector{
		opts: o,
		fetcher: Fetcher{Client: o.Client, Timeout: time.Duration(o.Config.ScrapeTimeout),
			BodySizeLimit: int64(o.Config.BodySizeLimit)},
		own:     own.WithExempt(o.Clusters),
		rater:   NewRater(time.Duration(o.Config.StaleAfter)),
		last:    map[string]targetMemory{},
		metrics: newOwnMetrics(o.Registerer),
	}, nil
}

type scrapeResult struct {
	target  Target
	start   time.Time
	dur     time.Duration
	points  []Point
	samples int
	dropped int
	err     error
}

// Round scrapes every target concurrently and returns the Snapshot. A
// failing target never affects another: its error is in its TargetStatus
// and its values are Stale (last good, younger than stale_after) or Missing.
func (c *Collector) Round(ctx context.Context, targets []Target) Snapshot {
	results := make([]scrapeResult, len(targets))
	sem := make(chan struct{}, c.opts.Concurrency)
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			results[i] = c.scrape(ctx, t)
		}()
	}
	wg.Wait()

	now := c.opts.Now()
	staleAfter := time.Duration(c.opts.Config.StaleAfter)
	data := make([]TargetData, 0, len(results))
	for _, r := range results {
		st := TargetStatus{Target: r.target.URL, Profile: r.target.Profile, Duration: r.dur, Samples: r.samples}
		mem := c.last[r.target.URL]
		var pts []RatedPoint
		if r.err == nil {
			pts = c.rater.Rate(nil, r.target.URL, r.points, r.start)
			mem = targetMemory{points: pts, lastSuccess: r.start}
			c.last[r.target.URL] = mem
			st.Up = true
		} else {
			st.Error = r.err.Error()
			c.opts.Logger.Warn("scrape failed", "target", r.target.URL, "err", r.err)
			if !mem.lastSuccess.IsZero() && now.Sub(mem.lastSuccess) <= staleAfter {
				for _, p := range mem.points {
					if p.State == Fresh {
						p.State = Stale
					}
					pts = append(pts, p)
				}
			}
		}
		st.LastSuccess = mem.lastSuccess
		st.Stale = mem.lastSuccess.IsZero() || now.Sub(mem.lastSuccess) > staleAfter
		c.observe(r, st, len(r.points))
		data = append(data, TargetData{Target: r.target, Status: st, Points: pts})
	}
	c.rater.Forget(now.Add(-staleAfter))
	for url, m := range c.last {
		if now.Sub(m.lastSuccess) > 10*staleAfter {
			delete(c.last, url)
		}
	}
	c.metrics.series.Set(float64(c.rater.Series()))
	return Assemble(now, c.own, data)
}

func (c *Collector) observe(r scrapeResult, st TargetStatus, points int) {
	m, t := c.metrics, r.target.URL
	m.duration.WithLabelValues(t).Set(r.dur.Seconds())
	m.samples.WithLabelValues(t).Set(float64(r.samples))
	m.points.WithLabelValues(t).Set(float64(points))
	if st.Up {
		m.up.WithLabelValues(t).Set(1)
	} else {
		m.up.WithLabelValues(t).Set(0)
		m.errors.WithLabelValues(t).Inc()
	}
}

func (c *Collector) scrape(ctx context.Context, t Target) (r scrapeResult) {
	r.target = t
	r.start = c.opts.Now()
	began := time.Now() // wall time, only for the duration metric
	defer func() {
		r.dur = time.Since(began)
		if p := recover(); p != nil { // a parser bug must not take the round down
			r.err = fmt.Errorf("scrape %s: panic while mapping: %v", t.URL, p)
		}
	}()
	prof, err := ProfileByName(t.Profile)
	if err != nil {
		r.err = fmt.Errorf("scrape %s: %w", t.URL, err)
		return r
	}
	page, err := c.fetcher.Fetch(ctx, t.URL)
	if err != nil {
		r.err = err
		return r
	}
	r.points, r.samples, r.dropped, err = MapPage(prof, page)
	if err != nil {
		r.err = fmt.Errorf("scrape %s: %w", t.URL, err)
	}
	return r
}

// Run calls Round on every tick until ctx ends, reloading discovery first
// and handing each Snapshot to emit. The ticker is injected so tests drive
// rounds without sleeping.
func (c *Collector) Run(ctx context.Context, tick <-chan time.Time, d *Discovery, emit func(Snapshot)) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick:
			if _, errs := d.Reload(); len(errs) > 0 {
				for _, err := range errs {
					c.opts.Logger.Warn("target discovery", "err", err)
				}
			}
			emit(c.Round(ctx, d.Targets()))
		}
	}
}
