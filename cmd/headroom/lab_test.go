package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/headroomhq/headroom/internal/testpeer"
)

func TestLabRejectsMalformedScenario(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("round: 10s\nduration: 1h\nbrokers: {count: 1, capacity: {produce: 1MiB/s, fetch: 1MiB/s}}\nprojects: [{name: a, bogus: 1}]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(headroomBin, "lab", "--scenario", bad)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("exit: %v, want status 1\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), bad) || !strings.Contains(stderr.String(), "bogus") {
		t.Errorf("error does not name the file and the field: %s", stderr.String())
	}
}

// TestLabRunsUntilInterrupted runs `headroom lab` as a real process: it
// writes its addresses, serves Kafka and metrics, and exits 0 on SIGINT.
func TestLabRunsUntilInterrupted(t *testing.T) {
	addrFile := filepath.Join(t.TempDir(), "addrs.json")
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	const scenarioFile = "../../simulations/scenarios/vivo-two-projects.yaml"
	cmd := exec.CommandContext(ctx, headroomBin, "lab", "--scenario", scenarioFile,
		"--addresses-file", addrFile, "--scale", "0.005", "--time-compression", "3600")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var addrs struct {
		Bootstrap []string          `json:"bootstrap"`
		Metrics   map[string]string `json:"metrics"`
	}
	defer func() {
		// A test that stopped before the SIGINT below kills the process
		// and shows what it said.
		if t.Failed() && cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			t.Logf("stdout %s\nstderr %s", stdout.String(), stderr.String())
		}
	}()
	// Real peer: the `headroom lab` process writes this file once its Kafka and metrics listen.
	testpeer.EventuallyNil(t, "the addresses file", 30*time.Second, func() error {
		b, err := os.ReadFile(addrFile)
		if err != nil {
			return err
		}
		return json.Unmarshal(b, &addrs)
	})
	if len(addrs.Bootstrap) != 1 || len(addrs.Metrics) != 1 || addrs.Metrics["0"] == "" {
		t.Errorf("addresses %+v, want the scenario's one broker", addrs)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs.Bootstrap...))
	if err != nil {
		t.Fatal(err)
	}
	topics, err := kadm.NewClient(cl).ListTopics(ctx)
	cl.Close()
	if err != nil || !topics.Has("a.events") || !topics.Has("b.events") {
		t.Errorf("topics %v (err %v), want the projects' topics", topics.Names(), err)
	}
	resp, err := http.Get(addrs.Metrics["0"])
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("metrics: %v %v", err, resp)
	} else {
		resp.Body.Close()
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("exit after SIGINT: %v\n%s", err, stderr.String())
	}
	if !strings.Contains(stdout.String(), "bootstrap servers: "+strings.Join(addrs.Bootstrap, ",")) || !strings.Contains(stdout.String(), addrs.Metrics["0"]) {
		t.Errorf("stdout does not list the addresses: %s", stdout.String())
	}
}
