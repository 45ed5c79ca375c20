package alerting

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/headroomhq/headroom/config"
)

func TestRulesFireAfterTheirDurationAndStop(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 3, 0, 0, 0, time.UTC)
	// ThrottledFor is set: the steps below are timed against one minute.
	r := NewRules(RuleOptions{ExternalURL: "http://headroom:9644/", DashboardURL: "http://grafana:3000", ThrottledFor: time.Minute})
	throttled := ProjectObservation{Group: "events", Project: "checkout", Direction: "produce", Demand: 10 << 20, Served: 8 << 20, Quota: 8 << 20, Share: 5 << 20}
	bad := Observation{
		Cluster:  "main",
		Projects: []ProjectObservation{throttled, {Group: "events", Project: "quiet", Direction: "produce", Demand: 1 << 20, Served: 1 << 20}},
		Groups:   []GroupObservation{{Group: "events", Direction: "produce", Demand: 99, SafeCapacity: 100}},
		Brokers:  []BrokerObservation{{Group: "events", Broker: "1", Direction: "produce", Idle: 0.05}, {Group: "events", Broker: "2", Idle: 0.5, Served: 120, SafeCapacity: 100}, {Group: "events", Broker: "3", Idle: 0.5}},
		Lag:      []LagObservation{{ConsumerGroup: "billing", Topic: "orders", Project: "checkout", Status: "WARN", Growing: true, Lag: 5000}, {ConsumerGroup: "ok", Topic: "x", Status: "OK"}},
		Targets:  []TargetObservation{{Target: "http://b1:7071/metrics", Broker: "1", Err: "connection refused"}, {Target: "http://b2:7071/metrics", Up: true}},
		Applies:  []ApplyObservation{{Group: "events", Failed: true, Err: "CLUSTER_AUTHORIZATION_FAILED"}, {Group: "batch"}},
	}
	names := func(as []string) []string { return as }
	fired := func(at time.Duration) []string {
		obs := bad
		obs.Time = t0.Add(at)
		var got []string
		for _, a := range r.Evaluate(obs) {
			got = append(got, a.Labels["alertname"]+"/"+a.Labels["project"]+a.Labels["broker"]+a.Labels["group"])
		}
		return got
	}
	steps := []struct {
		at   time.Duration
		want []string
	}{
		{0, nil},
		{59 * time.Second, nil},
		{time.Minute, names([]string{"CollectorTargetDown/1", "ProjectThrottled/checkoutevents"})},
		{2 * time.Minute, names([]string{"BrokerOverloaded/1events", "BrokerOverloaded/2events", "CollectorTargetDown/1", "ProjectThrottled/checkoutevents"})},
		{5 * time.Minute, names([]string{"BrokerOverloaded/1events", "BrokerOverloaded/2events", "CollectorTargetDown/1", "ConsumerLagGrowing/checkout", "GroupSaturated/events", "ProjectThrottled/checkoutevents", "QuotaApplyFailing/events"})},
	}
	for _, s := range steps {
		got := fired(s.at)
		slices.Sort(got)
		if !slices.Equal(got, s.want) {
			t.Fatalf("at +%s fired %v, want %v", s.at, got, s.want)
		}
	}
	ctx := context.Background()
	if ok, _ := r.Active(ctx, AlertProjectThrottled, map[string]string{"alertname": AlertProjectThrottled, "cluster": "main", "group": "events", "project": "checkout", "direction": "produce", "severity": "critical"}); !ok {
		t.Fatal("throttling condition not active (an escalated severity must not matter)")
	}

	// One round without throttling: the alert stops at once and its
	// duration starts over.
	r.Evaluate(Observation{Time: t0.Add(6 * time.Minute), Cluster: "main"})
	if ok, _ := r.Active(ctx, AlertProjectThrottled, map[string]string{"cluster": "main", "group": "events", "project": "checkout", "direction": "produce"}); ok {
		t.Fatal("throttling condition still active after it cleared")
	}
	if got := fired(6*time.Minute + 30*time.Second); len(got) != 0 {
		t.Fatalf("fired %v right after the conditions came back, want none", got)
	}
}

func TestRuleAlertContents(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 3, 0, 0, 0, time.UTC)
	r := NewRules(RuleOptions{ExternalURL: "http://headroom:9644/", DashboardURL: "http://grafana:3000", ThrottledFor: time.Second})
	obs := Observation{Cluster: "main", Projects: []ProjectObservation{{Group: "events", Project: "checkout", Direction: "fetch", Demand: 4 << 20, Served: 2 << 20, Quota: 2 << 20, Share: 1 << 20}}}
	obs.Time = t0
	r.Evaluate(obs)
	obs.Time = t0.Add(time.Second)
	as := r.Evaluate(obs)
	if len(as) != 1 {
		t.Fatalf("want one alert, got %v", as)
	}
	a := as[0]
	wantLabels := map[string]string{"alertname": "ProjectThrottled", "cluster": "main", "group": "events", "project": "checkout", "direction": "fetch", "severity": "warning"}
	if fmt.Sprint(a.Labels) != fmt.Sprint(wantLabels) {
		t.Fatalf("labels %v, want %v", a.Labels, wantLabels)
	}
	if !a.StartsAt.Equal(t0) {
		t.Fatalf("starts at %s, want the first round the condition held, %s", a.StartsAt, t0)
	}
	for _, k := range []string{"summary", "description", "runbook_url", "dashboard"} {
		if a.Annotations[k] == "" {
			t.Fatalf("annotation %s missing: %v", k, a.Annotations)
		}
	}
	if !strings.Contains(a.Annotations["description"], "50% of its demand") || !strings.Contains(a.Annotations["description"], "1MiB/s borrowed") {
		t.Fatalf("description %q", a.Annotations["description"])
	}
	if a.Annotations["dashboard"] != "http://grafana:3000/d/headroom-throttling" || !strings.HasSuffix(a.Annotations["runbook_url"], "#projectthrottled") {
		t.Fatalf("links %v", a.Annotations)
	}
	u, err := url.Parse(a.GeneratorURL)
	if err != nil || u.Host != "headroom:9644" || u.Path != "/api/v1/explain" || u.Query().Get("project") != "checkout" || u.Query().Get("direction") != "fetch" || u.Query().Get("at") != "2026-11-23T03:00:01Z" {
		t.Fatalf("generatorURL %q (%v)", a.GeneratorURL, err)
	}
}

