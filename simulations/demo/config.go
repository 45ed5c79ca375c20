package demo

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/headroomhq/headroom/config"
	"github.com/headroomhq/headroom/simulations/lab"
	"github.com/headroomhq/headroom/simulations/scenario"
)

// DefaultRound is the demo's control round, one second of wall time. At
// the demo's default compression (360×) that is six minutes of scenario
// time. A longer round lets demand move further between two decisions:
// with two-second rounds a lender whose peak began was served its
// lent-down quota for a whole round of a jump twice as large before its
// reclaim took effect, which made most of what Headroom throttled in the
// demo.
const DefaultRound = time.Second

// ConfigOptions shape the configuration written for a lab cluster.
type ConfigOptions struct {
	// RoundInterval is global.round_interval. Default DefaultRound.
	RoundInterval time.Duration
	// StorePath is store.path. Required.
	StorePath string
	// Mode is limiter.mode. Default enforce.
	Mode string
	// OperatorTokenSHA256, when set, adds an operator API token.
	OperatorTokenSHA256 string
	// Alertmanagers and WebhookTokenFile wire the alert loop when set.
	Alertmanagers    []string
	WebhookTokenFile string
	ExternalURL      string
	// Exempt lists the lab cluster's exempt entities (clusters[].exempt):
	// clients that are no project's and that Headroom never throttles.
	Exempt []config.ExemptConfig
}

// Config returns a Headroom configuration file for a lab cluster started
// from s at scale: one cluster, one resource group with the lab's brokers
// and the scenario's capacity and margin, and one project per scenario
// project with its lab quota entity (client-id) and topic. The result is
// checked with config.Load, so it is exactly what `headroom serve` accepts.
func Config(s *scenario.Scenario, c *lab.Cluster, scale float64, o ConfigOptions) (string, error) {
	if o.RoundInterval <= 0 {
		o.RoundInterval = DefaultRound
	}
	if o.Mode == "" {
		o.Mode = config.ModeEnforce
	}
	if o.StorePath == "" {
		return "", fmt.Errorf("demo config: store path is required")
	}
	w := configWriter{scale: scale}
	fmt.Fprintf(&w.b, "# Written by headroom demo for scenario %s at scale %g.\n", s.Name, scale)
	fmt.Fprintf(&w.b, "global:\n  round_interval: %s\n", model(o.RoundInterval))
	if o.ExternalURL != "" {
		fmt.Fprintf(&w.b, "  external_url: %s\n", o.ExternalURL)
	}
	w.cluster(s, c, o.Exempt)
	w.projects(s, c)
	w.sections(o)
	out := w.b.String()
	if _, err := config.Load([]byte(out)); err != nil {
		return "", fmt.Errorf("demo config for scenario %s: %w", s.Name, err)
	}
	return out, nil
}

// configWriter writes the configuration text, rates scaled by scale.
type configWriter struct {
	b     strings.Builder
	scale float64
}

// rate is r scaled, as the configuration writes a rate.
func (w *configWriter) rate(r config.Rate) string { return fmt.Sprintf("%.0fB/s", float64(r)*w.scale) }

// cluster writes the lab as the one cluster, with its exempt entities, and
// its brokers as one resource group, with the scenario's capacity and
// margin.
func (w *configWriter) cluster(s *scenario.Scenario, c *lab.Cluster, exempt []config.ExemptConfig) {
	margin := s.Brokers.Margin
	if margin == 0 {
		margin = config.DefaultMargin
	}
	fmt.Fprintf(&w.b, "clusters:\n  - name: lab\n    bootstrap_servers: [%s]\n", strings.Join(c.Bootstrap(), ", "))
	if len(exempt) > 0 {
		w.b.WriteString("    exempt:\n")
		for _, x := range exempt {
			fmt.Fprintf(&w.b, "      - name: %q\n        entity: {", x.Name)
			var parts []string
			if x.Entity.User != "" {
				parts = append(parts, fmt.Sprintf("user: %q", x.Entity.User))
			}
			if x.Entity.ClientID != "" {
				parts = append(parts, fmt.Sprintf("client_id: %q", x.Entity.ClientID))
			}
			w.b.WriteString(strings.Join(parts, ", ") + "}\n")
		}
	}
	fmt.Fprintf(&w.b, "resource_groups:\n  - name: %s\n    cluster: lab\n    margin: %g\n", groupName(s), margin)
	fmt.Fprintf(&w.b, "    capacity: {produce: %s, fetch: %s}\n    brokers:\n", w.rate(s.Brokers.Capacity.Produce), w.rate(s.Brokers.Capacity.Fetch))
	urls := c.MetricsURLs()
	ids := make([]int, 0, len(urls))
	for id := range urls {
		ids = append(ids, int(id))
	}
	sort.Ints(ids)
	for _, id := range ids {
		fmt.Fprintf(&w.b, "      - {id: %d, metrics_url: %q}\n", id, urls[int32(id)])
	}
}

