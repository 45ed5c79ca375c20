package daemon

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/headroomhq/headroom/alerting"
	"github.com/headroomhq/headroom/alerting/notifier"
	"github.com/headroomhq/headroom/collector"
	"github.com/headroomhq/headroom/config"
	"github.com/headroomhq/headroom/internal/clock"
	"github.com/headroomhq/headroom/round"
	"github.com/headroomhq/headroom/round/alertfeed"
	"github.com/headroomhq/headroom/store"
)

// alertLoop is the alert loop inside serve: after every round it builds the
// rules' observation from the round's outcome, evaluates the rules, keeps
// the firing alerts posted to every Alertmanager (refreshed, then
// resolved) and lets the engine verify what its playbooks did.
//
// It runs on its own goroutine, fed by the round loop's OnRound through a
// mailbox that holds the newest outcome: a slow Alertmanager never holds up
// a round, and the round's lock is never held while the engine acts (a
// playbook's forced round would otherwise wait on the round that waits on
// the engine).
type alertLoop struct {
	config func() *config.Config
	rules  *alerting.Rules
	keeper *notifier.Keeper // nil without Alertmanagers
	engine *alerting.Engine
	logger *slog.Logger

	outcomes chan round.Outcome
	// exported, when set, exports each observation on /metrics.
	exported *observationCollector

	// ownFor is the configuration own was built for; both are the run
	// goroutine's.
	ownFor *config.Config
	own    *collector.Ownership
}

func newAlertLoop(cfg func() *config.Config, rules *alerting.Rules, keeper *notifier.Keeper, engine *alerting.Engine, logger *slog.Logger) *alertLoop {
	return &alertLoop{config: cfg, rules: rules, keeper: keeper, engine: engine, logger: logger, outcomes: make(chan round.Outcome, 1)}
}

// offer hands a round's outcome to the loop without blocking; an outcome
// the loop has not taken yet is replaced by the newer one. The round loop
// is the only sender.
func (a *alertLoop) offer(o round.Outcome) {
	for {
		select {
		case a.outcomes <- o:
			return
		default:
		}
		select {
		case old := <-a.outcomes:
			a.logger.Warn("alert loop behind; skipped a round's evaluation", "round", old.Index)
		default:
		}
	}
}

// run evaluates every outcome offered until ctx is done.
func (a *alertLoop) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case o := <-a.outcomes:
			a.evaluate(ctx, o)
		}
	}
}

func (a *alertLoop) evaluate(ctx context.Context, o round.Outcome) {
	cfg := a.config()
	if a.ownFor != cfg {
		own, err := collector.NewOwnership(cfg.Projects)
		if err != nil { // the configuration was validated: cannot happen
			a.logger.Error("topic ownership", "err", err)
		}
		a.ownFor, a.own = cfg, own
	}
	obs := alertfeed.Observe(cfg, a.own, o)
	if a.exported != nil {
		a.exported.set(obs)
	}
	firing := a.rules.Evaluate(obs)
	if a.keeper != nil {
		a.keeper.Update(o.Time, firing)
	}
	if err := a.engine.Tick(ctx); err != nil && ctx.Err() == nil {
		a.logger.Error("verify incidents", "err", err)
	}
}

// alertParts are the alert loop's parts for the configuration: the rules,
// the engine with its store-backed overrides, the outbound callbacks and,
// when Alertmanagers are configured, the keeper over the notifier.
type alertParts struct {
	loop      *alertLoop
	engine    *alerting.Engine
	callbacks *alerting.Callbacks
	notifier  *notifier.Notifier // nil without Alertmanagers at start
	logger    *slog.Logger
}

func newAlertParts(live func() *config.Config, db *store.DB, n *notifier.Notifier, loop *round.Loop, clk clock.Clock,
	logger *slog.Logger, reg prometheus.Registerer) (*alertParts, error) {
	cfg := live()
	now := clk.Now
	rules := alerting.NewRules(alerting.RuleOptionsFrom(cfg))
	callbacks, err := alerting.NewCallbacks(alerting.CallbackOptions{URLs: cfg.Alerting.Callbacks, Clock: clk,
		Logger: logger.With("component", "callbacks"), Registerer: reg})
	if err != nil {
		return nil, err
	}
	opts := alerting.Options{
		Store:  db,
		Config: cfg.Alerting,
		Overrides: &alerting.ServiceOverrides{Service: overrideService(live, db, loop, now),
			Force: loop.ForceRound},
		Conditions: rules,
		OnStep:     callbacks.Step,
		Now:        now,
		Logger:     logger.With("component", "playbooks"),
	}
	var keeper *notifier.Keeper
	if n != nil {
		opts.Sender, opts.Silencer = n, n
		keeper = notifier.NewKeeper(n, time.Duration(cfg.Alerting.ResendInterval))
	}
	eng, err := alerting.NewEngine(opts)
	if err != nil {
		return nil, err
	}
	return &alertParts{loop: newAlertLoop(live, rules, keeper, eng, logger.With("component", "alerts")), engine: eng, callbacks: callbacks,
		notifier: n, logger: logger.With("component", "alerts")}, nil
}

// reload applies a new configuration's rule thresholds, playbooks, callback
// URLs, resend interval and Alertmanagers. A kept Alertmanager or callback
// URL keeps what is queued for it; a new one starts empty; a removed one
// stops and what was queued for it is dropped (and logged).
//
// A serve started without Alertmanagers has no notifier, keeper or silences
// wired into the engine, so its first Alertmanagers need a restart; a
// non-empty list can be changed, or emptied, by a reload. queue_capacity
// also takes effect on restart.
func (p *alertParts) reload(c *config.Config) {
	p.loop.rules.SetOptions(alerting.RuleOptionsFrom(c))
	p.engine.SetConfig(c.Alerting)
	p.callbacks.SetURLs(c.Alerting.Callbacks)
	if p.notifier == nil {
		if len(c.Alerting.Alertmanagers) > 0 {
			p.logger.Warn("alerting.alertmanagers: serve started without Alertmanagers; adding them needs a restart")
		}
		return
	}
	p.loop.keeper.SetResendEvery(time.Duration(c.Alerting.ResendInterval))
	if err := p.notifier.SetAlertmanagers(c.Alerting.Alertmanagers); err != nil { // validated: cannot happen
		p.logger.Error("reload alertmanagers failed; keeping the previous ones", "err", err)
	}
}
