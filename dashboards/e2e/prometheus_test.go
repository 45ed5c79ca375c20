package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"

	"github.com/headroomhq/headroom/alerting/webhook"
	"github.com/headroomhq/headroom/api"
	"github.com/headroomhq/headroom/daemon"
	"github.com/headroomhq/headroom/dashboards"
	"github.com/headroomhq/headroom/internal/labrig"
	"github.com/headroomhq/headroom/internal/testpeer"
	"github.com/headroomhq/headroom/simulations/demo"
	"github.com/headroomhq/headroom/simulations/lab"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// One broker of 1 MB/s produce, of which 80% may be handed out
// (labrig.HotAndCalm). hot wants 1.3 MB/s and stays throttled at what it
// can borrow, so Headroom raises ProjectThrottled; calm stays under its
// floor.
var scenarioYAML = labrig.HotAndCalm("dashboards", 2)

// scrapeInterval is the test Prometheus's scrape and rule evaluation
// interval, and so the Grafana datasource's minimum interval
// (jsonData.timeInterval) that an operator sets to match it.
const scrapeInterval = time.Second

// lagGroup is the consumer group whose lag the lag exporter publishes.
const lagGroup = "dashboards-lag"

// dashboardExpr is one PromQL expression of a panel, with Grafana's
// template variables still in it.
type dashboardExpr struct {
	file, panel, expr string
}

func (d dashboardExpr) String() string { return fmt.Sprintf("%s / %s: %s", d.file, d.panel, d.expr) }

// variable is a dashboard template variable.
type variable struct {
	Name  string `json:"name"`
	Type  string `json:"type"`
	Query any    `json:"query"`
}

// dashboardExprs returns every Prometheus target of every dashboard, as
// the committed JSON holds them, and each dashboard's template variables.
func dashboardExprs(t *testing.T) ([]dashboardExpr, map[string][]variable) {
	t.Helper()
	var out []dashboardExpr
	vars := map[string][]variable{}
	files := make([]string, 0, len(dashboards.All()))
	for f := range dashboards.All() {
		files = append(files, f)
	}
	sort.Strings(files)
	type panel struct {
		Title   string `json:"title"`
		Targets []struct {
			Datasource struct{ Type string } `json:"datasource"`
			Expr       string                `json:"expr"`
		} `json:"targets"`
		Panels []json.RawMessage `json:"panels"`
	}
	var walk func(file string, raw []json.RawMessage)
	walk = func(file string, raw []json.RawMessage) {
		for _, r := range raw {
			var p panel
			if err := json.Unmarshal(r, &p); err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			for _, tg := range p.Targets {
				if tg.Datasource.Type == "prometheus" {
					out = append(out, dashboardExpr{file, p.Title, tg.Expr})
				}
			}
			walk(file, p.Panels)
		}
	}
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join("..", "json", f))
		if err != nil {
			t.Fatal(err)
		}
		var d struct {
			Panels     []json.RawMessage `json:"panels"`
			Templating struct {
				List []variable `json:"list"`
			} `json:"templating"`
		}
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		vars[f] = d.Templating.List
		walk(f, d.Panels)
	}
	if len(out) < 15 {
		t.Fatalf("found only %d Prometheus expressions in the dashboards; the walk is broken", len(out))
	}
	return out, vars
}

// grafanaVar finds Grafana's variables, $name or ${name}.
var grafanaVar = regexp.MustCompile(`\$\{?([a-zA-Z_][a-zA-Z0-9_]*)\}?`)

// timing is what Grafana derives from a panel's time range before it
// sends a range query: the step ($__interval) and the duration variables.
type timing struct {
	start, end time.Time
	step       time.Duration
}