// projects writes one project per scenario project, with the quota
// entity and topic the lab gave it and the scenario's quotas.
func (w *configWriter) projects(s *scenario.Scenario, c *lab.Cluster) {
	w.b.WriteString("projects:\n")
	byName := map[string]lab.Project{}
	for _, p := range c.Projects() {
		byName[p.Name] = p
	}
	for _, sp := range s.Projects {
		lp := byName[sp.Name]
		fmt.Fprintf(&w.b, "  - name: %s\n    group: %s\n", sp.Name, groupName(s))
		if lp.User != "" {
			fmt.Fprintf(&w.b, "    entity: {user: %q, client_id: %q}\n", lp.User, lp.ClientID)
		} else {
			fmt.Fprintf(&w.b, "    entity: {client_id: %q}\n", lp.ClientID)
		}
		fmt.Fprintf(&w.b, "    topics: {prefixes: [%q]}\n", lp.Topic)
		w.quota("produce", sp.Produce)
		w.quota("fetch", sp.Fetch)
	}
}

// quota writes one direction's share, and floor, ceiling and weight
// where the scenario sets them.
func (w *configWriter) quota(direction string, q scenario.Quota) {
	fmt.Fprintf(&w.b, "    %s: {share: %s", direction, w.rate(q.Share))
	if q.Floor > 0 {
		fmt.Fprintf(&w.b, ", floor: %s", w.rate(q.Floor))
	}
	if q.Ceiling > 0 {
		fmt.Fprintf(&w.b, ", ceiling: %s", w.rate(q.Ceiling))
	}
	if q.Weight > 0 {
		fmt.Fprintf(&w.b, ", weight: %g", q.Weight)
	}
	w.b.WriteString("}\n")
}

// sections writes the collector, limiter, alerting, api and store
// sections from o.
func (w *configWriter) sections(o ConfigOptions) {
	// Scrapes must finish inside a round.
	fmt.Fprintf(&w.b, "collector:\n  scrape_timeout: %s\n", model(max(o.RoundInterval/2, 500*time.Millisecond)))
	fmt.Fprintf(&w.b, "limiter:\n  mode: %s\n", o.Mode)
	if len(o.Alertmanagers) > 0 || o.WebhookTokenFile != "" {
		w.b.WriteString("alerting:\n")
		if len(o.Alertmanagers) > 0 {
			fmt.Fprintf(&w.b, "  alertmanagers: [%s]\n", strings.Join(quoteAll(o.Alertmanagers), ", "))
		}
		if o.WebhookTokenFile != "" {
			fmt.Fprintf(&w.b, "  webhook: {bearer_token_file: %q}\n", o.WebhookTokenFile)
		}
	}
	if o.OperatorTokenSHA256 != "" {
		fmt.Fprintf(&w.b, "api:\n  tokens: [{name: demo, role: operator, sha256: %s}]\n", o.OperatorTokenSHA256)
	}
	fmt.Fprintf(&w.b, "store:\n  path: %q\n", o.StorePath)
}

func groupName(s *scenario.Scenario) string {
	n := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return '-'
	}, strings.ToLower(s.Name))
	if n == "" {
		return "lab"
	}
	return n
}

func model(d time.Duration) string {
	if d%time.Second == 0 {
		return fmt.Sprintf("%ds", int(d/time.Second))
	}
	return fmt.Sprintf("%dms", d.Milliseconds())
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = fmt.Sprintf("%q", s)
	}
	return out
}
