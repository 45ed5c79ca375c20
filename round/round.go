package round

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/headroomhq/headroom/collector"
	"github.com/headroomhq/headroom/collector/kafkaadmin"
	"github.com/headroomhq/headroom/config"
	"github.com/headroomhq/headroom/detector"
	"github.com/headroomhq/headroom/internal/clock"
	"github.com/headroomhq/headroom/internal/kafkaconn"
	"github.com/headroomhq/headroom/limiter"
	"github.com/headroomhq/headroom/limiter/applier"
	"github.com/headroomhq/headroom/limiter/control"
	"github.com/headroomhq/headroom/limiter/overrides"
	"github.com/headroomhq/headroom/store"
)

// StateSaveInterval is how often the detector's learnt state is saved to
// the store (and always on Close), so that a restart resumes it.
const StateSaveInterval = time.Minute

// PruneInterval is how often rows older than store.retention are deleted
// from the ledger and the signals.
const PruneInterval = time.Hour

// detectorState names the detector's state in the store.
const detectorState = "detector"

// LagWindow is the number of admin-API lag readings the Burrow-style status
// is evaluated over.
const LagWindow = 10

// Options configure a Loop.
type Options struct {
	// Config returns the configuration in force. It is read once at the
	// start of each round, and the whole round works from that value, so
	// a reload never half-applies a plan.
	Config func() *config.Config
	// Store holds the ledger and the overrides. Required.
	Store *store.DB
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// HTTPClient scrapes the targets. Default http.DefaultClient.
	HTTPClient *http.Client
	// Registerer receives the loop's and the collector's metrics.
	Registerer prometheus.Registerer
	Logger     *slog.Logger
	// OnRound is called after every round with its outcome, from the
	// round's goroutine.
	OnRound func(Outcome)
	// Clock times the applier's waits between retries. Default
	// clock.Real.
	Clock clock.Clock
	// Gate, when set (several replicas), says whether this replica plays
	// rounds, and authorises each batch of quota writes.
	Gate Gate
	// SaveEvery is how often the detector's state is saved. Default
	// StateSaveInterval.
	SaveEvery time.Duration
}

// Gate lets one of several replicas run rounds and write.
type Gate interface {
	// Active says whether this replica plays rounds.
	Active() bool
	// Authorize is called before each batch of writes with the round and
	// a digest of the changes; writes may go on until the time returned.
	// On error nothing is written.
	Authorize(ctx context.Context, round int64, digest string) (time.Time, error)
}

// Outcome is what one round saw and did.
type Outcome struct {
	Index    int64
	Time     time.Time
	Duration time.Duration
	Mode     string
	Snapshot collector.Snapshot
	Signals  detector.Signals
	Events   []detector.Event
	Lag      []kafkaadmin.GroupLag
	Plans    []limiter.Plan
	Results  []applier.Result
	// Frozen lists the groups an override froze: nothing was planned
	// for them.
	Frozen []string
	// Problems lists what went wrong without stopping the round, e.g. a
	// cluster whose placement could not be read.
	Problems []string
	// Damage is the round's damage ledger: per project and direction with
	// fresh data, the bytes throttled under the quota in force and the
	// bytes the static share would have throttled.
	Damage []store.DamageEntry
}

// Loop runs rounds. Round may be called from several goroutines; rounds
// never overlap.
type Loop struct {
	opts    Options
	metrics *metrics

	mu     sync.Mutex // one round at a time; guards everything below
	cfg    *config.Config
	coll   *collector.Collector
	disc   *collector.Discovery
	own    *collector.Ownership
	mon    *detector.Monitor
	conns  map[string]*cluster
	broken map[string]brokenCluster
	ctl    *control.Controller
	writer *multiWriter
	// memory is the demand stage's per-project state.
	memory map[memKey]*loadMemory
	// exempt follows the exempt entities' traffic per broker.
	exempt exemptReserves
	// problems are the last round's, logged when they appear and clear.
	problems map[string]bool
	index    int64
	burst    bool
	last     Outcome
	hasLast  bool
	saved    time.Time // when the detector's state was last saved
	lastAt   time.Time // when the last round ran, for the damage ledger's span
	pruned   time.Time // when old ledger and signal rows were last deleted

	force chan struct{}
}

