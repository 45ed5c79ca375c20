package server

import (
	"crypto/sha256"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"

	"github.com/prometheus/exporter-toolkit/web"
	"go.yaml.in/yaml/v2"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/time/rate"
)

// Web configures the listener the way Prometheus's flags do.
type Web struct {
	// ConfigFile is --web.config.file: exporter-toolkit's web
	// configuration (tls_server_config, http_server_config,
	// basic_auth_users). Empty serves plain HTTP with no basic auth.
	ConfigFile string
	// EnableLifecycle is --web.enable-lifecycle: without it /-/reload
	// answers 403, as in Prometheus.
	EnableLifecycle bool
}

// readWebConfig reads an exporter-toolkit web configuration file with the
// toolkit's defaults and strictness; relative paths in it are relative to
// the file, as in the toolkit.
func readWebConfig(path string) (*web.Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read web config %s: %w", path, err)
	}
	c := &web.Config{
		TLSConfig:  web.TLSConfig{MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS13},
		HTTPConfig: web.HTTPConfig{HTTP2: true},
	}
	if err := yaml.UnmarshalStrict(b, c); err != nil {
		return nil, fmt.Errorf("read web config %s: %w", path, err)
	}
	c.TLSConfig.SetDirectory(filepath.Dir(path))
	return c, nil
}

// ValidateWebConfig checks a web configuration file as the toolkit does at
// start: its syntax, its users' bcrypt hashes, and that its certificate
// and key load.
func ValidateWebConfig(path string) error {
	if path == "" {
		return nil
	}
	if _, err := readWebConfig(path); err != nil {
		return err
	}
	if err := web.Validate(path); err != nil {
		return fmt.Errorf("read web config %s: %w", path, err)
	}
	return nil
}

// webFile is the web configuration file in force. It is read again on
// every request to a process endpoint and on every new TLS connection, as
// the toolkit does, so that rotated users and certificates take effect
// without a restart; but when the file or a certificate cannot be read or
// parsed then, the last good one stays in use and the error is logged
// (once per distinct error), rather than locking everyone out.
type webFile struct {
	path   string
	logger *slog.Logger

	mu       sync.Mutex
	last     *web.Config
	lastTLS  *tls.Config
	lastCert *tls.Certificate
	logged   map[string]bool // errors logged since the file last read well
}

func newWebFile(path string, logger *slog.Logger) *webFile {
	return &webFile{path: path, logger: logger, logged: map[string]bool{}}
}

// failed logs err unless it was logged since the file last read well.
// f.mu must be held.
func (f *webFile) failed(what string, err error) {
	if msg := what + ": " + err.Error(); !f.logged[msg] {
		f.logged[msg] = true
		f.logger.Error(what+"; keeping the previous one", "file", f.path, "err", err)
	}
}

// config returns the configuration in force.
func (f *webFile) config() (*web.Config, error) {
	c, err := readWebConfig(f.path)
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case err == nil:
		f.last = c
		clear(f.logged)
		return c, nil
	case f.last != nil:
		f.failed("read web config", err)
		return f.last, nil
	}
	return nil, err
}

// tlsConfig returns the TLS configuration of a new connection.
func (f *webFile) tlsConfig() (*tls.Config, error) {
	c, err := f.config()
	if err != nil {
		return nil, err
	}
	cfg, err := web.ConfigToTLSConfig(&c.TLSConfig)
	if err != nil {
		// The whole last good configuration, client authentication
		// included: never a weaker one because a file went missing.
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.lastTLS == nil {
			return nil, fmt.Errorf("read web config %s: %w", f.path, err)
		}
		f.failed("load TLS configuration", err)
		return f.lastTLS.Clone(), nil
	}
	load := cfg.GetCertificate
	cfg.GetCertificate = func(h *tls.ClientHelloInfo) (*tls.Certificate, error) {
		cert, err := load(h)
		f.mu.Lock()
		defer f.mu.Unlock()
		switch {
		case err == nil:
			f.lastCert = cert
			return cert, nil
		case f.lastCert != nil:
			f.failed("load TLS certificate", err)
			return f.lastCert, nil
		}
		return nil, err
	}
	f.mu.Lock()
	f.lastTLS = cfg.Clone()
	f.mu.Unlock()
	return cfg, nil
}