// Every alert Headroom raises, and every alert the example Prometheus rules
// raise, has its section in docs/runbooks.md, which their runbook_url
// annotations link to.
func TestEveryAlertHasARunbook(t *testing.T) {
	doc, err := os.ReadFile("../docs/runbooks.md")
	if err != nil {
		t.Fatal(err)
	}
	rules, err := os.ReadFile("../deploy/prometheus/rules/headroom.yml")
	if err != nil {
		t.Fatal(err)
	}
	var promRules []string
	for _, l := range strings.Split(string(rules), "\n") {
		if n, ok := strings.CutPrefix(strings.TrimSpace(l), "- alert: "); ok {
			promRules = append(promRules, n)
			if !strings.Contains(string(rules), "docs/runbooks.md#"+strings.ToLower(n)+`"`) {
				t.Errorf("the Prometheus rule %s links no runbook", n)
			}
		}
	}
	if len(promRules) == 0 {
		t.Fatal("found no alert in deploy/prometheus/rules/headroom.yml")
	}
	own := []string{AlertProjectThrottled, AlertGroupSaturated, AlertBrokerOverloaded, AlertConsumerLagGrowing, AlertCollectorTargetDown, AlertQuotaApplyFailing}
	for _, n := range append(own, promRules...) {
		if !strings.Contains(string(doc), "\n## "+n+"\n") {
			t.Errorf("docs/runbooks.md has no section for %s", n)
		}
	}
	r := NewRules(RuleOptions{})
	if got := r.opts.RunbookURL; got != "https://github.com/headroomhq/headroom/blob/main/docs/runbooks.md" {
		t.Errorf("default runbook URL %q", got)
	}
}

func TestRulesPerItemClusterAndReload(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 3, 0, 0, 0, time.UTC)
	r := NewRules(RuleOptions{ThrottledFor: 30 * time.Second})
	obs := func(at time.Time) Observation {
		return Observation{Time: at, Cluster: "main", Projects: []ProjectObservation{
			{Cluster: "eu", Group: "g", Project: "a", Direction: "produce", Demand: 10, Served: 5, Quota: 5},
			{Group: "g", Project: "b", Direction: "produce", Demand: 10, Served: 5, Quota: 5},
		}}
	}
	if got := r.Evaluate(obs(t0)); len(got) != 0 {
		t.Fatalf("fired before its duration: %v", got)
	}
	// A reload that lengthens the duration keeps when the condition began.
	r.SetOptions(RuleOptions{ThrottledFor: time.Minute})
	if got := r.Evaluate(obs(t0.Add(45 * time.Second))); len(got) != 0 {
		t.Fatalf("fired before the reloaded duration: %v", got)
	}
	got := r.Evaluate(obs(t0.Add(time.Minute)))
	if len(got) != 2 || !got[0].StartsAt.Equal(t0) {
		t.Fatalf("want both firing since t0 after the reload, got %+v", got)
	}
	clusters := map[string]string{}
	for _, a := range got {
		clusters[a.Labels["project"]] = a.Labels["cluster"]
	}
	if clusters["a"] != "eu" || clusters["b"] != "main" {
		t.Fatalf("cluster labels %v: want the item's own, else the observation's", clusters)
	}
	if !strings.Contains(got[0].Annotations["summary"], "on eu") && !strings.Contains(got[1].Annotations["summary"], "on eu") {
		t.Fatalf("summaries name the wrong cluster: %q, %q", got[0].Annotations["summary"], got[1].Annotations["summary"])
	}
}

func TestRuleOptionsFromConfig(t *testing.T) {
	c := config.DefaultConfig()
	c.Global.ExternalURL = "https://headroom.example/"
	c.Alerting.DashboardURL = "https://grafana.example"
	c.Alerting.Rules.ThrottledRatio = 0.2
	c.Alerting.Rules.LagFor = model.Duration(time.Hour)
	o := RuleOptionsFrom(&c)
	if o.ExternalURL != "https://headroom.example/" || o.DashboardURL != "https://grafana.example" || o.ThrottledRatio != 0.2 ||
		o.LagFor != time.Hour || o.ThrottledFor != time.Duration(config.DefaultThrottledFor) || o.RunbookURL != config.DefaultRunbookURL {
		t.Fatalf("options %+v", o)
	}
	if got := NewRules(o).opts.ExternalURL; got != "https://headroom.example" {
		t.Fatalf("external URL %q, want its trailing slash trimmed", got)
	}
}
