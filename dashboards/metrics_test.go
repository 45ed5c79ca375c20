package dashboards

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	// Test only: the collector's profiles name the exporter metrics
	// Headroom reads (jmx_exporter, Redpanda, node_exporter, kminion,
	// kafka_exporter); the dashboards package itself imports none.
	"github.com/headroomhq/headroom/collector"
)

// registered scans the repository's Go code (tests excluded) for the
// metric names Headroom registers with client_golang, adding a
// histogram's series suffixes.
func registered(t *testing.T) map[string]bool {
	t.Helper()
	opts := regexp.MustCompile(`prometheus\.(Gauge|Counter|Histogram|Summary)Opts\{\s*Name:\s*"(headroom_[a-z0-9_]+)"`)
	names := map[string]bool{}
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != ".." && (d.Name() == "node_modules" || d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range opts.FindAllStringSubmatch(string(b), -1) {
			names[m[2]] = true
			if m[1] == "Histogram" || m[1] == "Summary" {
				names[m[2]+"_bucket"], names[m[2]+"_sum"], names[m[2]+"_count"] = true, true, true
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(names) < 10 {
		t.Fatalf("found only %d Headroom metrics; the scan is broken", len(names))
	}
	return names
}

var (
	promStrings  = regexp.MustCompile(`"(\\.|[^"\\])*"`)
	promMatchers = regexp.MustCompile(`\{[^}]*\}|\[[^\]]*\]`)
	promGrouping = regexp.MustCompile(`\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	promIdent    = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*(\s*\()?`)
	promKeywords = map[string]bool{"and": true, "or": true, "unless": true, "bool": true, "offset": true, "inf": true, "nan": true}
)

// metricNames returns the metric names a PromQL expression selects.
func metricNames(expr string) []string {
	s := promStrings.ReplaceAllString(expr, `""`)
	s = promMatchers.ReplaceAllString(s, " ")
	s = promGrouping.ReplaceAllString(s, " ")
	var out []string
	for _, m := range promIdent.FindAllString(s, -1) {
		if strings.HasSuffix(m, "(") || promKeywords[strings.ToLower(m)] {
			continue // a function or aggregation, or a keyword
		}
		out = append(out, m)
	}
	return out
}

func TestMetricNames(t *testing.T) {
	for _, tt := range []struct {
		expr string
		want string
	}{
		{`topk(10, sum by (topic) (rate(a_total{topic!="x y"}[$__rate_interval])))`, "a_total"},
		{`1 - avg by (instance) (b)`, "b"},
		{`histogram_quantile(0.5, sum by (le) (rate(c_bucket[5m]))) / on (x) d`, "c_bucket d"},
	} {
		if got := strings.Join(metricNames(tt.expr), " "); got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.expr, got, tt.want)
		}
	}
}

// TestPanelsUseRealMetrics checks that every PromQL target selects only
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
					names := metricNames(tg.Expr)
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
