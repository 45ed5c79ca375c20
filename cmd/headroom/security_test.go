package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/headroomhq/headroom/api"
	"github.com/headroomhq/headroom/internal/testpeer"
)

// The secrets of the security suite: each appears in a file or the
// configuration Headroom reads, or in a request it receives, and must
// never come out of it.
const (
	secKafkaPassword   = "kafka-scram-pass-7f3a91"
	secAdminToken      = "admin-api-token-55b2e0"
	secViewerToken     = "viewer-api-token-c0ffee"
	secWrongToken      = "guessed-api-token-0b5e55"
	secWebhookToken    = "am-webhook-token-9d1c44"
	secAMPassword      = "am-basic-pass-41e8d2"
	secAMCredentials   = "am-inline-bearer-7aa210"
	secCallbackKey     = "callback-hmac-key-3e9f07"
	secCallbackBearer  = "callback-bearer-ee4411"
	secScrapePassword  = "scrape-pass-19c6b3"
	secWrongScrapePass = "wrong-scrape-pass-8a8a8a"
)

var allSecrets = []string{secKafkaPassword, secAdminToken, secViewerToken, secWrongToken, secWebhookToken, secAMPassword,
	secAMCredentials, secCallbackKey, secCallbackBearer, secScrapePassword, secWrongScrapePass}

const securityConfig = `clusters:
  - name: lab
    bootstrap_servers: ["127.0.0.1:1"]
    sasl: {mechanism: SCRAM-SHA-512, username: headroom, password_file: %[1]s/kafka-password}
resource_groups:
  - name: default
    brokers: [{id: 0, metrics_url: "http://127.0.0.1:1/metrics"}]
    capacity: {produce: 10MiB/s, fetch: 20MiB/s}
projects:
  - name: alpha
    group: default
    entity: {client_id: alpha}
    topics: {prefixes: ["alpha."]}
    produce: {share: 4MiB/s}
    fetch: {share: 8MiB/s}
api:
  tokens:
    - {name: ada, role: admin, sha256: %[2]s}
    - {name: vera, role: viewer, sha256: %[3]s}
alerting:
  alertmanagers:
    - url: http://127.0.0.1:1
      http_config:
        basic_auth: {username: headroom, password_file: %[1]s/am-password}
    - url: http://127.0.0.1:2
      http_config:
        authorization: {credentials: %[4]s}
  webhook: {bearer_token_file: %[1]s/webhook-token}
  callbacks:
    - url: http://127.0.0.1:3/hook
      secret_file: %[1]s/callback-key
      http_config:
        authorization: {credentials: %[5]s}
store:
  path: %[1]s/headroom.db
`

const webhookPayload = `{"version": "4", "groupKey": "g", "status": "firing", "receiver": "headroom",
  "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {}, "externalURL": "http://am:9093",
  "alerts": [{"status": "firing", "labels": {"alertname": "GroupSaturated", "group": "default"}, "annotations": {},
    "startsAt": "2026-11-23T02:00:00Z", "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "http://headroom/", "fingerprint": "f1"}]}`

