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
//
// It wires in order: the registry, the live configuration and the store;
// replication when the configuration has an ha block; the round loop; the
// alert loop and its outbound parts; the HTTP server with the API; then it
// runs every long-lived part together and stops them together.
func Run(ctx context.Context, o Options) (err error) {
	defer func() {
		if err != nil {
			// Nobody serves the listener any more: close it so that
			// clients are refused rather than left waiting.
			_ = o.Listener.Close()
		}
	}()
	o.Clock = clock.OrReal(o.Clock)
	w := &wiring{o: o, now: o.Clock.Now, reg: newRegistry()}
	if w.live, err = server.NewLiveConfig(o.ConfigFile, o.Logger, w.reg, w.now); err != nil {
		return err
	}
	w.cfg = w.live.Config()
	if w.db, err = store.Open(ctx, w.cfg.Store.Path); err != nil {
		return err
	}
	defer w.db.Close()
	// What the alert rules compare, for Prometheus rules over /metrics;
	// older than three rounds, it is no longer exported.
	observed := newObservationCollector(w.now, func() time.Duration { return 3 * time.Duration(w.live.Config().Global.RoundInterval) })
	w.reg.MustRegister(newAlertsCollector(w.db), observed)

	stopHA, err := w.startReplication(ctx)
	if err != nil {
		return err
	}
	defer stopHA()
	if err := w.newRoundLoop(ctx); err != nil {
		return err
	}
	defer w.loop.Close()
	if err := w.newAlerting(observed); err != nil {
		return err
	}
	if err := w.newServer(ctx); err != nil {
		return err
	}

	var g run.Group
	w.addRoundLoop(ctx, &g)
	w.addAlerting(ctx, &g)
	if err := w.addWebhook(ctx); err != nil {
		return err
	}
	w.live.Subscribe(func(c *config.Config) { w.api.SetTokens(c.API.Tokens) })
	w.addServe(ctx, &g)
	w.addReloads(ctx, &g)
	err = g.Run()
	o.Logger.Info("stopped")
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// wiring holds the parts of one run as Run builds them.
type wiring struct {
	o   Options
	now func() time.Time
	reg *prometheus.Registry

	live *server.LiveConfig
	cfg  *config.Config // the configuration at start
	db   *store.DB
	// rep and haA are nil with a single replica.
	rep    *replication
	haA    *haAlerts
	loop   *round.Loop
	n      *notifier.Notifier // nil without Alertmanagers
	alerts *alertParts
	srv    *server.Server
	api    *api.API
}

// newRegistry is the process's registry, with the version, Go runtime and
// process collectors.
func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		versioncollector.NewCollector("headroom"),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return reg
}

// startReplication, with an ha block, makes this process one replica of
// several: the shared state comes from the state topics, which it follows
// from now on and has caught up with when it returns. The round loop then
// runs only while the election makes it the active replica. stop ends
// the following and closes the replication.
func (w *wiring) startReplication(ctx context.Context) (stop func(), err error) {
	if w.cfg.HA == nil {
		return func() {}, nil
	}
	rep, err := startReplication(ctx, w.cfg, w.db, w.o.Listener.Addr(), w.reg, w.o.Logger)
	if err != nil {
		return nil, err
	}
	jctx, jcancel := context.WithCancel(context.Background())
	jdone := make(chan struct{})
	go func() { defer close(jdone); rep.journal.Run(jctx) }()
	stop = func() { jcancel(); <-jdone; rep.close() }
	cctx, ccancel := context.WithTimeout(ctx, 2*time.Minute)
	err = rep.journal.CatchUp(cctx)
	ccancel()
	if err != nil {
		stop()
		return nil, err
	}
	w.rep = rep
	return stop, nil
}

