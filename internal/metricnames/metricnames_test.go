package metricnames

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/promql/parser"
)

// TestRegistered scans a small made-up tree holding each form it reads,
// and forms it must not take (a test file, a non-Headroom name, a
// computed name).
func TestRegistered(t *testing.T) {
	dir := t.TempDir()
	write := func(name, src string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("a.go", `package a
var (
	g = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "headroom", Subsystem: "x", Name: "gauge"})
	h = prometheus.HistogramOpts{Name: "headroom_seconds"}
	d = prometheus.NewDesc("headroom_desc", "help", nil, nil)
	m = outbox.MetricNames{Queued: "headroom_q", Sent: "headroom_s"}
	o = prometheus.CounterOpts{Name: "other_total"}
	c = prometheus.CounterOpts{Name: prefix + "_total"}
)
`)
	write("b.go", `package a
var e = prometheus.CounterOpts{Name: "headroom_c1_total"}
var f = prometheus.CounterOpts{Name: "headroom_c2_total"}
var g2 = prometheus.CounterOpts{Name: "headroom_c3_total"}
var h2 = prometheus.CounterOpts{Name: "headroom_c4_total"}
`)
	write("a_test.go", `package a
var t = prometheus.CounterOpts{Name: "headroom_test_only_total"}
`)
	got, err := Registered(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"headroom_x_gauge", "headroom_seconds", "headroom_seconds_bucket", "headroom_seconds_sum", "headroom_seconds_count",
		"headroom_desc", "headroom_q", "headroom_s", "headroom_c1_total", "headroom_c2_total", "headroom_c3_total", "headroom_c4_total"}
	for _, n := range want {
		if !got[n] {
			t.Errorf("%s not found", n)
		}
	}
	if len(got) != len(want) {
		t.Errorf("found %d names, want %d: %v", len(got), len(want), got)
	}
}

// TestRegisteredRefusesAThinScan: a tree with almost nothing in it is an
// error, not an empty answer a caller would read as "nothing registered".
func TestRegisteredRefusesAThinScan(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a.go"), []byte("package a\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Registered(dir); err == nil {
		t.Fatal("want an error for a tree that registers nothing")
	}
}

func TestSelected(t *testing.T) {
	p := parser.NewParser(parser.Options{})
	for _, tt := range []struct{ expr, want string }{
		{`a > 1`, "a"},
		{`avg_over_time(b[5m]) > 0.05`, "b"},
		{`sum without (x) (increase(c_total{x="y"}[10m])) > 0 unless d`, "c_total d"},
		{`{__name__="e", job="j"} or absent(f{job="j"})`, "e f"},
		{`g:h:avg5m > 500`, "g:h:avg5m"},
		{`{job="j"}`, ""},
	} {
		t.Run(tt.expr, func(t *testing.T) {
			e, err := p.ParseExpr(tt.expr)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(Selected(e), " "); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