// TestSecuritySuite runs `headroom serve` with a secret in every place a
// secret can be (SASL password file, API tokens, webhook token file,
// Alertmanager basic auth and bearer credentials, callback key and bearer,
// the web listener's basic-auth users), attacks it, and then greps every
// line it logged, every /metrics line and every /api/v1 answer for each
// secret. On the way, a reload whose secret files have become unreadable
// keeps the credentials in force.
func TestSecuritySuite(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("kafka-password", secKafkaPassword+"\n")
	write("am-password", secAMPassword)
	write("webhook-token", secWebhookToken)
	write("callback-key", secCallbackKey)
	hash, err := bcrypt.GenerateFromPassword([]byte(secScrapePassword), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	write("web.yml", "basic_auth_users:\n  prometheus: "+string(hash)+"\n")
	cfg := filepath.Join(dir, "headroom.yml")
	write("headroom.yml", fmt.Sprintf(securityConfig, dir, api.HashToken(secAdminToken), api.HashToken(secViewerToken), secAMCredentials, secCallbackBearer))
	if out, code := runCheck(t, cfg); code != 0 {
		t.Fatalf("check config: %d %s", code, out)
	}
	hr := testpeer.Start(t, testpeer.Spec{
		Name: "headroom serve", Binary: headroomBin, ReadyPath: "/api/v1/health",
		Args: func(addr string) []string {
			return []string{"serve", "--config.file=" + cfg, "--web.listen-address=" + addr, "--web.config.file=" + filepath.Join(dir, "web.yml"),
				"--web.enable-lifecycle", "--log.level=debug"}
		},
	})
	var captured []string // every answer body, for the grep
	do := func(method, path, body string, hdr ...string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, hr.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		captured = append(captured, fmt.Sprintf("%s %s -> %d %v\n%s", method, path, resp.StatusCode, resp.Header, b))
		return resp.StatusCode, string(b)
	}
	bearer := func(tok string) []string { return []string{"Authorization", "Bearer " + tok} }
	basic := func(user, pass string) []string {
		req, _ := http.NewRequest("GET", "/", nil)
		req.SetBasicAuth(user, pass)
		return []string{"Authorization", req.Header.Get("Authorization")}
	}

	attacks := []struct {
		name         string
		method, path string
		body         string
		hdr          []string
		want         int
	}{
		{"scrape /metrics without credentials", "GET", "/metrics", "", nil, 401},
		{"scrape /metrics with a wrong password", "GET", "/metrics", "", basic("prometheus", secWrongScrapePass), 401},
		{"scrape /metrics with an API token", "GET", "/metrics", "", bearer(secAdminToken), 401},
		{"reload without credentials", "POST", "/-/reload", "", nil, 401},
		{"API with a guessed token", "GET", "/api/v1/groups", "", bearer(secWrongToken), 401},
		{"API audit as viewer", "GET", "/api/v1/audit", "", bearer(secViewerToken), 403},
		{"API write as viewer", "PUT", "/api/v1/overrides/project/alpha", `{"produce": {"weight": 2}}`, bearer(secViewerToken), 403},
		{"API write in someone's name with a non-proxy token", "PUT", "/api/v1/overrides/project/alpha", `{"produce": {"weight": 2}}`,
			append(bearer(secAdminToken), api.UserHeader, "mallory"), 403},
		{"webhook without a token", "POST", "/webhook/alertmanager", webhookPayload, nil, 401},
		{"webhook with an API token", "POST", "/webhook/alertmanager", webhookPayload, bearer(secAdminToken), 401},
		{"webhook with the basic-auth password", "POST", "/webhook/alertmanager", webhookPayload, basic("prometheus", secScrapePassword), 401},
	}
	for _, a := range attacks {
		if code, body := do(a.method, a.path, a.body, a.hdr...); code != a.want {
			t.Errorf("attack %q: %d %s, want %d", a.name, code, body, a.want)
		}
	}

	// Legitimate use, so that every read has something to show and the
	// audit holds a record.
	if code, body := do("PUT", "/api/v1/overrides/project/alpha", `{"produce": {"weight": 2}, "reason": "suite"}`, bearer(secAdminToken)...); code != 200 {
		t.Fatalf("admin write: %d %s", code, body)
	}
	if code, body := do("POST", "/webhook/alertmanager", webhookPayload, bearer(secWebhookToken)...); code != 200 {
		t.Fatalf("webhook with its token: %d %s", code, body)
	}

	// Unreadable secret files, then a reload: the webhook keeps its token.
	for _, f := range []string{"webhook-token", "callback-key", "kafka-password", "am-password"} {
		if err := os.Chmod(filepath.Join(dir, f), 0); err != nil {
			t.Fatal(err)
		}
	}
	if os.Geteuid() == 0 {
		// root reads a file whatever its mode: remove them instead.
		for _, f := range []string{"webhook-token", "callback-key", "kafka-password", "am-password"} {
			if err := os.Remove(filepath.Join(dir, f)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if code, body := do("POST", "/-/reload", "", basic("prometheus", secScrapePassword)...); code != 200 {
		t.Fatalf("reload: %d %s", code, body)
	}
	if err := hr.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	// Real peer: the `headroom serve` process logs as it handles the reloads.
	testpeer.EventuallyNil(t, "the reloads to say they kept the previous credentials", 10*time.Second, func() error {
		if strings.Count(hr.Logs(), "keeping the previous") < 4 {
			return fmt.Errorf("logs so far:\n%s", hr.Logs())
		}
		return nil
	})
	if code, body := do("POST", "/webhook/alertmanager", webhookPayload, bearer(secWebhookToken)...); code != 200 {
		t.Fatalf("webhook after its token file became unreadable: %d %s, want the old token kept", code, body)
	}
	if code, _ := do("POST", "/webhook/alertmanager", webhookPayload); code != 401 {
		t.Fatalf("webhook without a token after the reload: %d", code)
	}

	// Every read there is, with the most privileged token.
	for _, p := range []string{"/api/v1/health", "/api/v1/openapi.json", "/api/v1/groups", "/api/v1/groups/default", "/api/v1/projects",
		"/api/v1/projects/alpha", "/api/v1/quotas", "/api/v1/overrides", "/api/v1/overrides/project/alpha", "/api/v1/ledger?project=alpha",
		"/api/v1/signals?project=alpha", "/api/v1/explain?project=alpha&direction=produce", "/api/v1/alerts", "/api/v1/alerts/1", "/api/v1/audit"} {
		// The cluster is down: quotas answers 502 with why.
		if code, body := do("GET", p, "", bearer(secAdminToken)...); code >= 500 && !(p == "/api/v1/quotas" && code == 502) {
			t.Errorf("GET %s: %d %s", p, code, body)
		}
	}
	code, metrics := do("GET", "/metrics", "", basic("prometheus", secScrapePassword)...)
	if code != 200 || !strings.Contains(metrics, "headroom_config_last_reload_successful 1") {
		t.Fatalf("metrics with the scrape password: %d\n%s", code, metrics)
	}
	// The grep: every captured line, for every secret.
	lines := append(strings.Split(hr.Logs(), "\n"), strings.Split(strings.Join(captured, "\n"), "\n")...)
	if len(lines) < 100 {
		t.Fatalf("captured only %d lines: the grep would prove little", len(lines))
	}
	for _, l := range lines {
		for _, s := range allSecrets {
			if strings.Contains(l, s) {
				t.Errorf("secret %q in: %s", s, l)
			}
		}
	}
	t.Logf("grepped %d captured lines for %d secrets", len(lines), len(allSecrets))
}

func runCheck(t *testing.T, cfg string) (string, int) {
	t.Helper()
	out, err := exec.Command(headroomBin, "check", "config", cfg).CombinedOutput()
	if err != nil {
		return string(out), 1
	}
	return string(out), 0
}
