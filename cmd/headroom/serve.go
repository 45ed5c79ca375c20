package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/headroomhq/headroom/daemon"
	"github.com/headroomhq/headroom/server"
)

func init() { register(serveCommand) }

// serveCommand is `headroom serve`: the long-running control plane.
func serveCommand(app *kingpin.Application) (string, func() int) {
	cmd := app.Command("serve", "Run the Headroom control plane.")
	configFile := cmd.Flag("config.file", "Headroom configuration file path.").Default("headroom.yml").String()
	listen := cmd.Flag("web.listen-address", "Address to listen on for the web interface and /metrics.").Default(":9644").String()
	webConfig := cmd.Flag("web.config.file", "Path to the exporter-toolkit web configuration: TLS (tls_server_config, client certificates included), basic_auth_users for /metrics and the /-/ endpoints, response headers.").Default("").String()
	lifecycle := cmd.Flag("web.enable-lifecycle", "Enable reloading through POST /-/reload (SIGHUP always reloads).").Default("false").Bool()
	grace := cmd.Flag("web.shutdown-timeout", "How long in-flight requests may take to finish on shutdown.").Default("10s").Duration()
	logLevel := cmd.Flag("log.level", "Only log messages at or above this level: debug, info, warn, error.").Default("info").Enum("debug", "info", "warn", "error")
	return cmd.FullCommand(), func() int {
		logger := newLogger(*logLevel)
		web := server.Web{ConfigFile: *webConfig, EnableLifecycle: *lifecycle}
		if err := serve(*configFile, *listen, web, *grace, logger); err != nil {
			logger.Error("headroom serve failed", "err", err)
			return 1
		}
		return 0
	}
}

func newLogger(level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level)) // kingpin's Enum has already checked it
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
}

func serve(configFile, listen string, web server.Web, grace time.Duration, logger *slog.Logger) error {
	if err := server.ValidateWebConfig(web.ConfigFile); err != nil {
		return err
	}
	l, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", listen, err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	reload := make(chan struct{})
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				select {
				case reload <- struct{}{}:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return daemon.Run(ctx, daemon.Options{ConfigFile: configFile, Listener: l, Web: web, Grace: grace, Logger: logger, Reload: reload})
}
