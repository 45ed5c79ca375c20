package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/headroomhq/headroom/api"
	"github.com/headroomhq/headroom/config"
	"github.com/headroomhq/headroom/internal/testpeer"
	"github.com/headroomhq/headroom/store"
)

// ctlTestServer serves the real API for the ctl binary to call.
func ctlTestServer(t *testing.T) string {
	t.Helper()
	cfg, err := config.LoadFile("../../examples/headroom.yml")
	if err != nil {
		t.Fatal(err)
	}
	cfg.API.Tokens = []config.APIToken{{Name: "otto", Role: config.RoleOperator, SHA256: api.HashToken("op")}}
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "h.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	a, err := api.New(api.Options{Config: func() *config.Config { return cfg }, Store: db})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestCtlAgainstAPI(t *testing.T) {
	srv := ctlTestServer(t)
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("op\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"ctl", "--api.url", srv, "--api.token-file", tokenFile, "list", "projects"}, 0, "checkout"},
		{[]string{"ctl", "--api.url", srv, "--api.token-file", tokenFile, "-o", "json", "show", "group", "events"}, 0, `"margin": 0.9`},
		{[]string{"ctl", "--api.url", srv, "--api.token-file", tokenFile, "override", "project", "search", "--share", "35MiB/s", "--for", "1h", "--reason", "launch"}, 0, "search"},
		{[]string{"ctl", "--api.url", srv, "--api.token-file", tokenFile, "override", "project", "search", "--share=-1MiB/s"}, 1, "--share"},
		{[]string{"ctl", "--api.url", srv, "list", "projects"}, 1, "401"},
	}
	for _, tt := range tests {
		cmd := exec.Command(headroomBin, tt.args...)
		cmd.Env = append(os.Environ(), "HEADROOM_API_TOKEN=")
		out, _ := cmd.CombinedOutput()
		if code := cmd.ProcessState.ExitCode(); code != tt.code || !strings.Contains(string(out), tt.out) {
			t.Errorf("%v: exit %d, want %d with %q:\n%s", tt.args[3:], code, tt.code, tt.out, out)
		}
	}
}

