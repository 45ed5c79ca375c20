package detector

import (
	"bytes"
	"math"
	"strings"
	"testing"

	"github.com/headroomhq/headroom/config"
)

func TestReadCSVErrors(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", "empty input"},
		{"bad header", "time,val\n2020-01-01 00:00:00,1\n", `line 1: header is "time","val"`},
		{"one column header", "timestamp\n", "line 1"},
		{"too many fields", "timestamp,value\n2020-01-01 00:00:00,1\n2020-01-01 00:05:00,1,2\n", "line 3"},
		{"bad timestamp", "timestamp,value\n2020-01-01 00:00:00,1\nyesterday,2\n", `line 3: timestamp "yesterday"`},
		{"empty timestamp", "timestamp,value\n,2\n", "line 2: timestamp"},
		{"not a number", "timestamp,value\n2020-01-01 00:00:00,abc\n", `line 2: value "abc" is not a number`},
		{"empty value", "timestamp,value\n2020-01-01 00:00:00,\n", `line 2: value "" is not a number`},
		{"NaN", "timestamp,value\n2020-01-01 00:00:00,1\n2020-01-01 00:05:00,NaN\n", `line 3: value "NaN" is not finite`},
		{"Inf", "timestamp,value\n2020-01-01 00:00:00,+Inf\n", `line 2: value "+Inf" is not finite`},
		{"overflow", "timestamp,value\n2020-01-01 00:00:00,1e999\n", "line 2"},
		{"bare quote", "timestamp,value\n2020-01-01 00:00:00,\"1\n", "line 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadCSV(strings.NewReader(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
			var out bytes.Buffer
			if err := Detect(config.DefaultDetectorConfig(), strings.NewReader(tt.in), &out); err == nil || out.Len() != 0 {
				t.Fatalf("Detect wrote %d bytes and returned %v for a malformed input", out.Len(), err)
			}
		})
	}
}

func TestDetectKeepsRowsAndOrder(t *testing.T) {
	in := "\xef\xbb\xbftimestamp,value\n" +
		"2020-01-01 00:00:00,1.50\n" +
		"2020-01-01T00:05:00Z,2\n" +
		"2020-01-01 00:05:00,3\n" + // duplicate: kept, skipped by the detector
		"2020-01-01 00:01:00,4\n" + // backwards: same
		"1577837400,  5e0\n" +
		"2020-01-01 00:15:00.250,-6\n"
	var out bytes.Buffer
	if err := Detect(config.DefaultDetectorConfig(), strings.NewReader(in), &out); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	want := [][2]string{
		{"timestamp", "value"},
		{"2020-01-01 00:00:00", "1.50"},
		{"2020-01-01T00:05:00Z", "2"},
		{"2020-01-01 00:05:00", "3"},
		{"2020-01-01 00:01:00", "4"},
		{"1577837400", "5e0"},
		{"2020-01-01 00:15:00.250", "-6"},
	}
	if len(lines) != len(want) {
		t.Fatalf("%d output lines, want %d:\n%s", len(lines), len(want), out.String())
	}
	for i, l := range lines {
		f := strings.Split(l, ",")
		if len(f) != 3 || f[0] != want[i][0] || f[1] != want[i][1] {
			t.Fatalf("line %d = %q, want %s,%s,<score>", i+1, l, want[i][0], want[i][1])
		}
		if i == 0 {
			if f[2] != "anomaly_score" {
				t.Fatalf("header %q", l)
			}
			continue
		}
		if i == 3 || i == 4 {
			if f[2] != "0" {
				t.Fatalf("line %d: a skipped row scored %s", i+1, f[2])
			}
		}
	}
}

func FuzzReadCSV(f *testing.F) {
	f.Add("timestamp,value\n2020-01-01 00:00:00,1\n2020-01-01 00:05:00,2\n")
	f.Add("timestamp,value\n1577836800,1e300\n1577836801,-0\n")
	f.Add("\xef\xbb\xbftimestamp,value\n2020-01-01T00:00:00Z,\"3\"\n")
	f.Add("timestamp,value\n2020-01-01 00:00:00,NaN\n")
	f.Add("timestamp,value\n\"a\nb\",1\n")
	f.Fuzz(func(t *testing.T, in string) {
		rows, err := ReadCSV(strings.NewReader(in))
		if err != nil {
			if rows != nil {
				t.Fatal("rows returned with an error")
			}
			if !strings.HasPrefix(err.Error(), "read CSV: ") {
				t.Fatalf("error without context: %v", err)
			}
			return
		}
		for _, r := range rows {
			if math.IsNaN(r.Value) || math.IsInf(r.Value, 0) || r.Line < 2 {
				t.Fatalf("accepted row %+v", r)
			}
		}
		scores, err := Scores(config.DefaultDetectorConfig(), rows)
		if err != nil {
			t.Fatal(err)
		}
		for i, s := range scores {
			if !(s >= 0 && s <= 1) {
				t.Fatalf("row %d scored %v", i, s)
			}
		}
		var out bytes.Buffer
		if err := WriteCSV(&out, rows, scores); err != nil {
			t.Fatal(err)
		}
		if got := strings.Count(out.String(), "\n"); got < len(rows)+1 {
			t.Fatalf("wrote %d lines for %d rows", got, len(rows))
		}
	})
}