type cluster struct {
	conf    config.ClusterConfig
	conn    *kafkaconn.Conn
	reader  *kafkaadmin.Reader
	applier *applier.Applier
	// placement is the last placement read; ok says it was read at all.
	placement kafkaadmin.Placement
	ok        bool
}

type brokenCluster struct {
	conf config.ClusterConfig
	err  error
}

// New returns a Loop for the configuration opts.Config returns. It opens
// the clusters' admin connections; Close closes them.
func New(o Options) (*Loop, error) {
	if o.Config == nil || o.Store == nil {
		return nil, errors.New("round: Options.Config and Options.Store are required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.HTTPClient == nil {
		o.HTTPClient = http.DefaultClient
	}
	if o.SaveEvery <= 0 {
		o.SaveEvery = StateSaveInterval
	}
	l := &Loop{opts: o, metrics: newMetrics(o.Registerer), conns: map[string]*cluster{}, broken: map[string]brokenCluster{}, memory: map[memKey]*loadMemory{}, force: make(chan struct{}, 1)}
	next, err := o.Store.NextRound(context.Background())
	if err != nil {
		return nil, err
	}
	l.index = next
	if err := l.prepare(o.Config()); err != nil {
		l.Close()
		return nil, err
	}
	l.restore()
	return l, nil
}

// restore resumes the detector from the state a previous process saved. A
// state learnt with another detector configuration is dropped: the
// detector starts afresh, and the log says why.
func (l *Loop) restore() {
	b, at, err := l.opts.Store.State(context.Background(), detectorState)
	if errors.Is(err, store.ErrNoState) {
		return
	}
	if err == nil {
		err = l.mon.UnmarshalBinary(b)
	}
	if err != nil {
		l.opts.Logger.Warn("detector starts afresh", "err", err)
		return
	}
	l.saved = l.opts.Now()
	l.opts.Logger.Info("detector resumed from the store", "saved_at", at)
}

// save writes the detector's state to the store.
func (l *Loop) save(ctx context.Context, now time.Time) {
	b, err := l.mon.MarshalBinary()
	if err == nil {
		err = l.opts.Store.PutState(ctx, detectorState, b, now)
	}
	if err != nil {
		l.opts.Logger.Error("save detector state", "err", err)
		return
	}
	l.saved = now
}

// Close saves the detector's state and closes the admin connections.
func (l *Loop) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	// A replica that no longer leads must not overwrite the leader's
	// newer state with its own.
	if l.mon != nil && l.hasLast && (l.opts.Gate == nil || l.opts.Gate.Active()) {
		l.save(context.Background(), l.opts.Now())
	}
	for _, c := range l.conns {
		c.conn.Close()
	}
	l.conns = map[string]*cluster{}
	if l.disc != nil {
		l.disc.Close()
		l.disc = nil
	}
}

// Last returns the last round's outcome; ok is false before the first.
func (l *Loop) Last() (Outcome, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.last, l.hasLast
}

// ForceRound asks Run for a round now instead of at the next tick. With
// burst, that round writes every change, however small. It implements the
// reallocate-now action of the alert playbooks.
func (l *Loop) ForceRound(_ context.Context, _ string, burst bool) error {
	if burst {
		l.mu.Lock()
		l.burst = true
		l.mu.Unlock()
	}
	select {
	case l.force <- struct{}{}:
	default: // a forced round is already pending
	}
	return nil
}

// Run runs a round on every tick and on every ForceRound until ctx is done.
// The ticker is injected, so tests drive rounds without sleeping.
func (l *Loop) Run(ctx context.Context, tick <-chan time.Time) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick:
		case <-l.force:
		}
		if g := l.opts.Gate; g != nil && !g.Active() {
			continue // a standby plays no rounds
		}
		if _, err := l.Round(ctx); err != nil && ctx.Err() == nil {
			l.opts.Logger.Error("round failed", "err", err)
		}
	}
}