// TestOverridesSurviveServeRestart sets an override through `headroom ctl`
// against a real `headroom serve`, stops the process with SIGTERM, starts a
// new one on the same SQLite file and finds the override and its audit
// record still there.
func TestOverridesSurviveServeRestart(t *testing.T) {
	example, err := os.ReadFile("../../examples/headroom.yml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	db := filepath.Join(dir, "headroom.db")
	cfg := strings.Replace(string(example), "/var/lib/headroom/headroom.db", db, 1)
	// The example's cluster and Alertmanager credentials live in /etc; this
	// test reaches no broker and no Alertmanager, so it drops them (and the
	// comments that name them) rather than fake them.
	tlsAndSASL := regexp.MustCompile(`(?m)^    (tls|sasl):\n(      .*\n)+`)
	httpConfig := regexp.MustCompile(`(?m)^      http_config:\n(        .*\n)+`)
	comments := regexp.MustCompile(`(?m)^\s*#.*\n`)
	cfg = comments.ReplaceAllString(httpConfig.ReplaceAllString(tlsAndSASL.ReplaceAllString(cfg, ""), ""), "")
	if strings.Contains(cfg, "/etc/headroom") {
		t.Fatalf("the example's credentials were not removed:\n%s", cfg)
	}
	cfg = strings.Replace(cfg, "\nstore:\n", fmt.Sprintf("\napi:\n  tokens:\n    - {name: otto, role: operator, sha256: %s}\n    - {name: ada, role: admin, sha256: %s}\nstore:\n",
		api.HashToken("op-token"), api.HashToken("admin-token")), 1)
	cfgFile := filepath.Join(dir, "headroom.yml")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	serve := func() *testpeer.Peer {
		return testpeer.Start(t, testpeer.Spec{Name: "headroom serve", Binary: headroomBin, Args: func(addr string) []string {
			return []string{"serve", "--config.file=" + cfgFile, "--web.listen-address=" + addr}
		}})
	}
	ctlRun := func(url string, args ...string) string {
		t.Helper()
		cmd := exec.Command(headroomBin, append([]string{"ctl", "--api.url", url}, args...)...)
		cmd.Env = append(os.Environ(), "HEADROOM_API_TOKEN=op-token")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("ctl %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	audit := func(url string) []store.AuditRecord {
		t.Helper()
		req, _ := http.NewRequest("GET", url+"/api/v1/audit", nil)
		req.Header.Set("Authorization", "Bearer admin-token")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var rs []store.AuditRecord
		if err := json.NewDecoder(resp.Body).Decode(&rs); err != nil || resp.StatusCode != 200 {
			t.Fatalf("audit: %d %v", resp.StatusCode, err)
		}
		return rs
	}

	first := serve()
	ctlRun(first.URL, "override", "project", "search", "--share", "35MiB/s", "--reason", "launch")
	if rs := audit(first.URL); len(rs) != 1 || rs[0].Actor != "otto" {
		t.Fatalf("audit before restart: %+v", rs)
	}
	if err := first.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err, exited := first.Wait(15 * time.Second); !exited || err != nil {
		t.Fatalf("serve did not exit cleanly on SIGTERM: exited %v, %v\n%s", exited, err, first.Logs())
	}

	second := serve()
	var ovs []struct {
		Kind, Name string
		Version    int
		Spec       struct {
			Produce struct{ Share float64 }
			Reason  string
		}
	}
	if err := json.Unmarshal([]byte(ctlRun(second.URL, "-o", "json", "list", "overrides")), &ovs); err != nil {
		t.Fatal(err)
	}
	if len(ovs) != 1 || ovs[0].Name != "search" || ovs[0].Version != 1 || ovs[0].Spec.Produce.Share != 35<<20 || ovs[0].Spec.Reason != "launch" {
		t.Fatalf("overrides after restart: %+v", ovs)
	}
	if out := ctlRun(second.URL, "show", "project", "search"); !strings.Contains(out, "35MiB/s") {
		t.Fatalf("effective project after restart lacks the override:\n%s", out)
	}
	// The next change continues from the stored version and is audited
	// next to the first one.
	ctlRun(second.URL, "override", "project", "search", "--weight", "2")
	rs := audit(second.URL)
	if len(rs) != 2 || rs[1].Actor != "otto" || rs[0].Target != "project/search" || string(rs[1].Before) != "null" || string(rs[0].Before) == "null" {
		t.Fatalf("audit after restart: %+v", rs)
	}
	http.DefaultClient.CloseIdleConnections()
}

// TestOverrideSpec holds the flags of `ctl override` to the body the API
// takes: only the fields set, rates in bytes/s under the direction, the
// expiry counted from now.
func TestOverrideSpec(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	str := func(s string) *string { return &s }
	f64 := func(v float64) *float64 { return &v }
	flags := func(dir string, rates map[string]string, weight, margin float64, freeze bool, expires time.Duration, reason string) overrideFlags {
		f := overrideFlags{direction: str(dir), rates: map[string]*string{}, weight: f64(weight), margin: f64(margin),
			freeze: &freeze, expiresIn: &expires, reason: str(reason)}
		for _, r := range []string{"share", "floor", "ceiling", "pin"} {
			f.rates[r] = str(rates[r])
		}
		return f
	}
	tests := []struct {
		name    string
		f       overrideFlags
		want    string
		wantErr string
	}{
		{"nothing set", flags("produce", nil, 0, 0, false, 0, ""), `{}`, ""},
		{"project fields under the direction", flags("fetch", map[string]string{"share": "2MiB/s", "ceiling": "1kB/s"}, 2, 0, false, 0, ""),
			`{"fetch":{"ceiling":1000,"share":2097152,"weight":2}}`, ""},
		{"group fields, expiry and reason", flags("produce", nil, 0, 0.8, true, 90*time.Minute, "launch"),
			`{"expires_at":"2026-03-01T13:30:00Z","freeze":true,"margin":0.8,"reason":"launch"}`, ""},
		{"a bad rate names its flag", flags("produce", map[string]string{"floor": "fast"}, 0, 0, false, 0, ""), "", "--floor: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec, err := tt.f.spec(now)
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want it to start with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := json.Marshal(spec)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("spec %s, want %s", got, tt.want)
			}
		})
	}
}
