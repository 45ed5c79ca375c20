package deploy_test

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/promql/parser"
	"gopkg.in/yaml.v3"

	// Test only: the collector's profiles name the exporter metrics
	// Headroom reads (jmx_exporter, Redpanda, node_exporter, kminion,
	// kafka_exporter), which the rules may use too.
	"github.com/headroomhq/headroom/collector"
	"github.com/headroomhq/headroom/internal/metricnames"
)

// scrapeSeries are the series Prometheus itself writes for every scrape
// target (https://prometheus.io/docs/concepts/jobs_instances/).
var scrapeSeries = []string{"up", "scrape_duration_seconds", "scrape_samples_scraped",
	"scrape_samples_post_metric_relabeling", "scrape_series_added"}

// headroomMetrics is what Headroom's code registers (internal/metricnames).
func headroomMetrics(t *testing.T) map[string]bool {
	t.Helper()
	names, err := metricnames.Registered("..")
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// Every metric a shipped rule selects exists: Headroom registers it, a
// collector profile reads it from an exporter, Prometheus writes it for
// each scrape, or a rule of the shipped files records it. A selector on
// a metric nobody exports returns nothing, without error, so the alert
// could never fire.
func TestRulesSelectExportedMetrics(t *testing.T) {
	known := headroomMetrics(t)
	exporter := map[string]bool{}
	for _, name := range collector.ProfileNames() {
		p, err := collector.ProfileByName(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range p.Families() {
			exporter[f] = true
		}
	}
	for _, s := range scrapeSeries {
		known[s] = true
	}
	files, err := filepath.Glob("prometheus/rules/*.yml")
	if err != nil {
		t.Fatal(err)
	}
	type rule struct{ file, group, name, expr string }
	var rules []rule
	for _, f := range files {
		if strings.HasSuffix(f, "_test.yml") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var rf ruleFile
		if err := yaml.Unmarshal(b, &rf); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, g := range rf.Groups {
			for _, r := range g.Rules {
				if r.Record != "" {
					known[r.Record] = true
				}
				rules = append(rules, rule{filepath.Base(f), g.Name, r.Record + r.Alert, r.Expr})
			}
		}
	}
	p := parser.NewParser(parser.Options{})
	checked := 0
	for _, r := range rules {
		t.Run(r.name, func(t *testing.T) {
			e, err := p.ParseExpr(r.expr)
			if err != nil {
				t.Fatalf("%s / %s: %v", r.file, r.group, err)
			}
			names := metricnames.Selected(e)
			if len(names) == 0 {
				t.Fatalf("%s / %s: %q selects no metric by name", r.file, r.group, r.expr)
			}
			for _, n := range names {
				checked++
				if !known[n] && !exporter[n] {
					t.Errorf("%s / %s: %s selects %s, which Headroom does not register, no collector profile reads and no rule records", r.file, r.group, r.name, n)
				}
			}
		})
	}
	if checked < 10 {
		t.Fatalf("only %d selectors checked", checked)
	}
}

// testFile is the part of a promtool unit test file this test reads.
type testFile struct {
	Tests []struct {
		AlertRuleTest []struct {
			Alertname string `yaml:"alertname"`
			ExpAlerts []any  `yaml:"exp_alerts"`
		} `yaml:"alert_rule_test"`
	} `yaml:"tests"`
}

// Every alert rule has a promtool unit test in which it fires and one in
// which it does not.
func TestEveryAlertHasFiringAndQuietCases(t *testing.T) {
	files, err := filepath.Glob("prometheus/rules/*.yml")
	if err != nil {
		t.Fatal(err)
	}
	var alerts []string
	firing, quiet := map[string]bool{}, map[string]bool{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(f, "_test.yml") {
			var tf testFile
			if err := yaml.Unmarshal(b, &tf); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			for _, tc := range tf.Tests {
				for _, a := range tc.AlertRuleTest {
					if len(a.ExpAlerts) > 0 {
						firing[a.Alertname] = true
					} else {
						quiet[a.Alertname] = true
					}
				}
			}
			continue
		}
		var rf ruleFile
		if err := yaml.Unmarshal(b, &rf); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, g := range rf.Groups {
			for _, r := range g.Rules {
				if r.Alert != "" {
					alerts = append(alerts, r.Alert)
				}
			}
		}
	}
	sort.Strings(alerts)
	if len(alerts) < 5 {
		t.Fatalf("only %d alert rules found", len(alerts))
	}
	for _, a := range alerts {
		if !firing[a] {
			t.Errorf("%s: no unit test in which it fires", a)
		}
		if !quiet[a] {
			t.Errorf("%s: no unit test in which it stays quiet", a)
		}
	}
}
