package dashboards

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/promql/parser"

	// Test only: the collector's profiles name the exporter metrics
	// Headroom reads (jmx_exporter, Redpanda, node_exporter, kminion,
	// kafka_exporter); the dashboards package itself imports none.
	"github.com/headroomhq/headroom/collector"
	"github.com/headroomhq/headroom/internal/metricnames"
)

// registered is what Headroom's code registers (internal/metricnames).
func registered(t *testing.T) map[string]bool {
	t.Helper()
	names, err := metricnames.Registered("..")
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// promQL is Prometheus's own PromQL parser, with its default options
// (those of a Prometheus without feature flags).
var promQL = parser.NewParser(parser.Options{})

// grafanaVar finds Grafana's template variables, $name or ${name}.
var grafanaVar = regexp.MustCompile(`\$\{?([a-zA-Z_][a-zA-Z0-9_]*)\}?`)

// grafanaDurations are Grafana's built-in duration variables.
var grafanaDurations = map[string]bool{"__rate_interval": true, "__interval": true, "__range": true}

// expand replaces Grafana's variables as Grafana does before sending the
// query: a duration variable by a duration, a dashboard variable (used in
// label matchers) by a value.
func expand(expr string) (string, error) {
	var bad error
	out := grafanaVar.ReplaceAllStringFunc(expr, func(v string) string {
		name := grafanaVar.FindStringSubmatch(v)[1]
		switch {
		case grafanaDurations[name]:
			return "1m"
		case strings.HasPrefix(name, "__"):
			bad = fmt.Errorf("unknown Grafana variable %s", v)
		}
		return "value"
	})
	return out, bad
}

// metricNames parses a panel's PromQL expression, as Grafana sends it,
// with Prometheus's parser and returns the metric names it selects.
func metricNames(expr string) ([]string, error) {
	q, err := expand(expr)
	if err != nil {
		return nil, err
	}
	e, err := promQL.ParseExpr(q)
	if err != nil {
		return nil, err
	}
	return metricnames.Selected(e), nil
}

func TestMetricNames(t *testing.T) {
	for _, tt := range []struct {
		expr    string
		want    string
		wantErr string
	}{
		{`topk(10, sum by (topic) (rate(a_total{topic!="x y"}[$__rate_interval])))`, "a_total", ""},
		{`1 - avg by (instance) (b)`, "b", ""},
		{`histogram_quantile(0.5, sum by (le) (rate(c_bucket[5m]))) / on (x) d`, "c_bucket d", ""},
		{`{__name__="e", job="x"} or f offset 5m`, "e f", ""},
		{`sum by (topic) (rate(a_total[5m])`, "", "unclosed left parenthesis"},
		{`rate(a_total[5m]) by (topic)`, "", "unexpected <by>"},
		{`rate(a_total{direction="$direction"}[$__interval])`, "a_total", ""},
		{`rate(a_total[$__rate_intervals])`, "", "unknown Grafana variable"},
		{`rate(a_total)`, "", "expected type range vector"},
	} {
		t.Run(tt.expr, func(t *testing.T) {
			names, err := metricNames(tt.expr)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(names, " "); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestPanelsUseRealMetrics checks that every PromQL target parses and selects only
// metrics Headroom registers or its collector profiles read from real
// exporters, and that every Headroom target is a query type the plugin
// serves.
func TestPanelsUseRealMetrics(t *testing.T) {
	known := registered(t)
	for _, name := range collector.ProfileNames() {
		p, err := collector.ProfileByName(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range p.Families() {
			known[f] = true
		}
	}
	queryTypes := map[string]bool{"quotas": true, "ledger": true, "throttled": true, "detector": true, "alerts": true, "topn": true}
	used := 0
	for file, b := range All() {
		raw, err := Render(b)
		if err != nil {
			t.Fatal(err)
		}
		var d struct {
			Panels []struct {
				Title   string `json:"title"`
				Targets []struct {
					Datasource struct{ Type string } `json:"datasource"`
					Expr       string                `json:"expr"`
					QueryType  string                `json:"queryType"`
					Metric     string                `json:"metric"`
				} `json:"targets"`
			} `json:"panels"`
			Annotations struct {
				List []struct {
					Target struct {
						QueryType string `json:"queryType"`
					} `json:"target"`
					Datasource struct{ Type string } `json:"datasource"`
				} `json:"list"`
			} `json:"annotations"`
		}
		if err := json.Unmarshal(raw, &d); err != nil {
			t.Fatal(err)
		}
		for _, p := range d.Panels {
			for _, tg := range p.Targets {
				switch tg.Datasource.Type {
				case "prometheus":
					names, err := metricNames(tg.Expr)
					if err != nil {
						t.Errorf("%s / %s: %q does not parse: %v", file, p.Title, tg.Expr, err)
						continue
					}
					if len(names) == 0 {
						t.Errorf("%s / %s: %q selects no metric", file, p.Title, tg.Expr)
					}
					for _, n := range names {
						used++
						if !known[n] {
							t.Errorf("%s / %s: %s is neither registered by Headroom nor read by a collector profile", file, p.Title, n)
						}
					}
				case PluginID:
					used++
					if !queryTypes[tg.QueryType] {
						t.Errorf("%s / %s: query type %q is not the plugin's", file, p.Title, tg.QueryType)
					}
					if tg.QueryType == "topn" && !strings.Contains(" throttled borrowed lent demand quota forecast throttle_ms score ", " "+tg.Metric+" ") {
						t.Errorf("%s / %s: top N by %q is not one the plugin ranks by", file, p.Title, tg.Metric)
					}
				default:
					t.Errorf("%s / %s: datasource type %q", file, p.Title, tg.Datasource.Type)
				}
			}
		}
		for _, a := range d.Annotations.List {
			if a.Datasource.Type == PluginID && !queryTypes[a.Target.QueryType] {
				t.Errorf("%s: annotation query type %q", file, a.Target.QueryType)
			}
		}
	}
	if used < 20 {
		t.Fatalf("only %d metric and query uses checked", used)
	}
}