// grafanaTiming computes what Grafana derives from a panel's range: the
// interval is the range over the panel's data points (1000 here, a wide
// panel), never below the datasource's minimum interval, rounded up to a
// whole second; $__rate_interval is, as Grafana documents it,
// max($__interval + scrape interval, 4 × scrape interval); $__range is the
// range in seconds.
func grafanaTiming(start, end time.Time) (timing, map[string]string) {
	step := max(end.Sub(start)/1000, scrapeInterval)
	step = (step + time.Second - 1).Truncate(time.Second)
	rateInterval := max(step+scrapeInterval, 4*scrapeInterval)
	secs := func(d time.Duration) string { return strconv.Itoa(int(d/time.Second)) + "s" }
	return timing{start, end, step}, map[string]string{
		"__interval":      secs(step),
		"__rate_interval": secs(rateInterval),
		"__range":         secs(end.Sub(start).Truncate(time.Second)),
	}
}

// expansions returns the expression once for each combination of values
// of the dashboard variables it uses: every option of a custom variable,
// and a project the lab runs for a text box. A variable of another kind,
// or an unknown built-in, is an error.
func expansions(e dashboardExpr, vars []variable, builtins map[string]string, projects []string) ([]string, error) {
	exprs := []string{e.expr}
	seen := map[string]bool{}
	for _, m := range grafanaVar.FindAllStringSubmatch(e.expr, -1) {
		name := m[1]
		if seen[name] {
			continue // every occurrence was replaced with the first
		}
		seen[name] = true
		if strings.HasPrefix(name, "__") {
			v, ok := builtins[name]
			if !ok {
				return nil, fmt.Errorf("unknown Grafana variable $%s", name)
			}
			for i := range exprs {
				exprs[i] = replaceVar(exprs[i], name, v)
			}
			continue
		}
		var values []string
		for _, v := range vars {
			if v.Name != name {
				continue
			}
			switch v.Type {
			case "custom":
				q, _ := v.Query.(string)
				for _, o := range strings.Split(q, ",") {
					values = append(values, strings.TrimSpace(o))
				}
			case "textbox":
				values = projects
			default:
				return nil, fmt.Errorf("variable $%s of type %q: the test cannot pick its values", name, v.Type)
			}
		}
		if len(values) == 0 {
			return nil, fmt.Errorf("variable $%s is not defined in the dashboard", name)
		}
		var next []string
		for _, x := range exprs {
			for _, v := range values {
				next = append(next, replaceVar(x, name, v))
			}
		}
		exprs = next
	}
	return exprs, nil
}

func replaceVar(expr, name, value string) string {
	return grafanaVar.ReplaceAllStringFunc(expr, func(m string) string {
		if grafanaVar.FindStringSubmatch(m)[1] == name {
			return value
		}
		return m
	})
}

