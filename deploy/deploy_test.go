// Package deploy_test checks the deployment files shipped in deploy/ with
// the tools their users run: promtool for the Prometheus rules and their
// unit tests, amtool for the Alertmanager configuration.
package deploy_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/headroomhq/headroom/internal/testpeer"
)

func TestPrometheusRules(t *testing.T) {
	rules, err := filepath.Glob("prometheus/rules/*.yml")
	if err != nil {
		t.Fatal(err)
	}
	var ruleFiles, testFiles []string
	for _, f := range rules {
		if strings.HasSuffix(f, "_test.yml") {
			testFiles = append(testFiles, f)
		} else {
			ruleFiles = append(ruleFiles, f)
		}
	}
	if len(ruleFiles) == 0 || len(testFiles) == 0 {
		t.Fatalf("want rule files and their tests, found %v", rules)
	}
	if out, err := testpeer.Promtool(t, append([]string{"check", "rules"}, ruleFiles...)...); err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
	out, err := testpeer.Promtool(t, append([]string{"test", "rules"}, testFiles...)...)
	if err != nil || !strings.Contains(out, "SUCCESS") {
		t.Fatalf("promtool test rules: %v\n%s", err, out)
	}
}

func TestAlertmanagerConfig(t *testing.T) {
	out, err := testpeer.Amtool(t, "check-config", "alertmanager/alertmanager.yml")
	if err != nil || !strings.Contains(out, "SUCCESS") {
		t.Fatalf("amtool check-config: %v\n%s", err, out)
	}
	// The webhook route must reach Headroom with resolved notifications.
	routes := []struct {
		receivers string
		labels    []string
	}{
		{"headroom,platform-team", []string{"alertname=ProjectThrottled", "severity=warning"}},
		{"headroom,platform-team-pager", []string{"alertname=BrokerOverloaded", "severity=critical"}},
		{"platform-team", []string{"alertname=KafkaClientThrottled", "severity=info"}},
	}
	for _, r := range routes {
		args := append([]string{"config", "routes", "test", "--config.file=alertmanager/alertmanager.yml", "--verify.receivers=" + r.receivers}, r.labels...)
		if out, err := testpeer.Amtool(t, args...); err != nil {
			t.Errorf("route %v: want %s: %v\n%s", r.labels, r.receivers, err, out)
		}
	}
}
