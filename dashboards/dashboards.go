// Package dashboards builds Headroom's Grafana dashboards as code with the
// Grafana Foundation SDK: the cluster overview (Prometheus), project quotas
// and borrowing, throttling damage, and the alert loop (Headroom's
// datasource plugin and Prometheus). The JSON in json/ is generated from
// this code (go test ./dashboards -update) and provisioned by the files in
// provisioning/.
//
// It must not import any other Headroom package: it only names their
// metrics and the plugin's query types.
package dashboards

import (
	"encoding/json"
	"fmt"

	"github.com/grafana/grafana-foundation-sdk/go/barchart"
	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/variants"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/table"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// Datasource uids, as provisioning/datasources/headroom.yml names them.
const (
	PrometheusUID = "headroom-prometheus"
	HeadroomUID   = "headroom"
	// PluginID is the Headroom datasource plugin's id.
	PluginID = "headroomhq-headroom-datasource"
)

func promDS() common.DataSourceRef {
	t, u := "prometheus", PrometheusUID
	return common.DataSourceRef{Type: &t, Uid: &u}
}

func headroomDS() common.DataSourceRef {
	t, u := PluginID, HeadroomUID
	return common.DataSourceRef{Type: &t, Uid: &u}
}

// HeadroomQuery is a query of the Headroom datasource plugin.
type HeadroomQuery struct {
	RefId      string                `json:"refId"`
	QueryType  string                `json:"queryType"`
	Project    string                `json:"project,omitempty"`
	Direction  string                `json:"direction,omitempty"`
	Metric     string                `json:"metric,omitempty"`
	N          int                   `json:"n,omitempty"`
	Datasource *common.DataSourceRef `json:"datasource,omitempty"`
}

func (HeadroomQuery) ImplementsDataqueryVariant() {}

// Equals implements variants.Dataquery.
func (q HeadroomQuery) Equals(other variants.Dataquery) bool {
	o, ok := other.(HeadroomQuery)
	return ok && o.RefId == q.RefId && o.QueryType == q.QueryType && o.Project == q.Project &&
		o.Direction == q.Direction && o.Metric == q.Metric && o.N == q.N
}

// DataqueryType implements variants.Dataquery.
func (HeadroomQuery) DataqueryType() string { return PluginID }

// Validate implements variants.Dataquery.
func (q HeadroomQuery) Validate() error {
	switch q.QueryType {
	case "quotas", "ledger", "throttled", "detector", "alerts", "topn":
		return nil
	}
	return fmt.Errorf("unknown Headroom query type %q", q.QueryType)
}

// headroom is a builder for HeadroomQuery.
type headroom struct{ q HeadroomQuery }

func (b headroom) Build() (variants.Dataquery, error) {
	ds := headroomDS()
	b.q.Datasource = &ds
	return b.q, b.q.Validate()
}

func hq(ref, queryType string) headroom {
	return headroom{HeadroomQuery{RefId: ref, QueryType: queryType, Direction: "$direction", Project: "$project"}}
}

func (b headroom) metric(m string, n int) headroom { b.q.Metric, b.q.N = m, n; return b }
func (b headroom) allProjects() headroom           { b.q.Project = ""; return b }

var _ cog.Builder[variants.Dataquery] = headroom{}

func prom(ref, expr, legend string) *prometheus.DataqueryBuilder {
	return prometheus.NewDataqueryBuilder().RefId(ref).Expr(expr).LegendFormat(legend).Datasource(promDS())
}

func ts(title, unit string, h, w uint32) *timeseries.PanelBuilder {
	return timeseries.NewPanelBuilder().Title(title).Unit(unit).Height(h).Span(w).Min(0)
}

func directionVar() *dashboard.CustomVariableBuilder {
	return dashboard.NewCustomVariableBuilder("direction").Label("Direction").Values(dashboard.StringOrMap{String: cog.ToPtr("produce,fetch")}).
		Current(dashboard.VariableOption{Text: dashboard.StringOrArrayOfString{String: cog.ToPtr("produce")}, Value: dashboard.StringOrArrayOfString{String: cog.ToPtr("produce")}})
}

func projectVar() *dashboard.TextBoxVariableBuilder {
	return dashboard.NewTextBoxVariableBuilder("project").Label("Project (empty: all)")
}

func base(uid, title string) *dashboard.DashboardBuilder {
	return dashboard.NewDashboardBuilder(title).Uid(uid).Tags([]string{"headroom", "kafka"}).
		Refresh("30s").Time("now-6h", "now").Timezone(common.TimeZoneBrowser).Editable()
}

// Overview is the cluster overview: traffic, broker saturation and lag.
func Overview() *dashboard.DashboardBuilder {
	return base("headroom-overview", "Headroom / Cluster overview").
		WithRow(dashboard.NewRowBuilder("Traffic")).
		WithPanel(ts("Top 10 topics by bytes in", "Bps", 8, 12).WithTarget(
			prom("A", `topk(10, sum by (topic) (rate(kafka_server_brokertopicmetrics_bytesin_total{topic!=""}[$__rate_interval])))`, "{{topic}}"))).
		WithPanel(ts("Top 10 topics by bytes out", "Bps", 8, 12).WithTarget(
			prom("A", `topk(10, sum by (topic) (rate(kafka_server_brokertopicmetrics_bytesout_total{topic!=""}[$__rate_interval])))`, "{{topic}}"))).
		WithRow(dashboard.NewRowBuilder("Brokers")).
		WithPanel(ts("Request handler busy (broker saturation)", "percentunit", 8, 8).Max(1).WithTarget(
			prom("A", `1 - avg by (instance) (kafka_server_kafkarequesthandlerpool_requesthandleravgidle_percent)`, "{{instance}}"))).
		WithPanel(ts("Network processor busy", "percentunit", 8, 8).Max(1).WithTarget(
			prom("A", `1 - avg by (instance) (kafka_network_socketserver_networkprocessoravgidlepercent)`, "{{instance}}"))).
		WithPanel(ts("Host CPU busy (node_exporter)", "percentunit", 8, 8).Max(1).WithTarget(
			prom("A", `1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}[$__rate_interval]))`, "{{instance}}"))).
		WithRow(dashboard.NewRowBuilder("Consumers")).
		WithPanel(ts("Consumer lag (kafka_exporter)", "short", 8, 12).WithTarget(
			prom("A", `sum by (consumergroup, topic) (kafka_consumergroup_lag)`, "{{consumergroup}} {{topic}}"))).
		WithPanel(ts("Lag and saturation events (detector)", "short", 8, 12).WithTarget(
			prom("A", `sum by (kind) (increase(headroom_detector_events_total{kind=~"lag_growing|broker_saturation"}[$__rate_interval]))`, "{{kind}}")))
}

// Quotas shows each project's quota, demand and share, and who borrows.
func Quotas() *dashboard.DashboardBuilder {
	return base("headroom-quotas", "Headroom / Project quotas and borrowing").
		WithVariable(directionVar()).WithVariable(projectVar()).
		WithPanel(ts("Quota, demand and share per broker", "Bps", 10, 24).Datasource(headroomDS()).WithTarget(hq("A", "quotas"))).
		WithPanel(barchart.NewPanelBuilder().Title("Top 10 borrowers (mean borrowed per broker)").Height(8).Span(12).Datasource(headroomDS()).
			WithTarget(hq("A", "topn").metric("borrowed", 10).allProjects())).
		WithPanel(barchart.NewPanelBuilder().Title("Top 10 by demand").Height(8).Span(12).Datasource(headroomDS()).
			WithTarget(hq("A", "topn").metric("demand", 10).allProjects())).
		WithPanel(table.NewPanelBuilder().Title("Borrowing ledger").Height(10).Span(24).Datasource(headroomDS()).
			WithTarget(hq("A", "ledger"))).
		WithPanel(ts("Detector: rate, baseline, forecast upper bound; anomaly score (right)", "Bps", 10, 16).Datasource(headroomDS()).
			WithTarget(hq("A", "detector")).
			WithOverride(dashboard.MatcherConfig{Id: "byRegexp", Options: "^score.*"}, []dashboard.DynamicConfigValue{
				{Id: "unit", Value: "percentunit"}, {Id: "max", Value: 1}, {Id: "custom.axisPlacement", Value: "right"}})).
		WithPanel(barchart.NewPanelBuilder().Title("Top 10 by anomaly score (mean)").Height(10).Span(8).Datasource(headroomDS()).
			WithTarget(hq("A", "topn").metric("score", 10).allProjects())).
		WithPanel(ts("Quota writes by outcome", "short", 8, 12).WithTarget(
			prom("A", `sum by (outcome) (rate(headroom_quota_writes_total[$__rate_interval]))`, "{{outcome}}"))).
		WithPanel(ts("Decisions by reason", "short", 8, 12).WithTarget(
			prom("A", `sum by (reason) (rate(headroom_decisions_total{direction="$direction"}[$__rate_interval]))`, "{{reason}}")))
}

// Throttling shows the damage: bytes clients wanted but were not served.
func Throttling() *dashboard.DashboardBuilder {
	return base("headroom-throttling", "Headroom / Throttling damage").
		WithVariable(directionVar()).WithVariable(projectVar()).
		WithPanel(ts("Throttled bytes/s per broker (demand above quota)", "Bps", 10, 24).Datasource(headroomDS()).WithTarget(hq("A", "throttled"))).
		WithPanel(ts("Damage avoided: throttled under Headroom vs under static shares (damage ledger)", "Bps", 8, 16).WithTarget(
			prom("A", `sum by (policy) (rate(headroom_throttled_bytes_total{direction="$direction"}[$__rate_interval]))`, "{{policy}}"))).
		WithPanel(stat.NewPanelBuilder().Title("Damage avoided (share of static's throttling, range)").Unit("percentunit").Height(8).Span(8).WithTarget(
			prom("A", `1 - sum(increase(headroom_throttled_bytes_total{policy="headroom"}[$__range])) / sum(increase(headroom_throttled_bytes_total{policy="static"}[$__range]))`, "avoided"))).
		WithPanel(barchart.NewPanelBuilder().Title("Top 10 throttled projects").Height(8).Span(12).Datasource(headroomDS()).
			WithTarget(hq("A", "topn").metric("throttled", 10).allProjects())).
		WithPanel(ts("Kafka throttle time per entity", "ms", 8, 12).WithTarget(
			prom("A", `max by (user, clientId, resource) (kafka_server_quota_throttle_time)`, "{{resource}} {{user}}{{clientId}}"))).
		WithPanel(barchart.NewPanelBuilder().Title("Top 10 by Kafka throttle time").Height(8).Span(12).Datasource(headroomDS()).
			WithTarget(hq("A", "topn").metric("throttle_ms", 10).allProjects()))
}

// AlertLoop shows the alert loop: incidents, delivery and webhooks.
func AlertLoop() *dashboard.DashboardBuilder {
	return base("headroom-alerts", "Headroom / Alert loop").
		Annotation(dashboard.NewAnnotationQueryBuilder().Name("Headroom incidents").Datasource(headroomDS()).Enable(true).
			IconColor("red").Target(hq("Anno", "alerts").allProjects())).
		WithPanel(ts("Alerts delivered to Alertmanager", "short", 8, 12).WithTarget(
			prom("A", `sum by (alertmanager) (rate(headroom_notifications_sent_total[$__rate_interval]))`, "{{alertmanager}}"))).
		WithPanel(ts("Notification queue and errors", "short", 8, 12).
			WithTarget(prom("A", `headroom_notification_queue_length`, "queued {{alertmanager}}")).
			WithTarget(prom("B", `sum by (alertmanager) (rate(headroom_notification_errors_total[$__rate_interval]))`, "errors {{alertmanager}}"))).
		WithPanel(ts("Webhook alert states received", "short", 8, 12).WithTarget(
			prom("A", `sum by (result) (rate(headroom_webhook_alerts_total[$__rate_interval]))`, "{{result}}"))).
		WithPanel(ts("Webhook requests by status", "short", 8, 12).WithTarget(
			prom("A", `sum by (code) (rate(headroom_webhook_requests_total[$__rate_interval]))`, "{{code}}"))).
		WithPanel(ts("Detector events by kind", "short", 8, 12).WithTarget(
			prom("A", `sum by (kind) (increase(headroom_detector_events_total[$__rate_interval]))`, "{{kind}}"))).
		WithPanel(ts("Round duration (p50, p99)", "s", 8, 12).
			WithTarget(prom("A", `histogram_quantile(0.5, sum by (le) (rate(headroom_round_duration_seconds_bucket[$__rate_interval])))`, "p50")).
			WithTarget(prom("B", `histogram_quantile(0.99, sum by (le) (rate(headroom_round_duration_seconds_bucket[$__rate_interval])))`, "p99")))
}

// All returns every dashboard by file name.
func All() map[string]*dashboard.DashboardBuilder {
	return map[string]*dashboard.DashboardBuilder{
		"overview.json":   Overview(),
		"quotas.json":     Quotas(),
		"throttling.json": Throttling(),
		"alerts.json":     AlertLoop(),
	}
}

// Render builds a dashboard and returns its JSON.
func Render(b *dashboard.DashboardBuilder) ([]byte, error) {
	d, err := b.Build()
	if err != nil {
		return nil, fmt.Errorf("build dashboard: %w", err)
	}
	out, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode dashboard %s: %w", *d.Title, err)
	}
	return append(out, '\n'), nil
}
