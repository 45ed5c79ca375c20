package server

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/bcrypt"

	"github.com/headroomhq/headroom/internal/testpeer"
)

// pki is a throwaway CA with a server certificate for 127.0.0.1 and a
// client certificate, written as PEM files into dir.
type pki struct {
	dir            string
	pool           *x509.CertPool
	client         tls.Certificate
	strangerClient tls.Certificate // signed by another CA
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	dir := t.TempDir()
	ca, caKey := mkCert(t, nil, nil, "test CA", true)
	other, otherKey := mkCert(t, nil, nil, "other CA", true)
	srv, srvKey := mkCert(t, ca, caKey, "headroom", false)
	cli, cliKey := mkCert(t, ca, caKey, "prometheus", false)
	str, strKey := mkCert(t, other, otherKey, "stranger", false)
	writePEM(t, filepath.Join(dir, "ca.pem"), "CERTIFICATE", ca.Raw)
	writePEM(t, filepath.Join(dir, "server.pem"), "CERTIFICATE", srv.Raw)
	writeKey(t, filepath.Join(dir, "server-key.pem"), srvKey)
	writePEM(t, filepath.Join(dir, "client.pem"), "CERTIFICATE", cli.Raw)
	writeKey(t, filepath.Join(dir, "client-key.pem"), cliKey)
	p := &pki{dir: dir, pool: x509.NewCertPool()}
	p.pool.AddCert(ca)
	p.client = tls.Certificate{Certificate: [][]byte{cli.Raw}, PrivateKey: cliKey}
	p.strangerClient = tls.Certificate{Certificate: [][]byte{str.Raw}, PrivateKey: strKey}
	return p
}

func mkCert(t *testing.T, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, cn string, isCA bool) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, BasicConstraintsValid: true, IsCA: isCA,
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c, key
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func writeKey(t *testing.T, path string, k *ecdsa.PrivateKey) {
	t.Helper()
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, path, "EC PRIVATE KEY", der)
}

