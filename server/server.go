package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Server serves the process endpoints.
type Server struct {
	live     *LiveConfig
	logger   *slog.Logger
	gatherer prometheus.Gatherer
	mux      *http.ServeMux
	ready    atomic.Bool
	// maxReloadBody caps the body of POST /-/reload, which carries nothing.
	maxReloadBody int64
	web           Web
	webFile       *webFile // nil without --web.config.file
}

// New returns a server for live. It starts not ready; call SetReady once
// every component is up. The process endpoints are behind the web
// configuration's basic-auth users; /-/reload answers only with
// web.EnableLifecycle.
func New(live *LiveConfig, g prometheus.Gatherer, logger *slog.Logger, web Web) *Server {
	s := &Server{live: live, logger: logger, gatherer: g, mux: http.NewServeMux(), maxReloadBody: 1 << 10, web: web}
	if web.ConfigFile != "" {
		s.webFile = newWebFile(web.ConfigFile, logger)
	}
	process := func(pattern string, h http.Handler) {
		if s.webFile != nil {
			h = &basicAuth{file: s.webFile, logger: logger, next: h, ok: map[[32]byte]bool{}}
		}
		s.mux.Handle(pattern, h)
	}
	process("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelError)}))
	process("GET /-/healthy", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "Headroom is Healthy.")
	}))
	process("GET /-/ready", http.HandlerFunc(s.handleReady))
	reload := http.HandlerFunc(s.handleReload)
	if !web.EnableLifecycle {
		reload = func(w http.ResponseWriter, _ *http.Request) { http.Error(w, lifecycleDisabled, http.StatusForbidden) }
	}
	process("POST /-/reload", reload)
	process("PUT /-/reload", reload)
	return s
}

// Handle adds a handler, for components that serve their own routes.
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// SetReady marks the process ready (or not) to serve traffic.
func (s *Server) SetReady(ready bool) { s.ready.Store(ready) }

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

func (s *Server) handleReady(w http.ResponseWriter, _ *http.Request) {
	if !s.ready.Load() {
		http.Error(w, "Service Unavailable", http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "Headroom is Ready.")
}

func (s *Server) handleReload(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, s.maxReloadBody)
	if err := s.live.Reload(); err != nil {
		http.Error(w, fmt.Sprintf("failed to reload config: %v", err), http.StatusInternalServerError)
		return
	}
	fmt.Fprintln(w, "configuration reloaded")
}

// Serve serves on l until ctx is done, then shuts down gracefully, giving
// in-flight requests up to grace to finish. With TLS in the web
// configuration it serves only TLS; without it on an address other peers
// can reach, it warns that tokens and credentials travel in clear.
func (s *Server) Serve(ctx context.Context, l net.Listener, grace time.Duration) error {
	tc, http2, err := tlsConfig(s.webFile)
	if err != nil {
		return err
	}
	hs := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.logger.Handler(), slog.LevelWarn),
		TLSConfig:         tc,
	}
	if tc != nil && !http2 {
		hs.TLSNextProto = map[string]func(*http.Server, *tls.Conn, http.Handler){} // HTTP/1.1 only
	}
	errc := make(chan error, 1)
	switch {
	case tc != nil:
		s.logger.Info("TLS is enabled.", "address", l.Addr().String())
		go func() { errc <- hs.ServeTLS(l, "", "") }()
	default:
		if !isLoopback(l.Addr()) {
			s.logger.Warn("serving plain HTTP on a non-loopback address: API tokens, basic-auth passwords and webhook credentials travel in clear; configure tls_server_config in --web.config.file",
				"address", l.Addr().String())
		} else {
			s.logger.Info("TLS is disabled.", "address", l.Addr().String())
		}
		go func() { errc <- hs.Serve(l) }()
	}
	select {
	case err := <-errc:
		return fmt.Errorf("serve http on %s: %w", l.Addr(), err)
	case <-ctx.Done():
	}
	s.SetReady(false)
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		return fmt.Errorf("shut down http server: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve http on %s: %w", l.Addr(), err)
	}
	return nil
}