// prepare (re)builds what depends on the configuration when it changed:
// the collector when the projects or the collector section changed, the
// detector when its section changed, the admin connections when a
// cluster's settings changed, and the controller when the projects or
// the limiter section changed. What did not change keeps its state, so a
// reload neither forgets learnt baselines nor drops quotas.
func (l *Loop) prepare(cfg *config.Config) error {
	old := l.cfg
	if old == cfg {
		return nil
	}
	if old == nil || !reflect.DeepEqual(old.Projects, cfg.Projects) || !reflect.DeepEqual(old.Collector, cfg.Collector) ||
		!exemptEqual(old.Clusters, cfg.Clusters) {
		coll, err := collector.New(collector.Options{Config: cfg.Collector, Projects: cfg.Projects, Clusters: cfg.Clusters, Now: l.opts.Now,
			Client: l.opts.HTTPClient, Registerer: l.metrics.collectorRegisterer(), Logger: l.opts.Logger.With("component", "collector")})
		if err != nil {
			return fmt.Errorf("round: %w", err)
		}
		own, err := collector.NewOwnership(cfg.Projects)
		if err != nil {
			return fmt.Errorf("round: %w", err)
		}
		l.coll, l.own = coll, own
	}
	// Discovery keeps what each file_sd file last listed, so a file that
	// turns unreadable keeps its targets (and reports the error) instead of
	// dropping them; it is rebuilt only when the targets' sources change.
	if old == nil || !reflect.DeepEqual(old.Collector, cfg.Collector) || !reflect.DeepEqual(old.ResourceGroups, cfg.ResourceGroups) ||
		!reflect.DeepEqual(old.Clusters, cfg.Clusters) {
		if l.disc != nil {
			l.disc.Close()
		}
		l.disc = collector.NewConfigDiscovery(cfg)
	}
	if old == nil || !reflect.DeepEqual(old.Detector, cfg.Detector) {
		mon, err := detector.NewMonitor(cfg.Detector)
		if err != nil {
			return fmt.Errorf("round: %w", err)
		}
		l.mon = mon
		l.exempt = exemptReserves{cfg: cfg.Detector}
	}
	keep := map[string]bool{}
	for _, cc := range cfg.Clusters {
		keep[cc.Name] = true
		if c, ok := l.conns[cc.Name]; ok && reflect.DeepEqual(c.conf, cc) {
			continue
		}
		if c, ok := l.conns[cc.Name]; ok {
			c.conn.Close()
			delete(l.conns, cc.Name)
		}
		l.open(cc)
	}
	for name, c := range l.conns {
		if !keep[name] {
			c.conn.Close()
			delete(l.conns, name)
		}
	}
	for name := range l.broken {
		if !keep[name] {
			delete(l.broken, name)
		}
	}
	for _, c := range l.conns {
		l.newApplier(c, cfg.Limiter)
	}
	if old == nil || !reflect.DeepEqual(old.Projects, cfg.Projects) || !reflect.DeepEqual(old.Limiter, cfg.Limiter) || !reflect.DeepEqual(old.ResourceGroups, cfg.ResourceGroups) {
		sk, err := control.NewSkeleton(cfg)
		if err != nil {
			return fmt.Errorf("round: %w", err)
		}
		l.writer = &multiWriter{loop: l}
		l.ctl = control.New(l.writer, l.opts.Store, cfg.Limiter.Mode, sk.Entities)
		l.ctl.SetNextRound(l.index)
	}
	l.writer.route = projectClusters(cfg)
	l.cfg = cfg
	return nil
}

// open opens a cluster's connection. A cluster that cannot be opened (a
// missing CA file, say) is remembered as broken: every round reports it and
// tries again, and its projects are held, while the other clusters go on.
func (l *Loop) open(cc config.ClusterConfig) {
	conn, err := kafkaconn.Open(cc)
	if err != nil {
		l.broken[cc.Name] = brokenCluster{conf: cc, err: err}
		return
	}
	delete(l.broken, cc.Name)
	c := &cluster{conf: cc, conn: conn, reader: kafkaadmin.NewReader(conn.Admin, l.opts.Now, LagWindow)}
	if l.cfg != nil {
		l.newApplier(c, l.cfg.Limiter)
	}
	l.conns[cc.Name] = c
}

func (l *Loop) newApplier(c *cluster, lc config.LimiterConfig) {
	ac := control.ApplierConfig(lc)
	ac.Clock = l.opts.Clock
	ac.Logger = l.opts.Logger.With("component", "applier", "cluster", c.conf.Name)
	c.applier = applier.New(c.conn.Admin, ac)
}