// serveWeb serves a test server with the web configuration text (none if
// empty) on addr, with a component route standing for the API.
func serveWeb(t *testing.T, addr, webConfig string, dir string) (string, *testpeer.LogBuffer) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "headroom.yml")
	writeConfig(t, path, goodConfig)
	reg := prometheus.NewRegistry()
	logs := &testpeer.LogBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, nil))
	live, err := NewLiveConfig(path, logger, reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	w := Web{}
	if webConfig != "" {
		w.ConfigFile = filepath.Join(dir, "web.yml")
		writeConfig(t, w.ConfigFile, webConfig)
		if err := ValidateWebConfig(w.ConfigFile); err != nil {
			t.Fatal(err)
		}
	}
	srv := New(live, reg, logger, w)
	srv.Handle("/api/v1/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "api saw "+r.Header.Get("Authorization"))
	}))
	srv.SetReady(true)
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ctx, l, 5*time.Second) }()
	t.Cleanup(func() {
		cancel()
		if err := <-errc; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return l.Addr().String(), logs
}

func get(t *testing.T, c *http.Client, url string, hdr ...string) (int, string, error) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

// mtlsBasicAuth is the web configuration operators write for a scrape:
// mutual TLS with newPKI's files and the basic-auth user prometheus with
// the password scrape-pass; extra is added after it.
func mtlsBasicAuth(t *testing.T, extra string) string {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte("scrape-pass"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return `tls_server_config:
  cert_file: server.pem
  key_file: server-key.pem
  client_auth_type: RequireAndVerifyClientCert
  client_ca_file: ca.pem
basic_auth_users:
  prometheus: ` + string(hash) + "\n" + extra
}

func TestTLSListener(t *testing.T) {
	p := newPKI(t)
	addr, _ := serveWeb(t, "127.0.0.1:0", mtlsBasicAuth(t, `http_server_config:
  headers:
    X-Frame-Options: deny
`), p.dir)
	client := func(cert *tls.Certificate) *http.Client {
		tc := &tls.Config{RootCAs: p.pool}
		if cert != nil {
			tc.Certificates = []tls.Certificate{*cert}
		}
		return &http.Client{Transport: &http.Transport{TLSClientConfig: tc, DisableKeepAlives: true}, Timeout: 5 * time.Second}
	}
	good := client(&p.client)
	base := "https://" + addr
	t.Run("plain HTTP is refused", func(t *testing.T) {
		code, body, err := get(t, &http.Client{Timeout: 5 * time.Second}, "http://"+addr+"/-/healthy")
		if err == nil && (code == 200 || strings.Contains(body, "Healthy")) {
			t.Fatalf("plain HTTP answered %d %q", code, body)
		}
		code, body, err = get(t, &http.Client{Timeout: 5 * time.Second}, "http://"+addr+"/api/v1/groups", "Authorization", "Bearer tok")
		if err == nil && strings.Contains(body, "api saw") {
			t.Fatalf("plain HTTP reached the API: %d %q", code, body)
		}
	})
	t.Run("no client certificate is refused", func(t *testing.T) {
		if _, _, err := get(t, client(nil), base+"/-/healthy"); err == nil {
			t.Fatal("a client without a certificate was served")
		}
	})
	t.Run("a client certificate from another CA is refused", func(t *testing.T) {
		if _, _, err := get(t, client(&p.strangerClient), base+"/-/healthy"); err == nil {
			t.Fatal("a stranger's certificate was accepted")
		}
	})
	t.Run("process endpoints need the basic-auth user", func(t *testing.T) {
		for _, path := range []string{"/metrics", "/-/healthy", "/-/ready"} {
			if code, _, err := get(t, good, base+path); err != nil || code != http.StatusUnauthorized {
				t.Fatalf("%s without basic auth: %d %v", path, code, err)
			}
			req, _ := http.NewRequest("GET", base+path, nil)
			req.SetBasicAuth("prometheus", "wrong")
			if resp, err := good.Do(req); err != nil || resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("%s with a wrong password: %v %v", path, resp, err)
			} else {
				resp.Body.Close()
			}
			req, _ = http.NewRequest("GET", base+path, nil)
			req.SetBasicAuth("prometheus", "scrape-pass")
			resp, err := good.Do(req)
			if err != nil || resp.StatusCode != 200 || resp.Header.Get("X-Frame-Options") != "deny" {
				t.Fatalf("%s with basic auth: %v %v", path, resp, err)
			}
			resp.Body.Close()
		}
	})
	t.Run("the API keeps its own bearer auth", func(t *testing.T) {
		code, body, err := get(t, good, base+"/api/v1/groups", "Authorization", "Bearer tok")
		if err != nil || code != 200 || body != "api saw Bearer tok" {
			t.Fatalf("API over TLS: %d %q %v", code, body, err)
		}
	})
}

// Certificates are read on each new connection: a rotated pair serves the
// next client without a restart.
func TestTLSCertificateRotation(t *testing.T) {
	p := newPKI(t)
	addr, _ := serveWeb(t, "127.0.0.1:0", "tls_server_config: {cert_file: server.pem, key_file: server-key.pem}\n", p.dir)
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.pool}, DisableKeepAlives: true}, Timeout: 5 * time.Second}
	if code, _, err := get(t, c, "https://"+addr+"/-/healthy"); err != nil || code != 200 {
		t.Fatalf("before rotation: %d %v", code, err)
	}
	q := newPKI(t) // a new CA and server pair
	for _, f := range []string{"server.pem", "server-key.pem"} {
		b, err := os.ReadFile(filepath.Join(q.dir, f))
		if err != nil {
			t.Fatal(err)
		}
		writeConfig(t, filepath.Join(p.dir, f), string(b))
	}
	if _, _, err := get(t, c, "https://"+addr+"/-/healthy"); err == nil {
		t.Fatal("the old CA still verifies the server after rotation")
	}
	c2 := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: q.pool}, DisableKeepAlives: true}, Timeout: 5 * time.Second}
	if code, _, err := get(t, c2, "https://"+addr+"/-/healthy"); err != nil || code != 200 {
		t.Fatalf("after rotation: %d %v", code, err)
	}
}

func TestPlainHTTPWarning(t *testing.T) {
	tests := []struct {
		addr string
		warn bool
	}{
		{"127.0.0.1:0", false},
		{"0.0.0.0:0", true},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			addr, logs := serveWeb(t, tt.addr, "", "")
			_, port, _ := net.SplitHostPort(addr)
			if code, _, err := get(t, &http.Client{Timeout: 5 * time.Second}, "http://127.0.0.1:"+port+"/-/healthy"); err != nil || code != 200 {
				t.Fatalf("plain HTTP: %d %v", code, err)
			}
			if got := strings.Contains(logs.String(), "level=WARN") && strings.Contains(logs.String(), "plain HTTP on a non-loopback"); got != tt.warn {
				t.Fatalf("warning logged = %v, want %v:\n%s", got, tt.warn, logs.String())
			}
		})
	}
}

func TestBadWebConfig(t *testing.T) {
	dir := t.TempDir()
	tests := []struct{ name, text, want string }{
		{"unknown field", "tls_server_config: {cert_fil: x}\n", "cert_fil"},
		{"missing cert", "tls_server_config: {cert_file: nope.pem, key_file: nope-key.pem}\n", "nope.pem"},
		{"plain password", "basic_auth_users: {admin: hunter2}\n", "hashedSecret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, "web.yml")
			writeConfig(t, path, tt.text)
			err := ValidateWebConfig(path)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), path) {
				t.Fatalf("want an error naming %s and %q, got %v", path, tt.want, err)
			}
		})
	}
}

