package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestDetect(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.csv")
	bad := filepath.Join(dir, "bad.csv")
	in := "timestamp,value\n2020-01-01 00:00:00,1\n2020-01-01 00:05:00,2\n2020-01-01 00:10:00,3\n"
	if err := os.WriteFile(good, []byte(in), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("timestamp,value\n2020-01-01 00:00:00,1\n2020-01-01 00:05:00,NaN\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.csv")
	tests := []struct {
		name   string
		args   []string
		code   int
		output string
	}{
		{"stdout", []string{good}, 0, "timestamp,value,anomaly_score\n2020-01-01 00:00:00,1,0\n"},
		{"output file", []string{"--output", out, good}, 0, ""},
		{"malformed row names its line", []string{"--output", filepath.Join(dir, "never.csv"), bad}, 1, `bad.csv: read CSV: line 3: value "NaN" is not finite`},
		{"missing file", []string{filepath.Join(dir, "nope.csv")}, 1, "nope.csv"},
		{"no input", nil, 2, "required argument 'input' not provided"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(headroomBin, append([]string{"detect"}, tt.args...)...)
			b, _ := cmd.CombinedOutput()
			if code := cmd.ProcessState.ExitCode(); code != tt.code {
				t.Fatalf("exit code %d, want %d\n%s", code, tt.code, b)
			}
			if !strings.Contains(string(b), tt.output) {
				t.Fatalf("output lacks %q:\n%s", tt.output, b)
			}
		})
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Count(string(got), "\n"); lines != 4 || !strings.HasPrefix(string(got), "timestamp,value,anomaly_score\n") {
		t.Fatalf("--output wrote %d lines:\n%s", lines, got)
	}
	if _, err := os.Stat(filepath.Join(dir, "never.csv")); !os.IsNotExist(err) {
		t.Fatalf("a failed run left its output file: %v", err)
	}
	left, _ := filepath.Glob(filepath.Join(dir, ".headroom-detect-*"))
	if len(left) != 0 {
		t.Fatalf("temporary files left behind: %v", left)
	}
}
