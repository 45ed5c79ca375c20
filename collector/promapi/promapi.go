// Package promapi is the collector's scale path: instead of scraping, it
// reads the canonical series from a Prometheus-compatible HTTP API
// (Prometheus, Thanos, Mimir, VictoriaMetrics) through each profile's
// PromQL form, and assembles the same Snapshot as direct scraping.
//
// Series are matched to targets by the "instance" label (host:port of the
// target URL), as Prometheus sets it by default. It must not import the
// detector or the limiter.
package promapi

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/headroomhq/headroom/collector"
	"github.com/headroomhq/headroom/config"
)

// Options configure a Source.
type Options struct {
	// Address is the base URL of the HTTP API, e.g. http://prometheus:9090.
	Address string
	// Window is the PromQL rate window, e.g. "1m".
	Window   string
	Projects []config.ProjectConfig
	// Clusters supply each cluster's exempt entities. Optional.
	Clusters []config.ClusterConfig
	Now      func() time.Time
	// Timeout bounds each query. Default 10s.
	Timeout time.Duration
}

// Source reads Snapshots from a Prometheus-compatible API.
type Source struct {
	api  v1.API
	opts Options
	own  *collector.Ownership
}

// New returns a Source.
func New(o Options) (*Source, error) {
	if o.Now == nil {
		return nil, fmt.Errorf("promapi: Options.Now is required")
	}
	if _, err := model.ParseDuration(o.Window); err != nil {
		return nil, fmt.Errorf("promapi: window %q: %w", o.Window, err)
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	c, err := api.NewClient(api.Config{Address: o.Address})
	if err != nil {
		return nil, fmt.Errorf("promapi: %w", err)
	}
	own, err := collector.NewOwnership(o.Projects)
	if err != nil {
		return nil, fmt.Errorf("promapi: %w", err)
	}
	return &Source{api: v1.NewAPI(c), opts: o, own: own.WithExempt(o.Clusters)}, nil
}

func instanceOf(t collector.Target) string {
	u, err := url.Parse(t.URL)
	if err != nil {
		return t.URL
	}
	return u.Host
}

func (s *Source) query(ctx context.Context, q string, at time.Time) (model.Vector, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	v, _, _, err := s.api.Query(ctx, q, at)
	if err != nil {
		return nil, fmt.Errorf("query %q: %w", q, err)
	}
	vec, ok := v.(model.Vector)
	if !ok {
		return nil, fmt.Errorf("query %q: got %s, want a vector", q, v.Type())
	}
	return vec, nil
}

// Snapshot evaluates every target's profile queries at the clock's time.
// A target whose "up" series is missing or 0, or whose queries fail, is
// down; its values are Missing.
func (s *Source) Snapshot(ctx context.Context, targets []collector.Target) (collector.Snapshot, error) {
	at := s.opts.Now()
	upVec, err := s.query(ctx, "up", at)
	if err != nil {
		return collector.Snapshot{}, fmt.Errorf("promapi: %w", err)
	}
	up := map[string]bool{}
	for _, smp := range upVec {
		if smp.Value == 1 {
			up[string(smp.Metric["instance"])] = true
		}
	}
	type result struct {
		byInstance map[string][]collector.RatedPoint
		err        error
	}
	results := map[string]result{}
	for _, t := range targets {
		if _, done := results[t.Profile]; done {
			continue
		}
		r := result{byInstance: map[string][]collector.RatedPoint{}}
		qs, err := collector.PromQL(t.Profile, s.opts.Window)
		if err != nil {
			r.err = err
		}
		for _, q := range qs {
			vec, err := s.query(ctx, q.Expr, at)
			if err != nil {
				r.err = err
				break
			}
			for _, smp := range vec {
				if p, ok := point(q, smp); ok {
					inst := string(smp.Metric["instance"])
					r.byInstance[inst] = append(r.byInstance[inst], p)
				}
			}
		}
		results[t.Profile] = r
	}
	data := make([]collector.TargetData, 0, len(targets))
	for _, t := range targets {
		r := results[t.Profile]
		inst := instanceOf(t)
		st := collector.TargetStatus{Target: t.URL, Profile: t.Profile, Up: up[inst] && r.err == nil}
		var pts []collector.RatedPoint
		switch {
		case r.err != nil:
			st.Error = r.err.Error()
		case !up[inst]:
			st.Error = fmt.Sprintf("instance %s is not up in %s", inst, s.opts.Address)
		default:
			pts = r.byInstance[inst]
			st.Samples = len(pts)
			st.LastSuccess = at
		}
		st.Stale = !st.Up
		data = append(data, collector.TargetData{Target: t, Status: st, Points: pts})
	}
	return collector.Assemble(at, s.own, data), nil
}

func point(q collector.Query, smp *model.Sample) (collector.RatedPoint, bool) {
	v := float64(smp.Value)
	if v != v || v > 1e300 || v < -1e300 { // NaN or ±Inf
		return collector.RatedPoint{}, false
	}
	l := func(name string) string {
		if name == "" {
			return ""
		}
		return string(smp.Metric[model.LabelName(name)])
	}
	k := collector.PointKey{Kind: q.Kind, Dir: q.Dir, Name: l(q.NameLabel), Sub: l(q.SubLabel),
		User: l(q.UserLabel), ClientID: l(q.ClientLabel), Group: l(q.GroupLabel)}
	if q.FixedSub != "" {
		k.Sub = q.FixedSub
	}
	if q.DirLabel != "" {
		d, ok := q.DirValues[l(q.DirLabel)]
		if !ok {
			return collector.RatedPoint{}, false
		}
		k.Dir = d
	}
	if q.PartitionLabel != "" {
		p, err := strconv.ParseInt(l(q.PartitionLabel), 10, 32)
		if err != nil {
			return collector.RatedPoint{}, false
		}
		k.Partition = int32(p)
	}
	return collector.RatedPoint{PointKey: k, Value: v, State: collector.Fresh}, true
}
