// Package daemon assembles Headroom's components into the long-running
// process behind `headroom serve`: the live configuration and its reloads,
// the store, the control round loop, the alert loop (rules after every
// round, the notifier to every Alertmanager, Alertmanager's webhook, the
// playbook engine and its outbound callbacks), the quota tuning API and the
// process endpoints, run together and stopped together.
//
// It owns wiring only; every behaviour lives in the package it wires.
package daemon

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/oklog/run"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"

	"github.com/headroomhq/headroom/alerting/notifier"
	"github.com/headroomhq/headroom/alerting/webhook"
	"github.com/headroomhq/headroom/api"
	"github.com/headroomhq/headroom/config"
	"github.com/headroomhq/headroom/internal/clock"
	"github.com/headroomhq/headroom/limiter/applier"
	"github.com/headroomhq/headroom/round"
	"github.com/headroomhq/headroom/server"
	"github.com/headroomhq/headroom/store"
)

// Options configure a run.
type Options struct {
	ConfigFile string
	Listener   net.Listener
	// Grace is how long in-flight requests may take on shutdown.
	Grace time.Duration
	// Web is --web.config.file and --web.enable-lifecycle.
	Web    server.Web
	Logger *slog.Logger
	// Reload receives a value for each reload request (SIGHUP).
	Reload <-chan struct{}
	// Clock is the daemon's time: now for every component, the ticker of
	// the control rounds at global.round_interval, and the outbox's
	// retry waits. Default clock.Real; rigs that run rounds on demand
	// pass a clock.Driven.
	Clock clock.Clock
	// OnRound, when set, receives every round's outcome.
	OnRound func(round.Outcome)
}

// WebhookPath is where Alertmanager's webhook is served.
const WebhookPath = "/webhook/alertmanager"

