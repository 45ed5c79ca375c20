package collector

import (
	"strings"
	"testing"
)

func TestFilterPageChecksSkippedLines(t *testing.T) {
	wanted := map[string]bool{"keep_total": true}
	cases := []struct {
		name, page, want, wantErr string
	}{
		{"keeps wanted and its TYPE", "# TYPE keep_total counter\n# TYPE skip gauge\nkeep_total{a=\"b\"} 1\nskip{x=\"}\"} 2 123\n", "# TYPE keep_total counter\nkeep_total{a=\"b\"} 1\n", ""},
		{"no final line feed", "skip 1\nkeep_total 2", "", "truncated"},
		{"garbage name", "\x00\xff 1\n", "", "invalid metric name"},
		{"unterminated labels", "skip{a=\"b 1\n", "", "unterminated label set"},
		{"bad value", "skip{a=\"b\"} one\n", "", "invalid value"},
		{"missing value", "skip{a=\"b\"}\n", "", "expected a value"},
		{"NaN is a value", "skip NaN\n", "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := filterPage([]byte(tc.page), wanted)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("filtered = %q, want %q", got, tc.want)
			}
		})
	}
}