// Without --web.enable-lifecycle /-/reload is refused as Prometheus
// refuses it, and the file is not reloaded.
func TestLifecycleNeedsTheFlag(t *testing.T) {
	path := filepath.Join(t.TempDir(), "headroom.yml")
	writeConfig(t, path, goodConfig)
	live, err := NewLiveConfig(path, slog.New(slog.DiscardHandler), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := New(live, prometheus.NewRegistry(), slog.New(slog.DiscardHandler), Web{})
	old := live.Config()
	writeConfig(t, path, strings.Replace(goodConfig, "4MiB/s", "5MiB/s", 1))
	for _, m := range []string{"POST", "PUT"} {
		code, body := do(t, srv, m, "/-/reload")
		if code != http.StatusForbidden || !strings.Contains(body, "Lifecycle API is not enabled") {
			t.Fatalf("%s /-/reload: %d %q", m, code, body)
		}
	}
	if live.Config() != old {
		t.Fatal("the configuration was reloaded without the lifecycle flag")
	}
}

// http_server_config.http2 and rate_limit mean what they mean to the
// toolkit: HTTP/2 is negotiated only when on, and the process endpoints
// answer 429 past the burst (the API keeps its own limits).
func TestHTTP2AndRateLimitSettings(t *testing.T) {
	for _, h2 := range []bool{true, false} {
		t.Run(fmt.Sprintf("http2 %v", h2), func(t *testing.T) {
			p := newPKI(t)
			addr, _ := serveWeb(t, "127.0.0.1:0", fmt.Sprintf(`tls_server_config: {cert_file: server.pem, key_file: server-key.pem}
http_server_config: {http2: %v}
rate_limit: {interval: 1h, burst: 2}
`, h2), p.dir)
			tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.pool}, ForceAttemptHTTP2: true}
			defer tr.CloseIdleConnections()
			c := &http.Client{Transport: tr, Timeout: 5 * time.Second}
			var protos []int
			for i := range 3 {
				resp, err := c.Get("https://" + addr + "/-/healthy")
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				protos = append(protos, resp.ProtoMajor)
				want := 200
				if i == 2 {
					want = http.StatusTooManyRequests
				}
				if resp.StatusCode != want {
					t.Fatalf("request %d: %d, want %d", i, resp.StatusCode, want)
				}
			}
			if wantMajor := map[bool]int{true: 2, false: 1}[h2]; protos[0] != wantMajor {
				t.Fatalf("protocol HTTP/%d, want HTTP/%d", protos[0], wantMajor)
			}
			resp, err := c.Get("https://" + addr + "/api/v1/x")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("the API is limited by the process endpoints' rate_limit: %d", resp.StatusCode)
			}
		})
	}
}

// When the web configuration, the certificate, its key and the client CA
// all become unreadable (a botched rotation), the listener keeps serving
// with the last good ones: the same certificate, client certificates
// still required, the same basic-auth users; and it says so once.
func TestUnreadableWebFilesKeepCredentials(t *testing.T) {
	p := newPKI(t)
	addr, logs := serveWeb(t, "127.0.0.1:0", mtlsBasicAuth(t, ""), p.dir)
	client := func(cert *tls.Certificate) *http.Client {
		tc := &tls.Config{RootCAs: p.pool}
		if cert != nil {
			tc.Certificates = []tls.Certificate{*cert}
		}
		return &http.Client{Transport: &http.Transport{TLSClientConfig: tc, DisableKeepAlives: true}, Timeout: 5 * time.Second}
	}
	scrape := func(c *http.Client, pass string) (int, error) {
		req, _ := http.NewRequest("GET", "https://"+addr+"/metrics", nil)
		req.SetBasicAuth("prometheus", pass)
		resp, err := c.Do(req)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	if code, err := scrape(client(&p.client), "scrape-pass"); err != nil || code != 200 {
		t.Fatalf("before: %d %v", code, err)
	}
	for _, f := range []string{"web.yml", "server.pem", "server-key.pem", "ca.pem"} {
		if err := os.Remove(filepath.Join(p.dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 { // each a new connection
		if code, err := scrape(client(&p.client), "scrape-pass"); err != nil || code != 200 {
			t.Fatalf("after the files went, scrape %d: %d %v", i, code, err)
		}
	}
	if code, err := scrape(client(&p.client), "wrong"); err != nil || code != http.StatusUnauthorized {
		t.Fatalf("a wrong password after the files went: %d %v", code, err)
	}
	if _, err := scrape(client(nil), "scrape-pass"); err == nil {
		t.Fatal("no client certificate was accepted after the files went")
	}
	if n := strings.Count(logs.String(), "read web config; keeping the previous one"); n != 1 {
		t.Fatalf("logged %d times that the web config was kept, want once:\n%s", n, logs.String())
	}
}
