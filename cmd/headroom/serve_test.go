package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	promapi "github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/headroomhq/headroom/api"
	"github.com/headroomhq/headroom/internal/testpeer"
)

func startServe(t *testing.T, configFile string, flags ...string) *testpeer.Peer {
	t.Helper()
	return testpeer.Start(t, testpeer.Spec{
		Name:   "headroom serve",
		Binary: headroomBin,
		Args: func(addr string) []string {
			return append([]string{"serve", "--config.file=" + configFile, "--web.listen-address=" + addr}, flags...)
		},
	})
}

func copyExample(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../examples/headroom.yml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	b = []byte(strings.Replace(string(b), "/var/lib/headroom/headroom.db", filepath.Join(dir, "headroom.db"), 1))
	path := filepath.Join(dir, "headroom.yml")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestPrometheusScrapesServe runs real Prometheus against `headroom serve`
// and a real node_exporter and checks, through Prometheus's HTTP API, that
// both targets are up and Headroom's build info is there.
func TestPrometheusScrapesServe(t *testing.T) {
	hr := startServe(t, copyExample(t))
	node := testpeer.NodeExporter(t)

	promConfig := fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: headroom
    static_configs: [{targets: [%q]}]
  - job_name: node
    static_configs: [{targets: [%q]}]
`, hr.Addr, node.Addr)
	cfgPath := testpeer.WriteFile(t, "prometheus.yml", promConfig)
	if out, err := testpeer.Promtool(t, "check", "config", cfgPath); err != nil {
		t.Fatalf("promtool check config: %v\n%s", err, out)
	}
	prom := testpeer.Prometheus(t, promConfig)

	client, err := promapi.NewClient(promapi.Config{Address: prom.URL})
	if err != nil {
		t.Fatal(err)
	}
	api := promv1.NewAPI(client)
	queries := map[string]string{
		"headroom up":         `up{job="headroom"} == 1`,
		"node_exporter up":    `up{job="node"} == 1`,
		"headroom build info": `headroom_build_info{job="headroom", goversion!=""}`,
		"node cpu":            `node_cpu_seconds_total{job="node"}`,
	}
	for name, q := range queries {
		t.Run(name, func(t *testing.T) {
			// Real peers: Prometheus must scrape Headroom and node_exporter over HTTP first.
			testpeer.EventuallyNil(t, "query "+q+" to return a series", 60*time.Second, func() error {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				v, _, _, err := api.Query(ctx, q, time.Now()) // warnings and infos are not failures here
				if err != nil {
					return err
				}
				if vec, _ := v.(model.Vector); len(vec) == 0 {
					return fmt.Errorf("query %s returned nothing: %s", q, v)
				}
				return nil
			})
		})
	}
}

func TestServeReloadAndSignals(t *testing.T) {
	path := copyExample(t)
	const viewerToken = "reload-test-viewer"
	{
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		withToken := strings.Replace(string(b), "\nstore:\n", fmt.Sprintf("\napi:\n  tokens: [{name: vera, role: viewer, sha256: %s}]\nstore:\n", api.HashToken(viewerToken)), 1)
		if withToken == string(b) {
			t.Fatal("could not add an API token to the example")
		}
		if err := os.WriteFile(path, []byte(withToken), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	hr := startServe(t, path, "--web.enable-lifecycle")

	post := func() (int, string) {
		resp, err := http.Post(hr.URL+"/-/reload", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	metric := func(name string) string {
		resp, err := http.Get(hr.URL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, name+" ") {
				return strings.TrimPrefix(l, name+" ")
			}
		}
		return ""
	}

	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// The bad file is invalid (an unknown field) and also different
	// (checkout's share), so that serving the old configuration shows.
	const oldShare, newShare = "share: 30MiB/s, floor: 5MiB/s", "share: 31MiB/s, floor: 5MiB/s"
	if !strings.Contains(string(good), oldShare) {
		t.Fatalf("the example no longer has checkout's %q", oldShare)
	}
	bad := strings.Replace(string(good), oldShare, newShare, 1) + "\nnot_a_field: true\n"
	if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	checkoutShare := func() string {
		req, _ := http.NewRequest("GET", hr.URL+"/api/v1/projects/checkout", nil)
		req.Header.Set("Authorization", "Bearer "+viewerToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		switch {
		case resp.StatusCode != 200:
			return fmt.Sprintf("status %d: %s", resp.StatusCode, b)
		case strings.Contains(string(b), "31457280"): // 30MiB/s in bytes
			return "30MiB/s"
		case strings.Contains(string(b), "32505856"):
			return "31MiB/s"
		}
		return string(b)
	}
	if got := checkoutShare(); got != "30MiB/s" {
		t.Fatalf("before the reload checkout's share reads %s", got)
	}
	code, body := post()
	if code < 300 || !strings.Contains(body, `unknown field "not_a_field"`) {
		t.Fatalf("bad reload: %d %s", code, body)
	}
	if v := metric("headroom_config_last_reload_successful"); v != "0" {
		t.Fatalf("last_reload_successful = %q after a bad reload", v)
	}
	resp, err := http.Get(hr.URL + "/-/ready")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("not ready after a bad reload: %v %v", resp, err)
	}
	resp.Body.Close()
	if got := checkoutShare(); got != "30MiB/s" {
		t.Fatalf("after a refused reload checkout's share reads %s, want the old 30MiB/s", got)
	}

	// SIGHUP with the bad file still there is refused the same way.
	if err := hr.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	// Real peer: the `headroom serve` process handles the signal on its own.
	testpeer.EventuallyNil(t, "SIGHUP with a bad file counted as a failed reload", 10*time.Second, func() error {
		if v := metric(`headroom_config_reloads_total{result="failure"}`); v != "2" {
			return fmt.Errorf("failed reloads %q, want 2", v)
		}
		return nil
	})
	if got := checkoutShare(); got != "30MiB/s" {
		t.Fatalf("after a refused SIGHUP checkout's share reads %s, want the old 30MiB/s", got)
	}

	// SIGHUP with the file fixed reloads it.
	if err := os.WriteFile(path, good, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := hr.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	// Real peer: the `headroom serve` process handles the signal on its own.
	testpeer.EventuallyNil(t, "SIGHUP to reload the fixed file", 10*time.Second, func() error {
		if v := metric("headroom_config_last_reload_successful"); v != "1" {
			return fmt.Errorf("headroom_config_last_reload_successful %q, want 1", v)
		}
		return nil
	})

	// SIGTERM exits cleanly.
	if err := hr.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err, exited := hr.Wait(15 * time.Second)
	if !exited {
		t.Fatal("serve did not exit on SIGTERM")
	}
	if err != nil {
		t.Fatalf("serve exited with %v\n%s", err, hr.Logs())
	}
}

func TestServeRefusesInvalidConfig(t *testing.T) {
	path := testpeer.WriteFile(t, "bad.yml", "clusters: []\n")
	out, err := execOutput(headroomBin, "serve", "--config.file="+path, "--web.listen-address=127.0.0.1:0")
	if err == nil || !strings.Contains(out, "at least one cluster is required") {
		t.Fatalf("serve accepted an invalid config: %v\n%s", err, out)
	}
}

// Without --web.enable-lifecycle, `headroom serve` refuses /-/reload as
// Prometheus does, and says nothing about plain HTTP on loopback.
func TestServeLifecycleOffByDefault(t *testing.T) {
	hr := startServe(t, copyExample(t))
	for _, method := range []string{"POST", "PUT"} {
		req, _ := http.NewRequest(method, hr.URL+"/-/reload", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(b), "Lifecycle API is not enabled") {
			t.Fatalf("%s /-/reload without the flag: %d %s", method, resp.StatusCode, b)
		}
	}
	if strings.Contains(hr.Logs(), "plain HTTP on a non-loopback") {
		t.Fatalf("warned about plain HTTP on loopback:\n%s", hr.Logs())
	}
}
