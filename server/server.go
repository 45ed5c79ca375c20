package server

import (
	"context"
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
}

// New returns a server for live. It starts not ready; call SetReady once
// every component is up.
func New(live *LiveConfig, g prometheus.Gatherer, logger *slog.Logger) *Server {
	s := &Server{live: live, logger: logger, gatherer: g, mux: http.NewServeMux(), maxReloadBody: 1 << 10}
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelError)}))
	s.mux.HandleFunc("GET /-/healthy", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "Headroom is Healthy.")
	})
	s.mux.HandleFunc("GET /-/ready", s.handleReady)
	s.mux.HandleFunc("POST /-/reload", s.handleReload)
	s.mux.HandleFunc("PUT /-/reload", s.handleReload)
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
// in-flight requests up to grace to finish.
func (s *Server) Serve(ctx context.Context, l net.Listener, grace time.Duration) error {
	hs := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.logger.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(l) }()
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