// Run runs Headroom until ctx is done or a component fails.
func Run(ctx context.Context, o Options) (err error) {
	defer func() {
		if err != nil {
			// Nobody serves the listener any more: close it so that
			// clients are refused rather than left waiting.
			_ = o.Listener.Close()
		}
	}()
	o.Clock = clock.OrReal(o.Clock)
	now := o.Clock.Now
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		versioncollector.NewCollector("headroom"),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	live, err := server.NewLiveConfig(o.ConfigFile, o.Logger, reg, now)
	if err != nil {
		return err
	}
	cfg := live.Config()
	db, err := store.Open(ctx, cfg.Store.Path)
	if err != nil {
		return err
	}
	defer db.Close()
	reg.MustRegister(newAlertsCollector(db))

	// With an ha block this process is one replica of several: the shared
	// state comes from the state topics, and the round loop runs only
	// while the election makes it the active replica.
	var rep *replication
	var gate round.Gate
	saveEvery := time.Duration(0)
	if cfg.HA != nil {
		rep, err = startReplication(ctx, cfg, db, o.Listener.Addr(), reg, o.Logger)
		if err != nil {
			return err
		}
		defer rep.close()
		jctx, jcancel := context.WithCancel(context.Background())
		jdone := make(chan struct{})
		go func() { defer close(jdone); rep.journal.Run(jctx) }()
		defer func() { jcancel(); <-jdone }()
		cctx, ccancel := context.WithTimeout(ctx, 2*time.Minute)
		err = rep.journal.CatchUp(cctx)
		ccancel()
		if err != nil {
			return err
		}
		gate = rep
		// Standbys stay warm: the leader saves the detector every round.
		saveEvery = time.Duration(cfg.Global.RoundInterval)
	}

	// The alert loop follows every round; the caller's hook too.
	var alerts *alertLoop
	onRound := func(out round.Outcome) {
		if rep != nil {
			rep.logWrites(out)
		}
		alerts.offer(out)
		if o.OnRound != nil {
			o.OnRound(out)
		}
	}
	loop, err := round.New(round.Options{Config: live.Config, Store: db, Now: now, Clock: o.Clock, Registerer: reg,
		Logger: o.Logger.With("component", "round"), OnRound: onRound, Gate: gate, SaveEvery: saveEvery})
	if err != nil {
		return err
	}
	defer loop.Close()
	if rep != nil {
		if err := rep.elect(ctx, loop); err != nil {
			return err
		}
	}

	var n *notifier.Notifier
	if len(cfg.Alerting.Alertmanagers) > 0 {
		n, err = notifier.New(notifier.Options{
			Alertmanagers: cfg.Alerting.Alertmanagers, QueueCapacity: cfg.Alerting.QueueCapacity,
			Clock: o.Clock, Logger: o.Logger.With("component", "notifier"), Registerer: reg,
		})
		if err != nil {
			return err
		}
	}
	parts, err := newAlertParts(live.Config, db, n, loop, o.Clock, o.Logger, reg)
	if err != nil {
		return err
	}
	alerts = parts.loop
	live.Subscribe(parts.reload)

	srv := server.New(live, reg, o.Logger, o.Web)
	apiHandler, err := api.New(api.Options{Config: live.Config, Store: db, Now: now, Logger: o.Logger.With("component", "api"),
		Quotas: clusterQuotas{loop}, Alerts: parts.engine, OnOverride: func() { _ = loop.ForceRound(ctx, "", false) }})
	if err != nil {
		return err
	}
	srv.Handle("/api/v1/", apiHandler)
	srv.Handle("GET "+StatusPath, statusHandler(rep, now()))

	var g run.Group
	{
		// The round loop. Its ticker follows round_interval across
		// reloads; a round in progress always finishes with the
		// configuration it started with.
		lctx, cancel := context.WithCancel(ctx)
		intervals := make(chan time.Duration, 1)
		live.Subscribe(func(c *config.Config) {
			select {
			case <-intervals:
			default:
			}
			intervals <- time.Duration(c.Global.RoundInterval)
		})
		g.Add(func() error {
			t := o.Clock.NewTicker(time.Duration(cfg.Global.RoundInterval))
			defer t.Stop()
			go func() {
				for {
					select {
					case <-lctx.Done():
						return
					case d := <-intervals:
						t.Reset(d)
					}
				}
			}()
			return loop.Run(lctx, t.C())
		}, func(error) { cancel() })
	}
	if rep != nil {
		fctx, cancel := context.WithCancel(ctx)
		g.Add(func() error { rep.follow(fctx); return nil }, func(error) { cancel() })
	}
	if n != nil {
		nctx, cancel := context.WithCancel(ctx)
		g.Add(func() error { n.Run(nctx); return nil }, func(error) { cancel() })
	}
	{
		// Rules, the keeper and verification after every round; the
		// outbound callbacks of every lifecycle step.
		actx, cancel := context.WithCancel(ctx)
		g.Add(func() error { parts.loop.run(actx); return nil }, func(error) { cancel() })
		cctx, ccancel := context.WithCancel(ctx)
		g.Add(func() error { parts.callbacks.Run(cctx); return nil }, func(error) { ccancel() })
	}
	// Fresh notifications from Alertmanager open and close incidents and
	// run their playbooks. They act under the daemon's context, not the
	// request's: a playbook is not cut short because Alertmanager hung up.
	hookLogger := o.Logger.With("component", "webhook")
	hook, err := newWebhook(cfg.Alerting.Webhook, db, reg, hookLogger, now, func(ns []webhook.Notification) {
		if err := parts.engine.Notify(ctx, ns); err != nil {
			hookLogger.Error("handle notifications", "err", err)
		}
	})
	if err != nil {
		return err
	}
	srv.Handle(WebhookPath, hook)
	live.Subscribe(func(c *config.Config) { reloadWebhookAuth(hook, c.Alerting.Webhook, hookLogger) })

	live.Subscribe(func(c *config.Config) { apiHandler.SetTokens(c.API.Tokens) })

	{
		sctx, cancel := context.WithCancel(ctx)
		g.Add(func() error {
			srv.SetReady(true)
			o.Logger.Info("serving", "address", o.Listener.Addr().String(), "config", o.ConfigFile, "store", cfg.Store.Path)
			return srv.Serve(sctx, o.Listener, o.Grace)
		}, func(error) { cancel() })
	}
	{
		rctx, cancel := context.WithCancel(ctx)
		g.Add(func() error {
			for {
				select {
				case <-rctx.Done():
					return nil
				case <-o.Reload:
					_ = live.Reload() // it logs the outcome and keeps the old config on error
				}
			}
		}, func(error) { cancel() })
	}
	err = g.Run()
	o.Logger.Info("stopped")
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// newWebhook builds the Alertmanager receiver from its configuration.
func newWebhook(c config.WebhookConfig, db *store.DB, reg prometheus.Registerer, logger *slog.Logger, now func() time.Time, onFresh func([]webhook.Notification)) (*webhook.Receiver, error) {
	auth, err := webhookAuth(c, logger)
	if err != nil {
		return nil, err
	}
	return webhook.New(webhook.Options{Recorder: webhook.StoreRecorder{DB: db}, Auth: auth, MaxBodyBytes: c.MaxBodyBytes,
		Now: now, Logger: logger, Registerer: reg, OnFresh: onFresh})
}

// webhookAuth reads the receiver's credentials from their files. With no
// credentials configured (and not marked insecure) they refuse every
// delivery rather than accept unauthenticated ones.
func webhookAuth(c config.WebhookConfig, logger *slog.Logger) (webhook.Auth, error) {
	var auth webhook.Auth
	switch {
	case c.BearerTokenFile != "":
		tok, err := readSecret(c.BearerTokenFile)
		if err != nil {
			return webhook.Auth{}, fmt.Errorf("alerting.webhook.bearer_token_file: %w", err)
		}
		auth.BearerToken = tok
	case c.BasicAuth != nil:
		pw, err := readSecret(c.BasicAuth.PasswordFile)
		if err != nil {
			return webhook.Auth{}, fmt.Errorf("alerting.webhook.basic_auth.password_file: %w", err)
		}
		auth.Username, auth.Password = c.BasicAuth.Username, pw
	case c.Insecure:
	default:
		// Unreachable credentials: every request is refused with 401 and
		// the log says why, once per load.
		b := make([]byte, 32)
		_, _ = rand.Read(b)
		auth.BearerToken = hex.EncodeToString(b)
		logger.Warn("alerting.webhook has no credentials; refusing every delivery (set bearer_token_file, basic_auth or insecure)")
	}
	return auth, nil
}

// reloadWebhookAuth re-reads the receiver's credentials from their files.
// If a file cannot be read the receiver keeps the credentials it has: a
// reload never opens the webhook to unauthenticated deliveries.
func reloadWebhookAuth(hook *webhook.Receiver, c config.WebhookConfig, logger *slog.Logger) {
	auth, err := webhookAuth(c, logger)
	if err == nil {
		err = hook.SetAuth(auth)
	}
	if err != nil {
		logger.Error("reload webhook credentials failed; keeping the previous ones", "err", err)
	}
}

func readSecret(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read secret: %w", err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("read secret %s: the file is empty", path)
	}
	return s, nil
}

// clusterQuotas serves the API's view of what the clusters hold.
type clusterQuotas struct{ loop *round.Loop }

func (c clusterQuotas) ClusterQuotas(ctx context.Context, cluster string) (map[string]api.EntityQuota, error) {
	held, err := c.loop.Held(ctx, cluster)
	if err != nil {
		return nil, err
	}
	out := make(map[string]api.EntityQuota, len(held))
	for e, kv := range held {
		var q api.EntityQuota
		if v, ok := kv[applier.ProducerByteRate]; ok {
			q.Produce = &v
		}
		if v, ok := kv[applier.ConsumerByteRate]; ok {
			q.Fetch = &v
		}
		out[e.String()] = q
	}
	return out, nil
}
