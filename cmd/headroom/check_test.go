package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/headroomhq/headroom/config/configtest"
)

func TestCheckConfig(t *testing.T) {
	example, err := os.ReadFile("../../examples/headroom.yml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	withUnknown := filepath.Join(dir, "unknown.yml")
	if err := os.WriteFile(withUnknown, append(example, []byte("\nbogus_top_level: 1\n")...), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		args   []string
		code   int
		output string
	}{
		{"example is valid", []string{"../../examples/headroom.yml"}, 0, "SUCCESS: 1 cluster(s), 2 resource group(s), 6 project(s)"},
		{"unknown top-level field", []string{withUnknown}, 1, `bogus_top_level: unknown field "bogus_top_level"`},
		{"every problem listed", []string{"../../config/testdata/bad/bad_urls.yml"}, 1, "FAILED: 6 problem(s)"},
		{"any bad file fails", []string{"../../examples/headroom.yml", "../../config/testdata/bad/duplicates.yml"}, 1, `duplicate project name "p"`},
		{"missing file", []string{filepath.Join(dir, "nope.yml")}, 2, "nope.yml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(headroomBin, append([]string{"check", "config"}, tt.args...)...)
			out, _ := cmd.CombinedOutput()
			if code := cmd.ProcessState.ExitCode(); code != tt.code {
				t.Fatalf("exit code %d, want %d\n%s", code, tt.code, out)
			}
			if !strings.Contains(string(out), tt.output) {
				t.Fatalf("output lacks %q:\n%s", tt.output, out)
			}
		})
	}
}

// Every bad fixture fails `headroom check config` with exit 1, and lists
// exactly the errors its "# error: " header lines expect.
func TestCheckConfigBadFixtures(t *testing.T) {
	for _, f := range configtest.BadFixtures(t) {
		t.Run(filepath.Base(f.Path), func(t *testing.T) {
			want := f.Want
			cmd := exec.Command(headroomBin, "check", "config", f.Path)
			out, _ := cmd.CombinedOutput()
			if code := cmd.ProcessState.ExitCode(); code != 1 {
				t.Fatalf("exit code %d, want 1\n%s", code, out)
			}
			if head := fmt.Sprintf("FAILED: %d problem(s)", len(want)); !strings.Contains(string(out), head) {
				t.Errorf("output lacks %q:\n%s", head, out)
			}
			for _, w := range want {
				if !strings.Contains(string(out), "  "+w+"\n") {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}
