package config

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
)

func TestAlertRulesDefaultsAndOverrides(t *testing.T) {
	base, err := os.ReadFile("testdata/good/minimal.yml")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		extra string
		want  AlertRulesConfig
		runbk string
	}{
		{"defaults", "", DefaultAlertRulesConfig(), DefaultRunbookURL},
		{"one field set keeps the other defaults", "alerting:\n  rules: {throttled_for: 30s}\n  runbook_url: https://wiki.example/rb\n",
			func() AlertRulesConfig {
				r := DefaultAlertRulesConfig()
				r.ThrottledFor = model.Duration(30 * time.Second)
				return r
			}(),
			"https://wiki.example/rb"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if strings.Contains(string(base), "\nalerting:") && tt.extra != "" {
				t.Fatal("minimal.yml has an alerting section; this test appends one")
			}
			c, err := Load(append(append([]byte{}, base...), tt.extra...))
			if err != nil {
				t.Fatal(err)
			}
			if c.Alerting.Rules != tt.want {
				t.Errorf("rules %+v, want %+v", c.Alerting.Rules, tt.want)
			}
			if c.Alerting.RunbookURL != tt.runbk {
				t.Errorf("runbook_url %q, want %q", c.Alerting.RunbookURL, tt.runbk)
			}
		})
	}
}

func TestAlertRulesDefaultsAreValid(t *testing.T) {
	r := DefaultAlertRulesConfig()
	if errs := r.Validate(); len(errs) > 0 {
		t.Fatalf("defaults invalid: %v", errs)
	}
	if r.ThrottledRatio != DefaultThrottledRatio || r.ThrottledFor != DefaultThrottledFor || r.ApplyFailingFor != DefaultApplyFailingFor {
		t.Fatalf("defaults %+v", r)
	}
}