func TestExpansions(t *testing.T) {
	vars := []variable{{Name: "direction", Type: "custom", Query: "produce,fetch"}, {Name: "project", Type: "textbox"},
		{Name: "q", Type: "query", Query: "label_values(x, y)"}}
	builtins := map[string]string{"__rate_interval": "4s", "__range": "93s"}
	for _, tt := range []struct {
		expr    string
		want    []string
		wantErr string
	}{
		{`rate(a{d="$direction"}[$__rate_interval])`, []string{`rate(a{d="produce"}[4s])`, `rate(a{d="fetch"}[4s])`}, ""},
		{`increase(a{p="${project}",d="$direction"}[$__range])`, []string{`increase(a{p="hot",d="produce"}[93s])`, `increase(a{p="hot",d="fetch"}[93s])`}, ""},
		{`a{d="$direction"} / b{d="$direction"}`, []string{`a{d="produce"} / b{d="produce"}`, `a{d="fetch"} / b{d="fetch"}`}, ""},
		{`rate(a[$__interval_ms])`, nil, "unknown Grafana variable"},
		{`a{x="$q"}`, nil, "cannot pick"},
		{`a{x="$nope"}`, nil, "not defined"},
	} {
		t.Run(tt.expr, func(t *testing.T) {
			got, err := expansions(dashboardExpr{expr: tt.expr}, vars, builtins, []string{"hot"})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestGrafanaTiming(t *testing.T) {
	t0 := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		span                 time.Duration
		step, rate, rangeVar string
	}{
		{93 * time.Second, "1s", "4s", "93s"},       // a short range: the minimum interval
		{6 * time.Hour, "22s", "23s", "21600s"},     // 21.6 s rounded up; rate: 22 s + 1 s
		{1500 * time.Millisecond, "1s", "4s", "1s"}, // below a second
	} {
		t.Run(tt.span.String(), func(t *testing.T) {
			tm, b := grafanaTiming(t0, t0.Add(tt.span))
			if b["__interval"] != tt.step || tm.step.String() != tt.step || b["__rate_interval"] != tt.rate || b["__range"] != tt.rangeVar {
				t.Errorf("step %s, vars %v; want %s %s %s", tm.step, b, tt.step, tt.rate, tt.rangeVar)
			}
		})
	}
}

// lagExporter publishes kafka_exporter's kafka_consumergroup_lag
// (consumergroup, topic, partition) for one group of the lab, read with
// kadm from the lab's committed and end offsets on every scrape. It stands
// in for kafka_exporter, which no package installable here provides; the
// offsets it reports are the real ones the lab's Kafka protocol serves.
type lagExporter struct {
	adm   *kadm.Client
	group string
	desc  *prometheus.Desc
}

func (e *lagExporter) Describe(ch chan<- *prometheus.Desc) { ch <- e.desc }

func (e *lagExporter) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	lags, err := e.adm.Lag(ctx, e.group)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(e.desc, err)
		return
	}
	for _, dl := range lags {
		for _, ml := range dl.Lag.Sorted() {
			if ml.Err != nil || ml.Lag < 0 {
				continue
			}
			ch <- prometheus.MustNewConstMetric(e.desc, prometheus.GaugeValue, float64(ml.Lag),
				dl.Group, ml.Topic, strconv.Itoa(int(ml.Partition)))
		}
	}
}

// startLagExporter runs a consumer group on topic that commits what it
// reads, and an exporter of its lag. Both stop when the test ends.
func startLagExporter(t *testing.T, c *lab.Cluster, topic string) *httptest.Server {
	t.Helper()
	cons, err := kgo.NewClient(kgo.SeedBrokers(c.Bootstrap()...), kgo.ClientID("dashboards-lag"),
		kgo.ConsumerGroup(lagGroup), kgo.ConsumeTopics(topic), kgo.AutoCommitInterval(500*time.Millisecond),
		kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			cons.PollFetches(ctx)
		}
	}()
	admCl, err := kgo.NewClient(kgo.SeedBrokers(c.Bootstrap()...))
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(&lagExporter{adm: kadm.NewClient(admCl), group: lagGroup,
		desc: prometheus.NewDesc("kafka_consumergroup_lag", "Current approximate lag of a consumer group at topic/partition.",
			[]string{"consumergroup", "topic", "partition"}, nil)})
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	t.Cleanup(func() {
		srv.Close()
		cancel()
		<-done
		cons.Close()
		admCl.Close()
	})
	return srv
}

// promResult is the part of Prometheus's query API answer the test reads.
type promResult struct {
	Status    string `json:"status"`
	ErrorType string `json:"errorType"`
	Error     string `json:"error"`
	Data      struct {
		ResultType string            `json:"resultType"`
		Result     []json.RawMessage `json:"result"`
	} `json:"data"`
}

// queryRange evaluates expr as Grafana's Prometheus datasource does for a
// time series panel: /api/v1/query_range over the panel's range at its
// step. It returns the number of series with at least one point.
func queryRange(client *http.Client, promURL, expr string, tm timing) (int, error) {
	form := url.Values{"query": {expr},
		"start": {strconv.FormatInt(tm.start.Unix(), 10)}, "end": {strconv.FormatInt(tm.end.Unix(), 10)},
		"step": {strconv.FormatFloat(tm.step.Seconds(), 'f', -1, 64)}}
	resp, err := client.PostForm(promURL+"/api/v1/query_range", form)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var r promResult
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return 0, fmt.Errorf("query_range: %s: %w", resp.Status, err)
	}
	if r.Status != "success" {
		return 0, fmt.Errorf("query_range: %s: %s", r.ErrorType, r.Error)
	}
	n := 0
	for _, s := range r.Data.Result {
		var series struct {
			Values [][2]any `json:"values"`
		}
		if err := json.Unmarshal(s, &series); err != nil {
			return 0, err
		}
		if len(series.Values) > 0 {
			n++
		}
	}
	return n, nil
}

