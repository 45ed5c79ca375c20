package server

import (
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/headroomhq/headroom/config"
)

// LiveConfig holds the configuration in force. A reload validates the file
// first and swaps the whole configuration in one step, so readers see either
// the old or the new configuration, never a mix. On error the old one stays.
type LiveConfig struct {
	path   string
	load   func(path string) (*config.Config, error)
	now    func() time.Time
	logger *slog.Logger

	mu      sync.Mutex // serialises reloads and subscriber changes
	cur     atomic.Pointer[config.Config]
	subs    []func(*config.Config)
	success prometheus.Gauge
	lastOK  prometheus.Gauge
	reloads *prometheus.CounterVec
}

// NewLiveConfig loads path and returns the live configuration. It fails if
// the first load fails: a daemon never starts on an invalid file.
func NewLiveConfig(path string, logger *slog.Logger, reg prometheus.Registerer, now func() time.Time) (*LiveConfig, error) {
	if now == nil {
		now = time.Now
	}
	lc := &LiveConfig{
		path:   path,
		load:   config.LoadFile,
		now:    now,
		logger: logger,
		success: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "headroom_config_last_reload_successful",
			Help: "Whether the last configuration reload attempt was successful.",
		}),
		lastOK: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "headroom_config_last_reload_success_timestamp_seconds",
			Help: "Timestamp of the last successful configuration reload.",
		}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "headroom_config_reloads_total",
			Help: "Configuration reload attempts by result.",
		}, []string{"result"}),
	}
	c, err := lc.load(path)
	if err != nil {
		return nil, err
	}
	lc.cur.Store(c)
	lc.warn(c)
	lc.success.Set(1)
	lc.lastOK.Set(float64(now().Unix()))
	if reg != nil {
		for _, m := range []prometheus.Collector{lc.success, lc.lastOK, lc.reloads} {
			if err := reg.Register(m); err != nil {
				return nil, fmt.Errorf("register config metrics: %w", err)
			}
		}
	}
	return lc, nil
}

// Config returns the configuration in force. Callers must not modify it.
func (lc *LiveConfig) Config() *config.Config { return lc.cur.Load() }

// Path returns the configuration file's path.
func (lc *LiveConfig) Path() string { return lc.path }

// Subscribe registers fn to be called, under the reload lock, with each new
// configuration after a successful reload.
func (lc *LiveConfig) Subscribe(fn func(*config.Config)) {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	lc.subs = append(lc.subs, fn)
}

// Reload re-reads and validates the file. On success it swaps the new
// configuration in and notifies subscribers; on failure it keeps the old
// configuration and returns the error, which lists every problem.
func (lc *LiveConfig) Reload() error {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	c, err := lc.load(lc.path)
	if err != nil {
		lc.success.Set(0)
		lc.reloads.WithLabelValues("failure").Inc()
		lc.logger.Error("reload config failed; keeping the previous configuration", "file", lc.path, "err", err)
		return err
	}
	lc.cur.Store(c)
	lc.warn(c)
	lc.success.Set(1)
	lc.lastOK.Set(float64(lc.now().Unix()))
	lc.reloads.WithLabelValues("success").Inc()
	for _, fn := range lc.subs {
		fn(c)
	}
	lc.logger.Info("configuration reloaded", "file", lc.path,
		"clusters", len(c.Clusters), "resource_groups", len(c.ResourceGroups), "projects", len(c.Projects))
	return nil
}

// warn logs what in the configuration is unsafe but allowed.
func (lc *LiveConfig) warn(c *config.Config) {
	for _, w := range c.Warnings() {
		lc.logger.Warn("configuration: " + w)
	}
}
