package daemon

import (
	"context"
	"encoding/json"
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

	"github.com/headroomhq/headroom/alerting"
	"github.com/headroomhq/headroom/config"
	"github.com/headroomhq/headroom/internal/clock"
	"github.com/headroomhq/headroom/internal/testpeer"
)

// probePayload is a firing alert no playbook handles: its incident's one
// callback step is no_playbook.
func probePayload(fingerprint string) string {
	return fmt.Sprintf(`{"version":"4","groupKey":"{}:{alertname=\"ReloadProbe\"}","status":"firing","receiver":"headroom",
"alerts":[{"status":"firing","labels":{"alertname":"ReloadProbe","probe":%q},"annotations":{},
"startsAt":"2026-11-23T03:00:00Z","endsAt":"0001-01-01T00:00:00Z","fingerprint":%q}]}`, fingerprint, fingerprint)
}

// nextEvent decodes the next callback the receiver got.
func nextEvent(t *testing.T, r *testpeer.Receiver) alerting.CallbackEvent {
	t.Helper()
	var ev alerting.CallbackEvent
	if err := json.Unmarshal(r.NextAttempt(t).Body, &ev); err != nil {
		t.Fatalf("bad callback at %s: %v", r.URL, err)
	}
	return ev
}

// TestReloadAppliesAlerting reloads serve with a new webhook token file and
// a new callback URL: the new token is admitted and the old refused, and
// the next incident's step goes to the new URL only. A later reload whose
// token file cannot be read keeps the token in force.
func TestReloadAppliesAlerting(t *testing.T) {
	dir := t.TempDir()
	oldTok, newTok := filepath.Join(dir, "old-token"), filepath.Join(dir, "new-token")
	for path, tok := range map[string]string{oldTok: "old-secret\n", newTok: "new-secret\n"} {
		if err := os.WriteFile(path, []byte(tok), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	example, err := os.ReadFile("../examples/headroom.yml")
	if err != nil {
		t.Fatal(err)
	}
	cfgFile := filepath.Join(dir, "headroom.yml")
	writeConfig := func(tokenFile, callback string) {
		t.Helper()
		cfg := strings.Replace(string(example), "/var/lib/headroom/headroom.db", filepath.Join(dir, "h.db"), 1)
		cfg = strings.Replace(cfg, "alerting:\n", fmt.Sprintf("alerting:\n  webhook: {bearer_token_file: %s}\n  callbacks: [%q]\n", tokenFile, callback), 1)
		if _, err := config.Load([]byte(cfg)); err != nil {
			t.Fatalf("test configuration: %v", err)
		}
		if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cbOld, cbNew := testpeer.NewReceiver(t, false), testpeer.NewReceiver(t, false)
	writeConfig(oldTok, cbOld.URL)

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	logs := &testpeer.LogBuffer{}
	reload := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		errc <- Run(ctx, Options{ConfigFile: cfgFile, Listener: l, Grace: 5 * time.Second,
			Logger: slog.New(slog.NewTextHandler(logs, nil)), Reload: reload,
			Clock: clock.NewDriven(nil)}) // no rounds: only the webhook acts
	}()
	defer func() {
		cancel()
		if err := <-errc; err != nil {
			t.Errorf("run: %v", err)
		}
		http.DefaultClient.CloseIdleConnections()
	}()
	base := "http://" + l.Addr().String()
	post := func(token, body string) int {
		t.Helper()
		req, _ := http.NewRequest("POST", base+WebhookPath, strings.NewReader(body))
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
	// reloadNow asks for a reload and returns once it is done: the reload
	// goroutine takes the second request only after the first finished
	// (the second reloads the same file again).
	reloadNow := func() {
		reload <- struct{}{}
		reload <- struct{}{}
	}
	waitReady(t, base)

	if code := post("old-secret", probePayload("before")); code != 200 {
		t.Fatalf("old token before the reload: %d, want 200", code)
	}
	if ev := nextEvent(t, cbOld); ev.Fingerprint != "before" || ev.Step.Action != "no_playbook" {
		t.Fatalf("callback before the reload: %+v", ev)
	}

	writeConfig(newTok, cbNew.URL)
	reloadNow()
	for _, tt := range []struct {
		token, body string
		code        int
	}{
		{"old-secret", probePayload("refused"), 401},
		{"", probePayload("refused"), 401},
		{"new-secret", probePayload("after"), 200},
	} {
		if got := post(tt.token, tt.body); got != tt.code {
			t.Errorf("after the reload, token %q: %d, want %d", tt.token, got, tt.code)
		}
	}
	if ev := nextEvent(t, cbNew); ev.Fingerprint != "after" {
		t.Fatalf("new callback URL got %+v, want the incident opened after the reload", ev)
	}

	// The token file disappears: the reload keeps the token in force.
	writeConfig(filepath.Join(dir, "missing-token"), cbNew.URL)
	reloadNow()
	if !strings.Contains(logs.String(), "reload webhook credentials failed") {
		t.Errorf("the unreadable token file is not logged:\n%s", logs)
	}
	for _, tt := range []struct {
		token string
		code  int
	}{{"new-secret", 200}, {"", 401}, {"old-secret", 401}} {
		if got := post(tt.token, probePayload("after")); got != tt.code {
			t.Errorf("after a failed credentials reload, token %q: %d, want %d", tt.token, got, tt.code)
		}
	}

	if got := cbOld.Received(); len(got) != 1 {
		t.Errorf("removed callback URL got %d callbacks, want the one before the reload", len(got))
	}
	if got := cbNew.Received(); len(got) != 1 {
		t.Errorf("new callback URL got %d callbacks, want the one after the reload", len(got))
	}
	// The outbox's metrics are served, per callback URL. The counter
	// follows the receiver's answer over real HTTP.
	want := fmt.Sprintf("headroom_callback_sent_total{url=%q} 1", cbNew.URL)
	testpeer.Eventually(t, want+" on /metrics", 10*time.Second, func() bool {
		resp, err := http.Get(base + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return strings.Contains(string(b), want)
	})
}