// Round runs one round now: it reads the configuration in force, then
// scrapes, reads placement and lag, reads the policy and the quotas held,
// estimates demand and observes it with the detector, and plans, writes
// and records through the controller.
func (l *Loop) Round(ctx context.Context) (Outcome, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	began := time.Now() // wall time, for the duration metric only
	cfg := l.opts.Config()
	if err := l.prepare(cfg); err != nil {
		l.metrics.rounds.WithLabelValues("error").Inc()
		return Outcome{}, err
	}
	now := l.opts.Now()
	out := Outcome{Index: l.index, Time: now, Mode: cfg.Limiter.Mode}
	l.reopenBroken(&out)
	l.scrape(ctx, &out)
	l.readClusters(ctx, &out)
	eff, held := l.policy(ctx, cfg, now, &out)
	active, err := l.observe(ctx, cfg, now, eff, held, &out)
	if err != nil {
		l.metrics.rounds.WithLabelValues("error").Inc()
		return out, fmt.Errorf("round %d: %w", out.Index, err)
	}
	return l.step(ctx, began, now, eff, active, out)
}

// reopenBroken tries again to open every cluster that could not be
// opened; each that still cannot is a problem of the round.
func (l *Loop) reopenBroken(out *Outcome) {
	for _, name := range slices.Sorted(maps.Keys(l.broken)) {
		l.open(l.broken[name].conf)
		if b, still := l.broken[name]; still {
			out.Problems = append(out.Problems, "cluster "+name+": "+b.err.Error())
		}
	}
}

// scrape reloads the targets' discovery and scrapes every target into the
// round's snapshot.
func (l *Loop) scrape(ctx context.Context, out *Outcome) {
	if _, errs := l.disc.Reload(); len(errs) > 0 {
		for _, err := range errs {
			out.Problems = append(out.Problems, "target discovery: "+err.Error())
		}
	}
	out.Snapshot = l.coll.Round(ctx, l.disc.Targets())
}

// readClusters reads each cluster's placement (keeping the last one read
// when it cannot) and consumer lag through the admin API.
func (l *Loop) readClusters(ctx context.Context, out *Outcome) {
	for _, name := range slices.Sorted(maps.Keys(l.conns)) {
		c := l.conns[name]
		actx, cancel := context.WithTimeout(ctx, c.conn.Timeout)
		p, err := c.reader.Placement(actx)
		if err != nil {
			out.Problems = append(out.Problems, fmt.Sprintf("cluster %s: read placement: %v", name, err))
		} else {
			c.placement, c.ok = p, true
		}
		lag, err := c.reader.Lag(actx)
		cancel()
		if err != nil {
			out.Problems = append(out.Problems, fmt.Sprintf("cluster %s: read lag: %v", name, err))
		}
		out.Lag = append(out.Lag, lag...)
	}
}

// policy returns the policy in force (the configuration with the
// overrides applied) and the quotas each cluster holds; a cluster whose
// quotas cannot be read is left out.
func (l *Loop) policy(ctx context.Context, cfg *config.Config, now time.Time, out *Outcome) (overrides.Effective, map[string]map[config.Entity]map[string]float64) {
	ovs, err := l.opts.Store.Overrides(ctx, now)
	if err != nil {
		out.Problems = append(out.Problems, "read overrides: "+err.Error())
	}
	eff, errs := overrides.Apply(cfg, ovs, now)
	for _, err := range errs {
		out.Problems = append(out.Problems, "override: "+err.Error())
	}
	held := map[string]map[config.Entity]map[string]float64{}
	for _, name := range slices.Sorted(maps.Keys(l.conns)) {
		c := l.conns[name]
		actx, cancel := context.WithTimeout(ctx, c.conn.Timeout)
		q, err := c.applier.Describe(actx)
		cancel()
		if err != nil {
			out.Problems = append(out.Problems, fmt.Sprintf("cluster %s: describe client quotas: %v", name, err))
			continue
		}
		held[name] = q
	}
	return eff, held
}

// observe estimates demand, records the round's damage, has the detector
// denoise and forecast it (recording the signals, pruning old rows and
// saving the detector's state when due), and returns the limiter states
// of the groups not frozen.
func (l *Loop) observe(ctx context.Context, cfg *config.Config, now time.Time, eff overrides.Effective,
	held map[string]map[config.Entity]map[string]float64, out *Outcome) ([]*limiter.State, error) {
	sk, err := control.NewSkeleton(eff.Config)
	if err != nil {
		return nil, err
	}
	b := builder{loop: l, cfg: eff.Config, eff: eff, snap: &out.Snapshot, held: held, sk: sk}
	b.index()
	est := b.estimates()
	out.Damage = b.damage(est, now, l.roundSeconds(now, time.Duration(cfg.Global.RoundInterval)))
	if err := l.opts.Store.RecordDamage(ctx, out.Damage); err != nil {
		out.Problems = append(out.Problems, "record damage: "+err.Error())
	}
	in := detectorInput(now, &out.Snapshot, est, out.Lag)
	out.Signals, out.Events = l.mon.Observe(in)
	l.recordSignals(ctx, out)
	if now.Sub(l.pruned) >= PruneInterval {
		l.prune(ctx, now, time.Duration(cfg.Store.Retention), out)
	}
	if now.Sub(l.saved) >= l.opts.SaveEvery {
		l.save(ctx, now)
	}
	return l.active(b.states(est, out.Signals), eff, out), nil
}

