package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The acceptance command, run as a real process.
func TestSimulateVivoJSON(t *testing.T) {
	cmd := exec.Command(headroomBin, "simulate", "--format", "json", "../../simulations/scenarios/vivo-two-projects.yaml")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("headroom simulate: %v\n%s", err, stderr.String())
	}
	var doc struct {
		Scenario string `json:"scenario"`
		Policies []struct {
			Name                  string   `json:"name"`
			DemandBytes           float64  `json:"demand_bytes"`
			ThrottledBytes        float64  `json:"throttled_bytes"`
			OverloadRounds        *int     `json:"overload_rounds"`
			OverloadBytes         *float64 `json:"overload_bytes"`
			LenderViolationRounds *int     `json:"lender_violation_rounds"`
			Writes                *int     `json:"writes"`
			RoundSeconds          *float64 `json:"round_seconds"`
		} `json:"policies"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	if doc.Scenario != "vivo-two-projects" {
		t.Errorf("scenario %q", doc.Scenario)
	}
	got := map[string]float64{}
	for _, p := range doc.Policies {
		if p.DemandBytes <= 0 || p.OverloadRounds == nil || p.OverloadBytes == nil || p.LenderViolationRounds == nil || p.Writes == nil || p.RoundSeconds == nil {
			t.Errorf("policy %s lacks figures: %+v", p.Name, p)
		}
		got[p.Name] = p.ThrottledBytes
	}
	for _, name := range []string{"static", "doorman-fair", "doorman-proportional", "pulsar-rg", "headroom", "oracle"} {
		if _, ok := got[name]; !ok {
			t.Errorf("no figures for %s in %s", name, out)
		}
	}
	if !(got["static"] > got["oracle"]) {
		t.Errorf("static throttled %v, oracle %v: static must throttle in the vivo case", got["static"], got["oracle"])
	}
}

func TestSimulateErrors(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("round: 10s\nduration: 1h\nbrokers: {count: 1, capacity: {produce: -1MiB/s, fetch: 1MiB/s}}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args simulateArgs
		code int
		want string
	}{
		{"no file", simulateArgs{format: "table"}, 2, "no scenario file given"},
		{"missing file", simulateArgs{files: []string{"no-such.yaml"}, format: "table"}, 1, "read scenario no-such.yaml"},
		{"bad file", simulateArgs{files: []string{bad}, format: "table"}, 1, "read scenario " + bad},
		// The scenario package's bad fixtures, through the command: each
		// error names the file and the field or trace at fault.
		{"unknown field", simulateArgs{files: []string{testdataScenario("unknown_field.yaml")}, format: "json"}, 1,
			"read scenario " + testdataScenario("unknown_field.yaml") + ": decode: projects[0].produce.burst: unknown field"},
		{"negative capacity", simulateArgs{files: []string{testdataScenario("negative_capacity.yaml")}, format: "json"}, 1,
			"brokers.capacity.produce: invalid rate \"-100MiB/s\": must not be negative"},
		{"missing trace", simulateArgs{files: []string{testdataScenario("missing_trace.yaml")}, format: "json"}, 1,
			"projects[0].demand.produce.trace.file: open trace: open " + testdataScenario("no-such-trace.csv")},
		{"malformed trace", simulateArgs{files: []string{testdataScenario("malformed_trace.yaml")}, format: "json"}, 1,
			"read trace " + testdataScenario("malformed.csv") + ": line 3: value \"lots\" is not a number"},
		{"unknown policy", simulateArgs{files: []string{"../../simulations/scenarios/vivo-two-projects.yaml"}, policies: "static,nope", format: "table"}, 1, `unknown policy "nope"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := runSimulate(&stdout, &stderr, tt.args); code != tt.code {
				t.Errorf("exit %d, want %d", code, tt.code)
			}
			if !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("stderr %q lacks %q", stderr.String(), tt.want)
			}
			if stdout.Len() != 0 {
				t.Errorf("a failed run printed figures: %s", stdout.String())
			}
		})
	}
}

func testdataScenario(name string) string {
	return filepath.Join("..", "..", "simulations", "scenario", "testdata", name)
}

func TestSimulateTableAndReport(t *testing.T) {
	dir := t.TempDir()
	var stdout, stderr bytes.Buffer
	code := runSimulate(&stdout, &stderr, simulateArgs{
		files:        []string{"../../simulations/scenarios/lender-returns.yaml"},
		policies:     "static, pulsar-rg",
		format:       "table",
		reportDir:    dir,
		seriesPoints: 50,
		rounds:       360,
	})
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	for _, w := range []string{"lender-returns: 360 rounds of 10s, 2 projects on 3 brokers", "| lender-returns | static |", "| lender-returns | pulsar-rg |"} {
		if !strings.Contains(stdout.String(), w) {
			t.Errorf("table lacks %q:\n%s", w, stdout.String())
		}
	}
	for _, f := range []string{"report.md", "lender-returns-throttled.svg", "lender-returns-static.svg", "lender-returns-pulsar-rg.svg"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("report file: %v", err)
		}
	}
}

// The judge's acceptance command: the five policies it names are all
// listed, with the ratios to the three references and the strict-safety
// column, and the references are in order.
func TestSimulateFiveWithReferences(t *testing.T) {
	cmd := exec.Command(headroomBin, "simulate", "--format", "json", "--policies", "static,headroom,oracle,oracle-kafka,oracle-causal",
		"../../simulations/scenarios/vivo-two-projects.yaml")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("headroom simulate: %v\n%s", err, stderr.String())
	}
	var doc struct {
		Policies []map[string]json.RawMessage `json:"policies"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	var names []string
	throttled := map[string]float64{}
	for _, p := range doc.Policies {
		var name string
		_ = json.Unmarshal(p["name"], &name)
		names = append(names, name)
		var v float64
		_ = json.Unmarshal(p["throttled_bytes"], &v)
		throttled[name] = v
		for _, key := range []string{"throttled_vs_oracle", "throttled_vs_oracle_kafka", "throttled_vs_oracle_causal", "strict_safe"} {
			if _, ok := p[key]; !ok {
				t.Errorf("%s lacks %s", name, key)
			}
		}
	}
	if strings.Join(names, ",") != "static,headroom,oracle,oracle-kafka,oracle-causal" {
		t.Errorf("policies %v", names)
	}
	if !(throttled["oracle"] <= throttled["oracle-kafka"] && throttled["oracle-kafka"] <= throttled["oracle-causal"]) {
		t.Errorf("references out of order: %v", throttled)
	}
}

func TestSimulateBadEnforcement(t *testing.T) {
	var stdout, stderr bytes.Buffer
	f := testdataScenario("enforcement_negative_buffer.yaml")
	code := runSimulate(&stdout, &stderr, simulateArgs{files: []string{f}, format: "json"})
	if code != 1 || !strings.Contains(stderr.String(), "enforcement.client_buffer: must not be negative") {
		t.Errorf("exit %d, stderr %q", code, stderr.String())
	}
}
