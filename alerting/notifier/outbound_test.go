package notifier

import (
	"encoding/pem"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	promconfig "github.com/prometheus/common/config"

	"github.com/headroomhq/headroom/config"
	"github.com/headroomhq/headroom/internal/testpeer"
)

// An Alertmanager behind TLS and basic auth is reached with the target's
// http_config; its password file is read on every request, so a rotated
// password takes effect without a reload; and no password reaches the
// metrics or the logs. The server stands for the TLS and basic-auth front
// (exporter-toolkit's) of an Alertmanager: the Debian Alertmanager started
// by testpeer is probed over plain HTTP, and the v2 API itself is covered
// by the other tests here.
func TestAlertmanagerHTTPConfig(t *testing.T) {
	const pass1, pass2 = "first-am-password-0451", "second-am-password-7781"
	var want atomic.Value
	want.Store(pass1)
	var got, refused atomic.Int64
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if !ok || u != "headroom" || p != want.Load().(string) {
			refused.Add(1)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		if r.Method != "POST" || r.URL.Path != "/api/v2/alerts" {
			http.Error(w, "unexpected "+r.Method+" "+r.URL.Path, http.StatusNotFound)
			return
		}
		got.Add(1)
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	passFile := filepath.Join(dir, "am-password")
	write := func(path, s string) {
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(ca, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})))
	write(passFile, pass1)
	hc := promconfig.DefaultHTTPClientConfig
	hc.BasicAuth = &promconfig.BasicAuth{Username: "headroom", PasswordFile: passFile}
	hc.TLSConfig = promconfig.TLSConfig{CAFile: ca}
	reg := prometheus.NewRegistry()
	logs := &testpeer.LogBuffer{}
	n := runNotifier(t, Options{Alertmanagers: []config.HTTPTarget{{URL: srv.URL, HTTPConfig: hc}}, Registerer: reg,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})

	n.Send(throttled("a"))
	// Each wait below is on real requests to a real TLS server.
	testpeer.Eventually(t, "the first alert over TLS with basic auth", peerWait, func() bool { return got.Load() == 1 })

	// Rotate: the server wants the new password, the file holds it; no
	// reload happens.
	want.Store(pass2)
	write(passFile, pass2)
	n.Send(throttled("b"))
	testpeer.Eventually(t, "the second alert with the rotated password", peerWait, func() bool { return got.Load() == 2 })

	// A wrong password is retried and shows in the error counter, under
	// the URL without credentials.
	want.Store("a password headroom does not have")
	n.Send(throttled("c"))
	testpeer.Eventually(t, "a refused attempt", peerWait, func() bool { return refused.Load() > 0 })
	testpeer.Eventually(t, "the failure counted", peerWait, func() bool {
		return testpeer.Gathered(t, reg, "headroom_notification_errors_total", map[string]string{"alertmanager": srv.URL}) >= 1
	})
	exposition := testpeer.Exposition(t, reg)
	if !strings.Contains(exposition, srv.URL) {
		t.Fatalf("metrics lack the Alertmanager label:\n%s", exposition)
	}
	for what, s := range map[string]string{"metrics": exposition, "logs": logs.String()} {
		for _, secret := range []string{pass1, pass2} {
			if strings.Contains(s, secret) {
				t.Errorf("%s contain a password:\n%s", what, s)
			}
		}
	}
}

// A URL with credentials (which configuration validation refuses) never
// reaches a label or a log line in full.
func TestCredentialsInURLStayOutOfLabels(t *testing.T) {
	reg := prometheus.NewRegistry()
	logs := &testpeer.LogBuffer{}
	n, err := New(Options{Alertmanagers: config.URLs("http://user:url-password-9931@127.0.0.1:1/?token=query-secret-1234"), Registerer: reg,
		Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	n.Send(throttled("a"))
	exposition := testpeer.Exposition(t, reg)
	if !strings.Contains(exposition, "http://127.0.0.1:1/") {
		t.Fatalf("no redacted label:\n%s", exposition)
	}
	for _, s := range []string{"url-password-9931", "query-secret-1234", "user:"} {
		if strings.Contains(exposition, s) || strings.Contains(logs.String(), s) {
			t.Fatalf("%q leaked:\n%s\n%s", s, exposition, logs.String())
		}
	}
}