// tlsConfig returns the listener's TLS configuration, nil for plain HTTP,
// and whether HTTP/2 is on (http_server_config.http2, default true).
func tlsConfig(f *webFile) (*tls.Config, bool, error) {
	if f == nil {
		return nil, false, nil
	}
	c, err := f.config()
	if err != nil {
		return nil, false, err
	}
	if !c.TLSConfig.IsEnabled() {
		return nil, false, nil
	}
	cfg, err := f.tlsConfig()
	if err != nil {
		return nil, false, err
	}
	protos := []string{"http/1.1"}
	if c.HTTPConfig.HTTP2 {
		protos = []string{"h2", "http/1.1"}
	}
	cfg.NextProtos = protos
	cfg.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		next, err := f.tlsConfig()
		if err != nil {
			return nil, err
		}
		next.NextProtos = protos
		return next, nil
	}
	return cfg, c.HTTPConfig.HTTP2, nil
}

// basicAuth guards the process endpoints with the file's basic_auth_users
// and sets its http_server_config headers, re-reading the file on every
// request as the toolkit does. The API and the webhook carry their own
// bearer or basic credentials in the same Authorization header, so they are
// not behind it.
type basicAuth struct {
	file   *webFile
	logger *slog.Logger
	next   http.Handler

	mu sync.Mutex // serialises bcrypt, which is costly, and guards ok
	ok map[[32]byte]bool

	lmu     sync.Mutex
	limiter *rate.Limiter
	limCfg  web.RateLimiterConfig // what limiter was made for
}

// allow applies the file's rate_limit to the process endpoints, as the
// toolkit applies it to its whole listener (the API has its own limits).
func (b *basicAuth) allow(c web.RateLimiterConfig) bool {
	if c.Interval == 0 {
		return true
	}
	b.lmu.Lock()
	defer b.lmu.Unlock()
	if b.limiter == nil || b.limCfg != c {
		b.limiter, b.limCfg = rate.NewLimiter(rate.Every(c.Interval), c.Burst), c
	}
	return b.limiter.Allow()
}

// fakeHash is a bcrypt hash compared when the user is unknown, so that
// timing does not tell which users exist.
var fakeHash = func() []byte {
	h, err := bcrypt.GenerateFromPassword([]byte("not a password"), bcrypt.MinCost)
	if err != nil {
		panic(err)
	}
	return h
}()

func (b *basicAuth) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c, err := b.file.config()
	if err != nil {
		b.logger.Error("read web config", "err", err)
		http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
		return
	}
	if !b.allow(c.RateLimiterConfig) {
		http.Error(w, http.StatusText(http.StatusTooManyRequests), http.StatusTooManyRequests)
		return
	}
	for k, v := range c.HTTPConfig.Header {
		w.Header().Set(k, v)
	}
	if len(c.Users) == 0 {
		b.next.ServeHTTP(w, r)
		return
	}
	user, pass, ok := r.BasicAuth()
	if ok && b.check(c, user, pass) {
		b.next.ServeHTTP(w, r)
		return
	}
	w.Header().Set("WWW-Authenticate", "Basic")
	http.Error(w, http.StatusText(http.StatusUnauthorized), http.StatusUnauthorized)
}

// check compares the password with the user's bcrypt hash, remembering
// outcomes (by a hash of user, stored hash and password) so that a scraper
// does not pay bcrypt on every request.
func (b *basicAuth) check(c *web.Config, user, pass string) bool {
	hash, known := c.Users[user]
	stored := []byte(hash)
	if !known {
		stored = fakeHash
	}
	h := sha256.New()
	for _, part := range [][]byte{[]byte(user), stored, []byte(pass)} {
		fmt.Fprintf(h, "%d:", len(part))
		h.Write(part)
	}
	var key [32]byte
	copy(key[:], h.Sum(nil))
	b.mu.Lock()
	defer b.mu.Unlock()
	if ok, seen := b.ok[key]; seen {
		return ok && known
	}
	ok := bcrypt.CompareHashAndPassword(stored, []byte(pass)) == nil
	if len(b.ok) >= 1024 {
		clear(b.ok)
	}
	b.ok[key] = ok
	return ok && known
}

// isLoopback says whether a listener's address only accepts local peers.
func isLoopback(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return false
	}
	return ta.IP.IsLoopback()
}

// lifecycleDisabled is Prometheus's answer to a lifecycle call without
// --web.enable-lifecycle.
const lifecycleDisabled = "Lifecycle API is not enabled."