// ruleHealth reads every rule Prometheus loaded: its name, health and
// last evaluation error, and whether it was evaluated yet.
type ruleState struct {
	Name           string    `json:"name"`
	Query          string    `json:"query"`
	Health         string    `json:"health"`
	LastError      string    `json:"lastError"`
	LastEvaluation time.Time `json:"lastEvaluation"`
}

func rules(client *http.Client, promURL string) ([]ruleState, error) {
	resp, err := client.Get(promURL + "/api/v1/rules")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var r struct {
		Status string `json:"status"`
		Data   struct {
			Groups []struct {
				Rules []ruleState `json:"rules"`
			} `json:"groups"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return nil, fmt.Errorf("rules: %s: %w", resp.Status, err)
	}
	var out []ruleState
	for _, g := range r.Data.Groups {
		out = append(out, g.Rules...)
	}
	return out, nil
}

// TestDashboardsReturnData runs the lab under load with Headroom's daemon
// on it and a real Alertmanager in its alert loop, plus node_exporter and a
// consumer-lag exporter; a real Prometheus scrapes all of them every
// second and evaluates the rules in deploy/. Every expression of every
// dashboard panel, with its variables replaced as Grafana replaces them,
// must return data through Prometheus's HTTP API, and every selector of
// every rule must return series. What the expressions need
// is made to happen: hot is throttled beyond what it can borrow, so
// ProjectThrottled reaches Alertmanager and comes back through the webhook;
// a second Alertmanager address refuses connections, so delivery errors
// are counted; the broker runs above the configured saturation threshold,
// so the detector raises broker_saturation.
func TestDashboardsReturnData(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a lab, Headroom, Alertmanager, node_exporter and Prometheus for about a minute")
	}
	const (
		webhookTok = "am-to-headroom"
		roundEvery = 2 * time.Second
	)
	client := &http.Client{Timeout: 10 * time.Second}
	t.Cleanup(client.CloseIdleConnections)

	rig := labrig.New(t, scenarioYAML, lab.DefaultWindow)
	rig.Set("hot", 1.3e6)
	rig.Set("calm", 50e3)

	am := testpeer.Alertmanager(t, webhook.AlertmanagerRoute{URL: rig.URL + daemon.WebhookPath, BearerToken: webhookTok,
		GroupBy: []string{"alertname", "cluster", "group"}, GroupInterval: time.Second, RepeatInterval: time.Hour}.Config())
	// Nothing listens here: every delivery to it fails.
	deadAM := "http://" + testpeer.FreeAddr(t)

	tokFile := filepath.Join(t.TempDir(), "webhook-token")
	if err := os.WriteFile(tokFile, []byte(webhookTok+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := rig.Config(demo.ConfigOptions{RoundInterval: roundEvery, OperatorTokenSHA256: api.HashToken("operator-secret"),
		Alertmanagers: []string{am.URL, deadAM}, WebhookTokenFile: tokFile, ExternalURL: rig.URL})
	// hot is throttled for two rounds before ProjectThrottled fires.
	if !strings.Contains(cfg, "\nalerting:\n") || strings.Contains(cfg, "\ndetector:") {
		t.Fatalf("generated configuration has no alerting section, or has a detector section:\n%s", cfg)
	}
	cfg = strings.Replace(cfg, "\nalerting:\n", fmt.Sprintf("\nalerting:\n  rules: {throttled_for: %s}\n", 2*roundEvery), 1)
	// The lab's idle gauges are 1 − utilisation of the broker's capacity;
	// hot and calm hold it at about 70%, so below 50% idle is saturation.
	cfg += "detector:\n  saturation_idle_ratio: 0.5\n"
	// A single replica, elected through the lab's group protocol, so that
	// the replica metrics the rules in deploy/ read are exported too.
	cfg += "ha: {group_id: headroom-dashboards}\n"
	rig.WriteConfig(cfg)
	rig.StartTicker()

	var hotTopic string
	for _, p := range rig.Lab.Projects() {
		if p.Name == "hot" {
			hotTopic = p.Topic
		}
	}
	lagSrv := startLagExporter(t, rig.Lab, hotTopic)
	node := testpeer.NodeExporter(t)

	rulesFile, err := filepath.Abs(filepath.Join("..", "..", "deploy", "prometheus", "rules", "headroom.yml"))
	if err != nil {
		t.Fatal(err)
	}
	host := func(u string) string { return strings.TrimPrefix(strings.TrimPrefix(u, "http://"), "https://") }
	var brokers []string
	for _, u := range rig.Lab.MetricsURLs() {
		pu, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		if pu.Path != "/metrics" {
			t.Fatalf("broker metrics at %s, want the /metrics path", u)
		}
		brokers = append(brokers, fmt.Sprintf("%q", pu.Host))
	}
	promCfg := fmt.Sprintf(`global:
  scrape_interval: %[1]s
  scrape_timeout: %[1]s
  evaluation_interval: %[1]s
rule_files: [%[2]q]
scrape_configs:
  - job_name: headroom
    static_configs: [{targets: [%[3]q]}]
  - job_name: kafka
    static_configs: [{targets: [%[4]s]}]
  - job_name: node
    static_configs: [{targets: [%[5]q]}]
  - job_name: kafka_exporter
    static_configs: [{targets: [%[6]q]}]
`, scrapeInterval, rulesFile, host(rig.URL), strings.Join(brokers, ", "), host(node.URL), host(lagSrv.URL))
	prom := testpeer.Prometheus(t, promCfg)
	began := time.Now()

	exprs, vars := dashboardExprs(t)
	projects := []string{"hot"}
	// The dashboards are judged on a minute of scrapes at least, and at
	// most deadline is allowed for every expression to have data.
	const scrapeFor, deadline = time.Minute, 4 * time.Minute
	var (
		missing []string
		queries int
	)
	for {
		time.Sleep(2 * time.Second) // a poll of Prometheus, which scrapes on wall time
		tm, builtins := grafanaTiming(began, time.Now())
		missing, queries = missing[:0], 0
		for _, e := range exprs {
			qs, err := expansions(e, vars[e.file], builtins, projects)
			if err != nil {
				t.Fatalf("%s: %v", e, err)
			}
			for _, q := range qs {
				queries++
				n, err := queryRange(client, prom.URL, q, tm)
				switch {
				case err != nil && strings.Contains(err.Error(), "bad_data"):
					t.Fatalf("%s: Prometheus refuses %q: %v", e, q, err)
				case err != nil:
					missing = append(missing, fmt.Sprintf("%s: %q: %v", e, q, err))
				case n == 0:
					missing = append(missing, fmt.Sprintf("%s: %q returned no data", e, q))
				}
			}
		}
		if len(missing) == 0 && time.Since(began) >= scrapeFor {
			t.Logf("%d dashboard queries (%d expressions) all returned data over the %s Prometheus scraped", queries, len(exprs), tm.end.Sub(tm.start).Round(time.Second))
			break
		}
		select {
		case <-rig.Done():
			t.Fatalf("the daemon stopped: %v", rig.Err())
		default:
		}
		if time.Since(began) > deadline {
			t.Fatalf("after %s, %d dashboard expressions return no data:\n%s", deadline, len(missing), strings.Join(missing, "\n"))
		}
	}

	// The rules in deploy/ evaluate against the same data without error.
	// Prometheus evaluates the rules on its own wall-clock interval.
	testpeer.EventuallyNil(t, "every rule of "+rulesFile+" to evaluate", 30*time.Second, func() error {
		rs, err := rules(client, prom.URL)
		if err != nil {
			t.Fatal(err)
		}
		if len(rs) < 5 {
			t.Fatalf("Prometheus loaded %d rules from %s", len(rs), rulesFile)
		}
		var bad []string
		for _, r := range rs {
			if r.Health != "ok" || r.LastEvaluation.IsZero() {
				bad = append(bad, fmt.Sprintf("%s (%s): health %q %s", r.Name, r.Query, r.Health, r.LastError))
			}
		}
		if len(bad) > 0 {
			return fmt.Errorf("rules that do not evaluate:\n%s", strings.Join(bad, "\n"))
		}
		return nil
	})

	// Every selector of every rule returns series: the rule reads metrics
	// that exist, so it can fire (whether it does is promtool's to test).
	// A selector on a metric nobody exports evaluates without error to
	// nothing, which the health check above cannot see.
	rs, err := rules(client, prom.URL)
	if err != nil {
		t.Fatal(err)
	}
	type use struct{ rule, selector string }
	var uses []use
	for _, r := range rs {
		sels, err := ruleSelectors(r.Query)
		if err != nil {
			t.Fatalf("rule %s: %q: %v", r.Name, r.Query, err)
		}
		if len(sels) == 0 {
			t.Fatalf("rule %s: %q selects nothing", r.Name, r.Query)
		}
		for _, sel := range sels {
			uses = append(uses, use{r.Name, sel})
		}
	}
	// Series appear as Prometheus scrapes Headroom, on its wall-clock interval.
	testpeer.EventuallyNil(t, "every rule selector to return series", 10*time.Second, func() error {
		var bad []string
		for _, u := range uses {
			n, err := queryInstant(client, prom.URL, u.selector)
			switch {
			case err != nil:
				t.Fatalf("rule %s: %s: %v", u.rule, u.selector, err)
			case n == 0:
				bad = append(bad, fmt.Sprintf("rule %s: %s returns no series", u.rule, u.selector))
			}
		}
		if len(bad) > 0 {
			return fmt.Errorf("rules of %s that read metrics Prometheus does not have:\n%s", rulesFile, strings.Join(bad, "\n"))
		}
		return nil
	})
	t.Logf("%d selectors of %d rules all return series", len(uses), len(rs))
}

// ruleSelectors parses a rule's expression with Prometheus's parser and
// returns its vector selectors (a range selector's included) as instant
// queries, without offset or @.
func ruleSelectors(expr string) ([]string, error) {
	e, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			sel := (&parser.VectorSelector{Name: vs.Name, LabelMatchers: vs.LabelMatchers}).String()
			if !seen[sel] {
				seen[sel] = true
				out = append(out, sel)
			}
		}
		return nil
	})
	return out, nil
}

func TestRuleSelectors(t *testing.T) {
	for _, tt := range []struct{ expr, want string }{
		{`a > 1`, `a`},
		{`avg_over_time(b{x="y"}[5m] offset 1m) > 0.05`, `b{x="y"}`},
		{`sum without (o) (increase(c_total{o="f"}[10m])) > 0 unless sum without (o) (increase(c_total{o="w"}[10m])) > 0`, `c_total{o="f"} c_total{o="w"}`},
		{`sum(up{job="h"}) == 0 or absent(up{job="h"})`, `up{job="h"}`},
	} {
		t.Run(tt.expr, func(t *testing.T) {
			got, err := ruleSelectors(tt.expr)
			if err != nil {
				t.Fatal(err)
			}
			if s := strings.Join(got, " "); s != tt.want {
				t.Errorf("got %q, want %q", s, tt.want)
			}
		})
	}
}

// queryInstant evaluates expr now through /api/v1/query and returns the
// number of series in the result.
func queryInstant(client *http.Client, promURL, expr string) (int, error) {
	resp, err := client.PostForm(promURL+"/api/v1/query", url.Values{"query": {expr}})
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var r promResult
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return 0, fmt.Errorf("query: %s: %w", resp.Status, err)
	}
	if r.Status != "success" {
		return 0, fmt.Errorf("query: %s: %s", r.ErrorType, r.Error)
	}
	return len(r.Data.Result), nil
}