// newRoundLoop builds the round loop; every round's outcome goes to the
// replication's write log, the alert loop and the caller's hook. With
// several replicas, the loop joins the election.
func (w *wiring) newRoundLoop(ctx context.Context) error {
	var gate round.Gate
	saveEvery := time.Duration(0)
	if w.rep != nil {
		gate = w.rep
		// Standbys stay warm: the leader saves the detector every round.
		saveEvery = time.Duration(w.cfg.Global.RoundInterval)
	}
	onRound := func(out round.Outcome) {
		if w.rep != nil {
			w.rep.logWrites(out)
		}
		w.alerts.loop.offer(out)
		if w.o.OnRound != nil {
			w.o.OnRound(out)
		}
	}
	loop, err := round.New(round.Options{Config: w.live.Config, Store: w.db, Now: w.now, Clock: w.o.Clock, Registerer: w.reg,
		Logger: w.o.Logger.With("component", "round"), OnRound: onRound, Gate: gate, SaveEvery: saveEvery})
	if err != nil {
		return err
	}
	w.loop = loop
	if w.rep != nil {
		if err := w.rep.elect(ctx, loop); err != nil {
			loop.Close()
			return err
		}
	}
	return nil
}

// newAlerting builds the notifier (with Alertmanagers configured), the
// alert loop's parts, which export each observation through observed and
// follow reloads, and with several replicas the replicated alert states.
func (w *wiring) newAlerting(observed *observationCollector) error {
	if len(w.cfg.Alerting.Alertmanagers) > 0 {
		n, err := notifier.New(notifier.Options{
			Alertmanagers: w.cfg.Alerting.Alertmanagers, QueueCapacity: w.cfg.Alerting.QueueCapacity,
			Clock: w.o.Clock, Logger: w.o.Logger.With("component", "notifier"), Registerer: w.reg,
		})
		if err != nil {
			return err
		}
		w.n = n
	}
	parts, err := newAlertParts(w.live.Config, w.db, w.n, w.loop, w.o.Clock, w.o.Logger, w.reg)
	if err != nil {
		return err
	}
	w.alerts = parts
	parts.loop.exported = observed
	w.live.Subscribe(parts.reload)
	// With several replicas, alert states and lifecycle actions go
	// through the events topic to the active replica.
	if w.rep != nil {
		w.haA = newHAAlerts(w.rep, w.db, parts.engine, w.now, w.reg, w.o.Logger)
	}
	return nil
}

// newServer builds the HTTP server with the API and the status endpoint.
func (w *wiring) newServer(ctx context.Context) error {
	var actions api.AlertActions = w.alerts.engine
	if w.haA != nil {
		actions = w.haA
	}
	w.srv = server.New(w.live, w.reg, w.o.Logger, w.o.Web)
	h, err := api.New(api.Options{Config: w.live.Config, Store: w.db, Now: w.now, Logger: w.o.Logger.With("component", "api"),
		Quotas: clusterQuotas{w.loop}, Alerts: actions, OnOverride: func() { _ = w.loop.ForceRound(ctx, "", false) }})
	if err != nil {
		return err
	}
	w.api = h
	w.srv.Handle("/api/v1/", h)
	w.srv.Handle("GET "+StatusPath, statusHandler(w.rep, w.now()))
	return nil
}

// addRoundLoop runs the round loop. Its ticker follows round_interval
// across reloads; a round in progress always finishes with the
// configuration it started with.
func (w *wiring) addRoundLoop(ctx context.Context, g *run.Group) {
	lctx, cancel := context.WithCancel(ctx)
	intervals := make(chan time.Duration, 1)
	w.live.Subscribe(func(c *config.Config) {
		select {
		case <-intervals:
		default:
		}
		intervals <- time.Duration(c.Global.RoundInterval)
	})
	g.Add(func() error {
		t := w.o.Clock.NewTicker(time.Duration(w.cfg.Global.RoundInterval))
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
		return w.loop.Run(lctx, t.C())
	}, func(error) { cancel() })
}

