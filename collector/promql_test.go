package collector

import (
	"slices"
	"testing"

	"github.com/prometheus/prometheus/promql/parser"
)

// Every query of the PromQL source parses with Prometheus's own parser,
// is an instant vector, groups by (or keeps) the instance label the
// source matches targets by, and selects only metrics its profile reads
// when scraping.
func TestPromQLQueriesParse(t *testing.T) {
	p := parser.NewParser(parser.Options{})
	checked := 0
	for _, name := range ProfileNames() {
		t.Run(name, func(t *testing.T) {
			qs, err := PromQL(name, "1m")
			if err != nil {
				t.Fatal(err)
			}
			prof, err := ProfileByName(name)
			if err != nil {
				t.Fatal(err)
			}
			families := prof.Families()
			for _, q := range qs {
				e, err := p.ParseExpr(q.Expr)
				if err != nil {
					t.Errorf("%s: %q: %v", q.Kind, q.Expr, err)
					continue
				}
				checked++
				if e.Type() != parser.ValueTypeVector {
					t.Errorf("%s: %q is a %s, want an instant vector", q.Kind, q.Expr, e.Type())
				}
				parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
					switch n := n.(type) {
					case *parser.VectorSelector:
						if !slices.Contains(families, n.Name) {
							t.Errorf("%s: %q selects %s, which profile %s does not read", q.Kind, q.Expr, n.Name, name)
						}
					case *parser.AggregateExpr:
						if n.Without || !slices.Contains(n.Grouping, "instance") {
							t.Errorf("%s: %q aggregates away the instance label", q.Kind, q.Expr)
						}
					}
					return nil
				})
			}
		})
	}
	if checked < 20 {
		t.Fatalf("only %d queries checked", checked)
	}
}
