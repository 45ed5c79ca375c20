package deploy_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/promql/parser"
	"gopkg.in/yaml.v3"
)

// ruleFile is the part of a Prometheus rule file that holds PromQL (the
// file's format is checked by promtool in TestPrometheusRules).
type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Record string `yaml:"record"`
			Alert  string `yaml:"alert"`
			Expr   string `yaml:"expr"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// Every rule's expression parses with Prometheus's own PromQL parser (the
// one Prometheus loads rule files with), and is a vector expression.
func TestRulesPromQLParses(t *testing.T) {
	files, err := filepath.Glob("prometheus/rules/*.yml")
	if err != nil {
		t.Fatal(err)
	}
	p := parser.NewParser(parser.Options{})
	exprs := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.yml") {
			continue
		}
		t.Run(filepath.Base(f), func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var rf ruleFile
			if err := yaml.Unmarshal(b, &rf); err != nil {
				t.Fatal(err)
			}
			for _, g := range rf.Groups {
				for _, r := range g.Rules {
					name := r.Record + r.Alert
					e, err := p.ParseExpr(r.Expr)
					if err != nil {
						t.Errorf("%s / %s: %q: %v", g.Name, name, r.Expr, err)
						continue
					}
					if e.Type() != parser.ValueTypeVector {
						t.Errorf("%s / %s: %q is a %s, want an instant vector", g.Name, name, r.Expr, e.Type())
					}
					exprs++
				}
			}
		})
	}
	if exprs < 5 {
		t.Fatalf("only %d rule expressions checked", exprs)
	}
}