// addAlerting runs, with several replicas, the election's follower and
// the replicated alert states; the notifier; the alert loop (rules, the
// keeper and verification after every round); and the outbound callbacks
// of every lifecycle step.
func (w *wiring) addAlerting(ctx context.Context, g *run.Group) {
	if w.rep != nil {
		fctx, cancel := context.WithCancel(ctx)
		g.Add(func() error { w.rep.follow(fctx); return nil }, func(error) { cancel() })
		hctx, hcancel := context.WithCancel(ctx)
		g.Add(func() error { w.haA.run(hctx); return nil }, func(error) { hcancel() })
		w.haA.wake() // states applied while catching up, if this replica leads
	}
	if w.n != nil {
		nctx, cancel := context.WithCancel(ctx)
		g.Add(func() error { w.n.Run(nctx); return nil }, func(error) { cancel() })
	}
	actx, cancel := context.WithCancel(ctx)
	g.Add(func() error { w.alerts.loop.run(actx); return nil }, func(error) { cancel() })
	cctx, ccancel := context.WithCancel(ctx)
	g.Add(func() error { w.alerts.callbacks.Run(cctx); return nil }, func(error) { ccancel() })
}

// addWebhook serves Alertmanager's webhook. Fresh notifications open and
// close incidents and run their playbooks under the daemon's context, not
// the request's: a playbook is not cut short because Alertmanager hung
// up. With several replicas the active replica handles them from the
// events topic instead.
func (w *wiring) addWebhook(ctx context.Context) error {
	hookLogger := w.o.Logger.With("component", "webhook")
	var recorder webhook.Recorder = webhook.StoreRecorder{DB: w.db}
	onFresh := func(ns []webhook.Notification) {
		if err := w.alerts.engine.Notify(ctx, ns); err != nil {
			hookLogger.Error("handle notifications", "err", err)
		}
		if err := w.db.MarkNotificationsHandled(ctx, ns); err != nil {
			hookLogger.Error("mark notifications handled", "err", err)
		}
	}
	if w.haA != nil {
		recorder, onFresh = w.haA, nil
	}
	hook, err := newWebhook(w.cfg.Alerting.Webhook, recorder, w.reg, hookLogger, w.now, onFresh)
	if err != nil {
		return err
	}
	w.srv.Handle(WebhookPath, hook)
	w.live.Subscribe(func(c *config.Config) { reloadWebhookAuth(hook, c.Alerting.Webhook, hookLogger) })
	return nil
}

// addServe serves the listener, ready from the start.
func (w *wiring) addServe(ctx context.Context, g *run.Group) {
	sctx, cancel := context.WithCancel(ctx)
	g.Add(func() error {
		w.srv.SetReady(true)
		w.o.Logger.Info("serving", "address", w.o.Listener.Addr().String(), "config", w.o.ConfigFile, "store", w.cfg.Store.Path)
		return w.srv.Serve(sctx, w.o.Listener, w.o.Grace)
	}, func(error) { cancel() })
}

// addReloads reloads the configuration on every request of Options.Reload.
func (w *wiring) addReloads(ctx context.Context, g *run.Group) {
	rctx, cancel := context.WithCancel(ctx)
	g.Add(func() error {
		for {
			select {
			case <-rctx.Done():
				return nil
			case <-w.o.Reload:
				_ = w.live.Reload() // it logs the outcome and keeps the old config on error
			}
		}
	}, func(error) { cancel() })
}

// newWebhook builds the Alertmanager receiver from its configuration.
func newWebhook(c config.WebhookConfig, rec webhook.Recorder, reg prometheus.Registerer, logger *slog.Logger, now func() time.Time, onFresh func([]webhook.Notification)) (*webhook.Receiver, error) {
	auth, err := webhookAuth(c, logger)
	if err != nil {
		return nil, err
	}
	return webhook.New(webhook.Options{Recorder: rec, Auth: auth, MaxBodyBytes: c.MaxBodyBytes,
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
