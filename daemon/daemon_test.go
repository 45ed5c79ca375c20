package daemon

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/headroomhq/headroom/api"
	"github.com/headroomhq/headroom/internal/testpeer"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const payload = `{"version":"4","groupKey":"{}:{alertname=\"GroupSaturated\"}","status":"firing","receiver":"headroom",
"alerts":[{"status":"firing","labels":{"alertname":"GroupSaturated","group":"events"},"annotations":{},
"startsAt":"2026-11-23T03:00:00Z","endsAt":"0001-01-01T00:00:00Z","fingerprint":"abc"}]}`

func TestRunServesAPIAndWebhook(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "webhook-token")
	if err := os.WriteFile(tokenFile, []byte("hook-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	example, err := os.ReadFile("../examples/headroom.yml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(string(example), "/var/lib/headroom/headroom.db", filepath.Join(dir, "h.db"), 1)
	cfg = strings.Replace(cfg, "alerting:\n", fmt.Sprintf("alerting:\n  webhook: {bearer_token_file: %s}\n", tokenFile), 1)
	cfg = strings.Replace(cfg, "store:\n", fmt.Sprintf("api:\n  tokens: [{name: vera, role: viewer, sha256: %s}]\nstore:\n", api.HashToken("api-secret")), 1)
	cfgFile := filepath.Join(dir, "headroom.yml")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		errc <- Run(ctx, Options{ConfigFile: cfgFile, Listener: l, Grace: 5 * time.Second, Logger: slog.New(slog.DiscardHandler)})
	}()
	base := "http://" + l.Addr().String()
	do := func(method, path, token, body string) int {
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	waitReady(t, base)
	tests := []struct {
		method, path, token, body string
		code                      int
	}{
		{"GET", "/api/v1/groups", "api-secret", "", 200},
		{"GET", "/api/v1/groups", "", "", 401},
		{"POST", WebhookPath, "hook-secret", payload, 200},
		{"POST", WebhookPath, "api-secret", payload, 401},
		{"GET", "/metrics", "", "", 200},
	}
	for _, tt := range tests {
		if got := do(tt.method, tt.path, tt.token, tt.body); got != tt.code {
			t.Errorf("%s %s: %d, want %d", tt.method, tt.path, got, tt.code)
		}
	}
	cancel()
	if err := <-errc; err != nil {
		t.Fatalf("run: %v", err)
	}
	http.DefaultClient.CloseIdleConnections()
}

// waitReady polls the daemon's /-/ready at base until it answers 200, and
// fails the test after 10s. The daemon is a real HTTP server started by the
// test, so its readiness is a condition to wait on, with a deadline.
func waitReady(t *testing.T, base string) {
	t.Helper()
	testpeer.Eventually(t, "the daemon at "+base+" ready", 10*time.Second, func() bool {
		resp, err := http.Get(base + "/-/ready")
		if err != nil {
			return false
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}
