package collector

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParseAndMap feeds arbitrary pages through parsing and every profile.
// It must never panic, and mapped points must carry finite values.
func FuzzParseAndMap(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.prom")
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		// Seeds are cut to a few lines: whole fixture pages make each
		// mutation round far slower without finding more.
		if len(b) > 300 {
			b = b[:300]
			b = b[:bytes.LastIndexByte(b, '\n')+1]
		}
		f.Add(b, false)
	}
	f.Add([]byte("a_total{x=\"y\"} 1 1.5 # {t=\"1\"} 2\n# EOF\n"), true)
	f.Add([]byte("kafka_server_quota_byte_rate{resource=\"Produce\",user=\"\\\"\"} NaN\n"), false)
	f.Add([]byte("# TYPE a counter\na_total{x=\"y\"} 1\n"), true) // no # EOF
	f.Add([]byte("{\"a.b\",x=\"y\"} 1\n# EOF\n"), true)           // a quoted UTF-8 name
	f.Fuzz(func(t *testing.T, body []byte, openMetrics bool) {
		ct := ""
		if openMetrics {
			ct = "application/openmetrics-text; version=1.0.0"
		}
		for _, name := range ProfileNames() {
			p, err := ProfileByName(name)
			if err != nil {
				t.Fatal(err)
			}
			pts, _, _, err := MapPage(p, Page{Body: body, ContentType: ct})
			if err != nil {
				return
			}
			for _, pt := range pts {
				if math.IsNaN(pt.Value) || math.IsInf(pt.Value, 0) {
					t.Fatalf("%s mapped a non-finite value: %+v", name, pt)
				}
			}
		}
	})
}
