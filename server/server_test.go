package server

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"

	"github.com/headroomhq/headroom/config"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const goodConfig = `clusters:
  - name: lab
    bootstrap_servers: ["127.0.0.1:9092"]
resource_groups:
  - name: default
    brokers: [{id: 0, metrics_url: "http://127.0.0.1:9300/metrics"}]
    capacity: {produce: 10MiB/s, fetch: 20MiB/s}
projects:
  - name: alpha
    group: default
    entity: {client_id: alpha}
    topics: {prefixes: ["alpha."]}
    produce: {share: 4MiB/s}
    fetch: {share: 8MiB/s}
`

func writeConfig(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func newTestServer(t *testing.T) (*Server, *LiveConfig, *prometheus.Registry, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "headroom.yml")
	writeConfig(t, path, goodConfig)
	reg := prometheus.NewRegistry()
	now := func() time.Time { return time.Unix(1_700_000_000, 0) }
	live, err := NewLiveConfig(path, slog.New(slog.DiscardHandler), reg, now)
	if err != nil {
		t.Fatal(err)
	}
	return New(live, reg, slog.New(slog.DiscardHandler), Web{EnableLifecycle: true}), live, reg, path
}

func do(t *testing.T, h http.Handler, method, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	return rec.Code, rec.Body.String()
}

func TestEndpoints(t *testing.T) {
	srv, _, _, _ := newTestServer(t)
	if code, _ := do(t, srv, "GET", "/-/ready"); code != http.StatusServiceUnavailable {
		t.Fatalf("ready before SetReady: %d", code)
	}
	srv.SetReady(true)
	tests := []struct {
		method, path string
		code         int
		body         string
	}{
		{"GET", "/-/healthy", 200, "Healthy"},
		{"GET", "/-/ready", 200, "Ready"},
		{"GET", "/metrics", 200, "headroom_config_last_reload_successful 1"},
		{"GET", "/-/reload", http.StatusMethodNotAllowed, ""},
		{"POST", "/-/reload", 200, "reloaded"},
		{"GET", "/nope", 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			code, body := do(t, srv, tt.method, tt.path)
			if code != tt.code || !strings.Contains(body, tt.body) {
				t.Fatalf("got %d %q, want %d containing %q", code, body, tt.code, tt.body)
			}
		})
	}
}

func TestBadReloadKeepsOldConfig(t *testing.T) {
	srv, live, reg, path := newTestServer(t)
	var notified []*config.Config
	live.Subscribe(func(c *config.Config) { notified = append(notified, c) })
	old := live.Config()

	writeConfig(t, path, goodConfig+"unknown_section: 1\nlimiter: {mode: yolo}\n")
	code, body := do(t, srv, "POST", "/-/reload")
	if code < 300 {
		t.Fatalf("bad reload answered %d", code)
	}
	for _, want := range []string{`unknown field "unknown_section"`, "limiter.mode"} {
		if !strings.Contains(body, want) {
			t.Errorf("reload body lacks %q: %s", want, body)
		}
	}
	if live.Config() != old {
		t.Fatal("bad reload replaced the configuration")
	}
	if len(notified) != 0 {
		t.Fatal("subscribers notified of a failed reload")
	}
	if v := testutil.ToFloat64(live.success); v != 0 {
		t.Fatalf("last_reload_successful = %v after failure", v)
	}

	// A fixed file reloads, swaps and notifies.
	writeConfig(t, path, strings.Replace(goodConfig, "4MiB/s", "5MiB/s", 1))
	if code, body := do(t, srv, "POST", "/-/reload"); code != 200 {
		t.Fatalf("good reload: %d %s", code, body)
	}
	if got := live.Config().Projects[0].Produce.Share; got != 5<<20 {
		t.Fatalf("share after reload = %v", got)
	}
	if len(notified) != 1 || notified[0] != live.Config() {
		t.Fatalf("subscribers got %d notifications", len(notified))
	}
	n, err := testutil.GatherAndCount(reg, "headroom_config_reloads_total")
	if err != nil || n != 2 {
		t.Fatalf("reload counter series = %d, %v", n, err)
	}
}

func TestNewLiveConfigRejectsInvalidFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.yml")
	writeConfig(t, path, "clusters: []\n")
	_, err := NewLiveConfig(path, slog.New(slog.DiscardHandler), nil, nil)
	if err == nil || !strings.Contains(err.Error(), "read config "+path) {
		t.Fatalf("want a wrapped load error, got %v", err)
	}
}

func TestServeShutsDownGracefully(t *testing.T) {
	srv, _, _, _ := newTestServer(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ctx, l, 5*time.Second) }()
	srv.SetReady(true)
	resp, err := http.Get("http://" + l.Addr().String() + "/-/healthy")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	cancel()
	if err := <-errc; err != nil {
		t.Fatalf("serve returned %v", err)
	}
	if _, err := http.Get("http://" + l.Addr().String() + "/-/healthy"); err == nil {
		t.Fatal("server still answers after shutdown")
	}
	http.DefaultClient.CloseIdleConnections()
}

// Reloads log what happened, never the secrets in the file, whether the
// file is good or bad; nor does /-/reload's error answer carry them.
func TestReloadNeverLogsSecrets(t *testing.T) {
	const secret = "hunter2-do-not-log"
	withSecret := strings.Replace(goodConfig, `bootstrap_servers: ["127.0.0.1:9092"]`,
		`bootstrap_servers: ["127.0.0.1:9092"]
    sasl: {mechanism: PLAIN, username: headroom, password: `+secret+`}`, 1)
	path := filepath.Join(t.TempDir(), "headroom.yml")
	writeConfig(t, path, withSecret)
	var logs strings.Builder
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	live, err := NewLiveConfig(path, logger, prometheus.NewRegistry(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := live.Config().Clusters[0].SASL.Password; string(got) != secret {
		t.Fatalf("password not loaded: %q", got)
	}
	srv := New(live, prometheus.NewRegistry(), logger, Web{EnableLifecycle: true})
	if code, body := do(t, srv, "POST", "/-/reload"); code != 200 {
		t.Fatalf("good reload: %d %s", code, body)
	}
	// Bad in several ways next to the secret, including the secret's own
	// field given a value of the wrong shape.
	writeConfig(t, path, withSecret+"limiter: {mode: yolo}\n"+strings.Replace(`clusters_typo: [{password: SECRET}]`, "SECRET", secret, 1)+"\n")
	code, body := do(t, srv, "POST", "/-/reload")
	if code < 300 {
		t.Fatalf("bad reload answered %d", code)
	}
	if !strings.Contains(logs.String(), "level=WARN msg=\"configuration: clusters[0] (lab): SASL PLAIN without TLS") {
		t.Fatalf("no warning about SASL PLAIN without TLS:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "reload config failed") || !strings.Contains(logs.String(), "configuration reloaded") {
		t.Fatalf("reloads not logged:\n%s", logs.String())
	}
	for what, s := range map[string]string{"logs": logs.String(), "reload answer": body} {
		if strings.Contains(s, secret) {
			t.Errorf("%s contain the secret:\n%s", what, s)
		}
	}
}