// active leaves out the states of frozen groups (listing each group once
// in the outcome) and, in a burst round, turns hysteresis off so that
// every change is written.
func (l *Loop) active(states []*limiter.State, eff overrides.Effective, out *Outcome) []*limiter.State {
	var active []*limiter.State
	for _, s := range states {
		if eff.Frozen[s.Group] {
			if s.Direction == config.Produce {
				out.Frozen = append(out.Frozen, s.Group)
			}
			continue
		}
		if l.burst {
			s.Options.Hysteresis = 0
		}
		active = append(active, s)
	}
	l.burst = false
	return active
}

// step plans, writes and records the active states through the
// controller, then reports the round: metrics, problems, the last
// outcome and OnRound.
func (l *Loop) step(ctx context.Context, began, now time.Time, eff overrides.Effective, active []*limiter.State, out Outcome) (Outcome, error) {
	l.writer.round, l.writer.pinned = out.Index, eff.Pins
	r, err := l.ctl.Step(ctx, now, active)
	l.index++
	out.Plans, out.Results = r.Plans, r.Results
	out.Duration = time.Since(began)
	l.metrics.observe(&out, err)
	if ctx.Err() == nil { // a round cut short by shutdown has nothing to report
		l.logProblems(&out)
	}
	l.last, l.hasLast = out, true
	if l.opts.OnRound != nil {
		l.opts.OnRound(out)
	}
	return out, err
}

// roundSeconds is the span the round's rates stand for: the time since the
// last round, at most two intervals (a round after a pause does not charge
// the pause's damage to the rates it sees now), the interval at first.
func (l *Loop) roundSeconds(now time.Time, interval time.Duration) float64 {
	span := interval
	if !l.lastAt.IsZero() {
		span = min(max(now.Sub(l.lastAt), 0), 2*interval)
	}
	l.lastAt = now
	return span.Seconds()
}

// prune deletes ledger, signal and damage rows older than the retention.
func (l *Loop) prune(ctx context.Context, now time.Time, retention time.Duration, o *Outcome) {
	if retention <= 0 {
		return
	}
	before := now.Add(-retention)
	if _, err := l.opts.Store.PruneLedger(ctx, before); err != nil {
		o.Problems = append(o.Problems, "prune ledger: "+err.Error())
		return
	}
	if _, err := l.opts.Store.PruneSignals(ctx, before); err != nil {
		o.Problems = append(o.Problems, "prune signals: "+err.Error())
		return
	}
	if _, err := l.opts.Store.PruneDamage(ctx, before); err != nil {
		o.Problems = append(o.Problems, "prune damage: "+err.Error())
		return
	}
	l.pruned = now
}

// recordSignals stores the round's forecasts, which the API and the Grafana
// plugin serve as the detector's baseline, bound and score.
func (l *Loop) recordSignals(ctx context.Context, o *Outcome) {
	if len(o.Signals.Forecasts) == 0 {
		return
	}
	es := make([]store.SignalEntry, 0, len(o.Signals.Forecasts))
	for _, f := range o.Signals.Forecasts {
		es = append(es, store.SignalEntry{At: o.Time, Project: f.Project, Direction: f.Direction.String(),
			Rate: f.Rate, Expected: f.Expected, Upper: f.Upper, Score: f.Score, State: f.State.String()})
	}
	if err := l.opts.Store.RecordSignals(ctx, es); err != nil {
		o.Problems = append(o.Problems, "record signals: "+err.Error())
	}
}

// multiWriter routes each change to the applier of its project's cluster.
type multiWriter struct {
	loop  *Loop
	route map[string]string // project -> cluster
	round int64
	// pinned are the round's pins (project -> direction -> quota): an
	// operator's exact values, written past the applier's hysteresis.
	pinned map[string]map[string]float64
}

