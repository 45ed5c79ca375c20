// Package metricnames finds the metric names Headroom's own code
// registers with client_golang, by parsing the source, and the names a
// PromQL expression selects: the tests of the dashboards and of the
// shipped Prometheus rules check every name they select against what is
// registered. Only tests import it.
//
// It owns the scan and nothing else; it must not import any other Headroom
// package.
package metricnames

import (
	"fmt"
	"go/ast"
	goparser "go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// Registered parses the Go code below root (tests, testdata and
// node_modules excluded) and returns the headroom_* metric names it
// registers:
//   - the name of every prometheus.{Gauge,Counter,Histogram,Summary}Opts
//     literal, with Namespace and Subsystem, and a histogram's or
//     summary's series suffixes;
//   - every prometheus.NewDesc with a literal name (collectors that build
//     their metrics at scrape time);
//   - every name of an outbox.MetricNames literal (a sender's metrics,
//     which the outbox registers).
//
// Fewer than ten names means the scan is broken, and is an error.
func Registered(root string) (map[string]bool, error) {
	names := map[string]bool{}
	add := func(name, kind string) {
		if !strings.HasPrefix(name, "headroom_") {
			return
		}
		names[name] = true
		if kind == "Histogram" || kind == "Summary" {
			names[name+"_bucket"], names[name+"_sum"], names[name+"_count"] = true, true, true
		}
	}
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != root && (d.Name() == "node_modules" || d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := goparser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.CompositeLit:
				pkg, typ, ok := selector(n.Type)
				if !ok {
					return true
				}
				fields := map[string]string{}
				for _, e := range n.Elts {
					if kv, ok := e.(*ast.KeyValueExpr); ok {
						key, isKey := kv.Key.(*ast.Ident)
						if v, isStr := str(kv.Value); isKey && isStr {
							fields[key.Name] = v
						}
					}
				}
				switch {
				case pkg == "outbox" && typ == "MetricNames":
					for _, v := range fields {
						add(v, "")
					}
				case pkg == "prometheus":
					kind, isOpts := strings.CutSuffix(typ, "Opts")
					if isOpts && slices.Contains([]string{"Gauge", "Counter", "Histogram", "Summary"}, kind) {
						add(prometheus.BuildFQName(fields["Namespace"], fields["Subsystem"], fields["Name"]), kind)
					}
				}
			case *ast.CallExpr:
				if pkg, fn, ok := selector(n.Fun); ok && pkg == "prometheus" && fn == "NewDesc" && len(n.Args) > 0 {
					if v, ok := str(n.Args[0]); ok {
						add(v, "")
					}
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("scan metric names below %s: %w", root, err)
	}
	if len(names) < 10 {
		return nil, fmt.Errorf("scan metric names below %s: found only %d; the scan is broken", root, len(names))
	}
	return names, nil
}

// Selected returns the metric names an expression selects: the names of
// its vector selectors (a matrix selector holds one), or their __name__
// equality matcher; "" for a selector with neither.
func Selected(e parser.Expr) []string {
	var out []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			name := vs.Name
			for _, m := range vs.LabelMatchers {
				if name == "" && m.Name == labels.MetricName && m.Type == labels.MatchEqual {
					name = m.Value
				}
			}
			out = append(out, name)
		}
		return nil
	})
	return out
}

// selector splits pkg.Name.
func selector(e ast.Expr) (pkg, name string, ok bool) {
	sel, ok := e.(*ast.SelectorExpr)
	if !ok {
		return "", "", false
	}
	id, ok := sel.X.(*ast.Ident)
	if !ok {
		return "", "", false
	}
	return id.Name, sel.Sel.Name, true
}

// str is a string literal's value.
func str(e ast.Expr) (string, bool) {
	lit, ok := e.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return "", false
	}
	v, err := strconv.Unquote(lit.Value)
	return v, err == nil
}
