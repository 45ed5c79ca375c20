package testpeer

import (
	"os/exec"
	"testing"
)

// Binaries of the Debian packages scripts/setup.sh installs.
const (
	PrometheusBinary   = "prometheus"
	PromtoolBinary     = "promtool"
	AlertmanagerBinary = "prometheus-alertmanager"
	AmtoolBinary       = "amtool"
	NodeExporterBinary = "prometheus-node-exporter"
)

// Prometheus starts a real Prometheus with the given configuration file
// contents. Its TSDB lives in a temp dir. It accepts POST /-/reload.
func Prometheus(t testing.TB, config string) *Peer {
	t.Helper()
	cfg := WriteFile(t, "prometheus.yml", config)
	data := t.TempDir()
	return Start(t, Spec{
		Name:   "prometheus",
		Binary: PrometheusBinary,
		Args: func(addr string) []string {
			return []string{
				"--config.file=" + cfg,
				"--storage.tsdb.path=" + data,
				"--web.listen-address=" + addr,
				"--web.enable-lifecycle",
				"--log.level=warn",
			}
		},
	})
}

// Alertmanager starts a real, non-clustered Alertmanager with the given
// configuration file contents (alerting/webhook's AlertmanagerRoute writes
// one that sends every alert to Headroom's webhook).
func Alertmanager(t testing.TB, config string) *Peer {
	t.Helper()
	return AlertmanagerAt(t, config, "", t.TempDir())
}

// AlertmanagerAt starts Alertmanager on addr (a free port when empty) with
// its state in dataDir, so that a test can restart it in place. The
// configuration goes through amtool check-config first: one it rejects
// fails the test with amtool's words.
func AlertmanagerAt(t testing.TB, config, addr, dataDir string) *Peer {
	t.Helper()
	cfg := WriteFile(t, "alertmanager.yml", config)
	if out, err := Amtool(t, "check-config", cfg); err != nil {
		t.Fatalf("amtool check-config: %v\n%s", err, out)
	}
	data := dataDir
	return Start(t, Spec{
		Addr:   addr,
		Name:   "alertmanager",
		Binary: AlertmanagerBinary,
		Args: func(addr string) []string {
			return []string{
				"--config.file=" + cfg,
				"--storage.path=" + data,
				"--web.listen-address=" + addr,
				"--cluster.listen-address=",
				"--log.level=warn",
			}
		},
	})
}

// NodeExporter starts a real node_exporter. Its readiness probe is /metrics.
func NodeExporter(t testing.TB) *Peer {
	t.Helper()
	return Start(t, Spec{
		Name:      "node_exporter",
		Binary:    NodeExporterBinary,
		ReadyPath: "/metrics",
		Args: func(addr string) []string {
			return []string{"--web.listen-address=" + addr, "--log.level=warn"}
		},
	})
}

// Promtool runs promtool with args and returns its combined output.
func Promtool(t testing.TB, args ...string) (string, error) {
	t.Helper()
	out, err := exec.Command(LookPath(t, PromtoolBinary), args...).CombinedOutput()
	return string(out), err
}

// Amtool runs amtool with args and returns its combined output.
func Amtool(t testing.TB, args ...string) (string, error) {
	t.Helper()
	out, err := exec.Command(LookPath(t, AmtoolBinary), args...).CombinedOutput()
	return string(out), err
}