// Apply implements control.Writer. Changes of one cluster are written
// together; a cluster that cannot be written fails its own changes only.
func (w *multiWriter) Apply(ctx context.Context, changes []applier.Change) ([]applier.Result, error) {
	byCluster := map[string][]applier.Change{}
	for _, ch := range changes {
		if _, ok := w.pinned[ch.Project][ch.Direction.String()]; ok {
			ch.Urgent = true
		}
		byCluster[w.route[ch.Project]] = append(byCluster[w.route[ch.Project]], ch)
	}
	var out []applier.Result
	for _, name := range slices.Sorted(maps.Keys(byCluster)) {
		chs := byCluster[name]
		c, ok := w.loop.conns[name]
		var res []applier.Result
		var err error
		if ok {
			res, err = w.apply(ctx, c, chs)
		} else {
			err = fmt.Errorf("no connection to cluster %q", name)
		}
		if err != nil {
			// Nothing of this cluster was written: every change is
			// recorded as failed, with the value in force kept.
			err = fmt.Errorf("cluster %s: %w", name, err)
			for _, ch := range chs {
				res = append(res, applier.Result{Change: ch, Outcome: applier.Failed, Before: math.NaN(), InForce: math.NaN(), Err: err})
			}
		}
		out = append(out, res...)
	}
	return out, nil
}

// apply writes one cluster's changes, after the gate's authorisation when
// there is one, and no longer than it allows.
func (w *multiWriter) apply(ctx context.Context, c *cluster, chs []applier.Change) ([]applier.Result, error) {
	g := w.loop.opts.Gate
	if g == nil || w.loop.cfg.Limiter.Mode == config.ModeShadow {
		return c.applier.Apply(ctx, chs)
	}
	h := sha256.New()
	for _, ch := range chs {
		fmt.Fprintf(h, "%s %s %s %g\n", c.conf.Name, ch.Project, ch.Direction, ch.Quota)
	}
	until, err := g.Authorize(ctx, w.round, hex.EncodeToString(h.Sum(nil))[:16])
	if err != nil {
		return nil, fmt.Errorf("not authorised to write: %w", err)
	}
	actx, cancel := context.WithDeadline(ctx, until)
	defer cancel()
	return c.applier.Apply(actx, chs)
}

// Resume reloads the detector's state from the store, which other
// replicas keep up to date: a replica that becomes active continues from
// it instead of from what it learnt when last active.
func (l *Loop) Resume() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.restore()
	// The ledger's numbering continues from the rounds other replicas
	// recorded.
	if next, err := l.opts.Store.NextRound(context.Background()); err == nil && next > l.index {
		l.index = next
		if l.ctl != nil {
			l.ctl.SetNextRound(next)
		}
	}
}

func projectClusters(cfg *config.Config) map[string]string {
	groups := map[string]string{}
	for _, g := range cfg.ResourceGroups {
		groups[g.Name] = g.Cluster
	}
	out := make(map[string]string, len(cfg.Projects))
	for _, p := range cfg.Projects {
		out[p.Name] = groups[p.Group]
	}
	return out
}

func brokerID(id int32) string { return strconv.Itoa(int(id)) }

// Held reads the client quotas a cluster holds now.
func (l *Loop) Held(ctx context.Context, cluster string) (map[config.Entity]map[string]float64, error) {
	l.mu.Lock()
	c, ok := l.conns[cluster]
	var a *applier.Applier
	var timeout time.Duration
	if ok {
		a, timeout = c.applier, c.conn.Timeout
	}
	l.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("unknown cluster %q", cluster)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return a.Describe(ctx)
}

// logProblems logs each of a round's problems when it appears and once
// more when it clears, so that a problem that lasts does not repeat in the
// log every round while the metric headroom_round_problems_total counts it.
func (l *Loop) logProblems(o *Outcome) {
	now := make(map[string]bool, len(o.Problems))
	for _, p := range o.Problems {
		if now[p] {
			continue
		}
		now[p] = true
		if !l.problems[p] {
			l.opts.Logger.Warn("round problem", "round", o.Index, "problem", p)
		}
	}
	for _, p := range slices.Sorted(maps.Keys(l.problems)) {
		if !now[p] {
			l.opts.Logger.Info("round problem cleared", "round", o.Index, "problem", p)
		}
	}
	l.problems = now
}
