// Package demo runs the newcomer's demonstration behind `headroom demo`: two
// lab clusters (real Kafka protocol, in process) replay the same scenario
// with the same load, one under Headroom's control plane (the real daemon,
// talking Kafka's client-quota API and scraping the lab's /metrics) and one
// with the static per-project quotas teams run today. A live table shows
// demand, served rate, quota and throttle time per project side by side;
// the summary compares the throttled bytes the two labs measured.
//
// It owns the demo's orchestration only; the cluster is package
// simulations/lab and the control plane package daemon.
package demo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/headroomhq/headroom/api"
	"github.com/headroomhq/headroom/daemon"
	"github.com/headroomhq/headroom/limiter"
	"github.com/headroomhq/headroom/round"
	"github.com/headroomhq/headroom/simulations/lab"
	"github.com/headroomhq/headroom/simulations/scenario"
	"github.com/headroomhq/headroom/simulations/scenarios"
)

// Options configure a demo run. The zero value plays the two-project case.
type Options struct {
	// ScenarioFile is the scenario to play; empty plays the embedded
	// vivo-two-projects case.
	ScenarioFile string
	// For ends the demo after this long; zero runs until ctx is done.
	For time.Duration
	// Scale multiplies every rate of the scenario. Default 0.05.
	Scale float64
	// Compression plays scenario time this many times faster than wall
	// time. Default 360 (an hour in ten seconds).
	Compression float64
	// Offset is the scenario time the demo starts at. Default 6h, just
	// before the first peak of the two-project case.
	Offset time.Duration
	// RoundInterval is Headroom's round. Default DefaultRound.
	RoundInterval time.Duration
	// ListenAddress is where Headroom serves its API and /metrics.
	// Default 127.0.0.1:9644, or a free port when that one is taken.
	ListenAddress string
	// Dir holds the generated configuration and the store. Default a
	// temporary directory, removed at the end.
	Dir string
	// Out receives the live view and the summary. Default os.Stdout.
	Out io.Writer
	// Redraw redraws the view in place (a terminal); otherwise a table is
	// printed every ten seconds.
	Redraw bool
	// NoPeers skips Alertmanager and Prometheus even when installed.
	NoPeers bool
	Logger  *slog.Logger
}

// ProjectSummary is one project's totals, in bytes.
type ProjectSummary struct {
	Name                       string
	Demanded                   float64
	ThrottledHeadroom, Static  float64
	PeakQuota, Share           float64
	BorrowedRounds, LentRounds int
	// LabHeadroom and LabStatic are each lab's brokers' own accounting of
	// what quota enforcement did to the project, produce and fetch (fetch
	// bytes refused, produce bytes delayed past the quota window).
	LabHeadroom, LabStatic lab.Enforced
}

// Summary is what a demo run measured.
type Summary struct {
	Scenario string
	Duration time.Duration
	Projects []ProjectSummary
	// Demanded, Headroom and Static are produce bytes: asked for, and not
	// served under Headroom and under static quotas.
	Demanded, Headroom, Static float64
	// LabHeadroom and LabStatic sum the projects' lab accounting.
	LabHeadroom, LabStatic lab.Enforced
	Rounds                 int
	Writes                 int
	// LedgerHeadroom and LedgerStatic are the damage ledger's produce
	// bytes over the run: Headroom's own estimate, from what its rounds
	// observed, of what it throttled and what the static shares would
	// have throttled (headroom_throttled_bytes_total).
	LedgerHeadroom, LedgerStatic float64
}

// LabReduction is Reduction on the brokers' own accounting of throttled
// bytes, produce and fetch together.
func (s Summary) LabReduction() float64 {
	if s.LabStatic.Bytes() <= 0 {
		return 0
	}
	return 1 - s.LabHeadroom.Bytes()/s.LabStatic.Bytes()
}

// Reduction is how much less Headroom throttled than static quotas, as a
// fraction (0.9 is 90% less). It is 0 when static throttled nothing.
func (s Summary) Reduction() float64 {
	if s.Static <= 0 {
		return 0
	}
	return 1 - s.Headroom/s.Static
}

// Line is the summary's one-line comparison.
func (s Summary) Line() string {
	return fmt.Sprintf("throttled bytes: headroom %s vs static %s (-%.1f%%)", bytes(s.Headroom), bytes(s.Static), 100*s.Reduction())
}

func (o *Options) defaults() {
	if o.Scale == 0 {
		o.Scale = 0.05
	}
	if o.Compression == 0 {
		o.Compression = 360
	}
	if o.Offset == 0 {
		o.Offset = 6 * time.Hour
	}
	if o.RoundInterval == 0 {
		o.RoundInterval = DefaultRound
	}
	if o.ListenAddress == "" {
		o.ListenAddress = "127.0.0.1:9644"
	}
	if o.Out == nil {
		o.Out = os.Stdout
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// LoadScenario reads a scenario file, or the embedded two-project case
// when path is empty.
func LoadScenario(path string) (*scenario.Scenario, error) {
	if path != "" {
		return scenario.Load(path)
	}
	b, err := scenarios.FS.ReadFile(scenarios.Vivo)
	if err != nil {
		return nil, fmt.Errorf("read embedded scenario %s: %w", scenarios.Vivo, err)
	}
	return scenario.Parse(b, ".")
}

// Run plays the demo until o.For has passed or ctx is done, and returns
// what it measured. The summary is also printed to o.Out.
func Run(ctx context.Context, o Options) (Summary, error) {
	o.defaults()
	if !(o.Scale > 0) || !(o.Compression > 0) {
		return Summary{}, fmt.Errorf("demo: scale and compression must be above zero, got %v and %v", o.Scale, o.Compression)
	}
	s, err := LoadScenario(o.ScenarioFile)
	if err != nil {
		return Summary{}, err
	}
	if o.For > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.For)
		defer cancel()
	}
	dir, removeDir, err := workDir(o.Dir)
	if err != nil {
		return Summary{}, err
	}
	defer removeDir()

	hlab, slab, err := startLabs(ctx, s, o)
	if err != nil {
		return Summary{}, err
	}
	defer hlab.Close()
	defer slab.Close()

	ln, err := listen(o.ListenAddress)
	if err != nil {
		return Summary{}, err
	}
	base := "http://" + ln.Addr().String()
	var peers alertPeers
	defer peers.stop()
	token := randomToken()
	cfgFile, err := prepareHeadroom(ctx, s, hlab, slab, o, &peers, dir, base, token)
	if err != nil {
		ln.Close()
		return Summary{}, err
	}

	v := newView(s, o, hlab, slab, base, token, cfgFile)
	v.peers = &peers
	hd := startDaemon(ctx, cfgFile, ln, o.Logger, v.round)
	hload, sload, err := startLoads(ctx, s, o, hlab, slab)
	if err != nil {
		hd.stop()
		return Summary{}, err
	}
	began := time.Now()
	v.header()
	runErr := v.watch(ctx, hd, hload, sload, began)

	hstats, sstats := hload.Stats(), sload.Stats()
	hload.Close()
	sload.Close()
	if err := hd.stop(); err != nil && runErr == nil && !errors.Is(err, context.Canceled) {
		runErr = fmt.Errorf("demo: headroom: %w", err)
	}
	sum := v.summary(time.Since(began), hstats, sstats)
	v.printSummary(sum)
	return sum, runErr
}

// workDir returns the directory for the generated configuration and the
// store: dir when set, else a new temporary directory that remove deletes.
func workDir(dir string) (path string, remove func(), err error) {
	if dir != "" {
		return dir, func() {}, nil
	}
	dir, err = os.MkdirTemp("", "headroom-demo-")
	if err != nil {
		return "", nil, fmt.Errorf("demo: %w", err)
	}
	return dir, func() { os.RemoveAll(dir) }, nil
}

// startLabs starts the two lab clusters of the scenario, identical: one
// for Headroom to control and one under static quotas.
func startLabs(ctx context.Context, s *scenario.Scenario, o Options) (hlab, slab *lab.Cluster, err error) {
	labCfg, err := lab.FromScenario(s, o.Scale)
	if err != nil {
		return nil, nil, err
	}
	labCfg.Logger = o.Logger.With("lab", "headroom")
	hlab, err = lab.Start(ctx, labCfg)
	if err != nil {
		return nil, nil, fmt.Errorf("demo: start the headroom lab: %w", err)
	}
	labCfg.Logger = o.Logger.With("lab", "static")
	slab, err = lab.Start(ctx, labCfg)
	if err != nil {
		hlab.Close()
		return nil, nil, fmt.Errorf("demo: start the static lab: %w", err)
	}
	return hlab, slab, nil
}

// listen opens Headroom's listener on addr, or on a free loopback port
// when addr is taken.
func listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("demo: listen: %w", err)
		}
	}
	return ln, nil
}

// prepareHeadroom starts the optional peers into peers (unless o.NoPeers)
// and writes Headroom's configuration for the Headroom lab to dir, served
// at base with the operator token; it returns the configuration file.
func prepareHeadroom(ctx context.Context, s *scenario.Scenario, hlab, slab *lab.Cluster, o Options, peers *alertPeers, dir, base, token string) (string, error) {
	if !o.NoPeers {
		am, tokenFile, err := startAlertmanager(ctx, dir, base, o.Logger)
		if err != nil {
			return "", err
		}
		peers.alertmanager, peers.webhookTokenFile = am, tokenFile
		peers.prometheus = startPrometheus(ctx, dir, base, urlList(hlab.MetricsURLs()), urlList(slab.MetricsURLs()), o.Logger)
	}
	co := ConfigOptions{RoundInterval: o.RoundInterval, StorePath: filepath.Join(dir, "headroom.db"),
		OperatorTokenSHA256: api.HashToken(token), ExternalURL: base}
	if peers.alertmanager != nil {
		co.Alertmanagers, co.WebhookTokenFile = []string{peers.alertmanager.url}, peers.webhookTokenFile
	}
	cfgText, err := Config(s, hlab, o.Scale, co)
	if err != nil {
		return "", err
	}
	cfgFile := filepath.Join(dir, "headroom.yml")
	if err := os.WriteFile(cfgFile, []byte(cfgText), 0o600); err != nil {
		return "", fmt.Errorf("demo: write config: %w", err)
	}
	return cfgFile, nil
}

// runningDaemon is Headroom's daemon running in the background.
type runningDaemon struct {
	cancel context.CancelFunc
	// done receives the daemon's error once; whoever takes it early puts
	// nil back, so that stop never blocks.
	done chan error
}

// startDaemon runs Headroom on cfgFile and ln until stop. It outlives
// ctx, so that the summary can still read it after the demo's time is up.
func startDaemon(ctx context.Context, cfgFile string, ln net.Listener, logger *slog.Logger, onRound func(round.Outcome)) *runningDaemon {
	dctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	d := &runningDaemon{cancel: cancel, done: make(chan error, 1)}
	go func() {
		d.done <- daemon.Run(dctx, daemon.Options{ConfigFile: cfgFile, Listener: ln, Grace: 2 * time.Second,
			Logger: logger.With("component", "headroom"), OnRound: onRound})
	}()
	return d
}

// stop stops the daemon and returns what it returned.
func (d *runningDaemon) stop() error {
	d.cancel()
	return <-d.done
}

// startLoads starts the scenario's load, the same on both labs, from
// o.Offset into the scenario.
func startLoads(ctx context.Context, s *scenario.Scenario, o Options, hlab, slab *lab.Cluster) (hload, sload *lab.Load, err error) {
	start := time.Now().Add(-time.Duration(float64(o.Offset) / o.Compression))
	demand := lab.ScenarioDemand(s, start, o.Compression, o.Scale)
	hload, err = lab.StartLoad(ctx, hlab, demand, lab.LoadOptions{})
	if err != nil {
		return nil, nil, fmt.Errorf("demo: load on the headroom lab: %w", err)
	}
	sload, err = lab.StartLoad(ctx, slab, demand, lab.LoadOptions{})
	if err != nil {
		hload.Close()
		return nil, nil, fmt.Errorf("demo: load on the static lab: %w", err)
	}
	return hload, sload, nil
}

// watch samples both labs' load every second and shows the table (every
// second with o.Redraw, else every ten) until ctx is done or the daemon
// stops; it returns the daemon's error in the latter case.
func (v *view) watch(ctx context.Context, hd *runningDaemon, hload, sload *lab.Load, began time.Time) error {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for n := 1; ; n++ {
		select {
		case <-ctx.Done():
			return nil
		case err := <-hd.done:
			hd.done <- nil
			return fmt.Errorf("demo: headroom stopped: %w", err)
		case now := <-t.C:
			v.sample(now, hload.Stats(), sload.Stats())
			if v.o.Redraw || n%10 == 0 {
				v.render(now.Sub(began))
			}
		}
	}
}

func urlList(m map[int32]string) []string {
	out := make([]string, 0, len(m))
	for _, u := range m {
		out = append(out, u)
	}
	sort.Strings(out)
	return out
}

func randomToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// view is the live table.
type view struct {
	s          *scenario.Scenario
	o          Options
	hlab, slab *lab.Cluster
	base       string
	token      string
	cfgFile    string
	peers      *alertPeers

	mu      sync.Mutex
	last    round.Outcome
	rounds  int
	writes  int
	peak    map[string]float64
	borrow  map[string]int
	lend    map[string]int
	prevH   map[string]lab.LoadStats
	prevS   map[string]lab.LoadStats
	prevAt  time.Time
	rates   map[string]rates
	started time.Time
	// ledgerH and ledgerS sum the damage ledger, produce bytes.
	ledgerH, ledgerS float64
}

type rates struct{ demand, servedH, servedS float64 }

func newView(s *scenario.Scenario, o Options, h, st *lab.Cluster, base, token, cfgFile string) *view {
	return &view{s: s, o: o, hlab: h, slab: st, base: base, token: token, cfgFile: cfgFile,
		peak: map[string]float64{}, borrow: map[string]int{}, lend: map[string]int{}, rates: map[string]rates{}, started: time.Now()}
}

// round receives every round's outcome from the daemon.
func (v *view) round(o round.Outcome) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.last = o
	v.rounds++
	for _, d := range o.Damage {
		if d.Direction == "produce" {
			v.ledgerH += d.HeadroomBytes
			v.ledgerS += d.StaticBytes
		}
	}
	for _, r := range o.Results {
		if r.Outcome == "written" {
			v.writes++
		}
	}
	for _, p := range o.Plans {
		if p.Direction.String() != "produce" {
			continue
		}
		for _, d := range p.Decisions {
			v.peak[d.Project] = max(v.peak[d.Project], d.After)
			if len(d.BorrowedFrom) > 0 {
				v.borrow[d.Project]++
			}
			if len(d.LentTo) > 0 {
				v.lend[d.Project]++
			}
		}
	}
}

func (v *view) sample(now time.Time, h, s []lab.LoadStats) {
	v.mu.Lock()
	defer v.mu.Unlock()
	hs, ss := byProject(h), byProject(s)
	if v.prevH != nil {
		dt := now.Sub(v.prevAt).Seconds()
		for name, st := range hs {
			p, q := v.prevH[name], v.prevS[name]
			cur := rates{demand: (st.Demanded - p.Demanded) / dt, servedH: (st.Produced - p.Produced) / dt,
				servedS: (ss[name].Produced - q.Produced) / dt}
			old, ok := v.rates[name]
			if ok { // smooth over a few seconds: acknowledgements come in batches
				cur = rates{0.5*old.demand + 0.5*cur.demand, 0.5*old.servedH + 0.5*cur.servedH, 0.5*old.servedS + 0.5*cur.servedS}
			}
			v.rates[name] = cur
		}
	}
	v.prevH, v.prevS, v.prevAt = hs, ss, now
}

func byProject(st []lab.LoadStats) map[string]lab.LoadStats {
	m := make(map[string]lab.LoadStats, len(st))
	for _, s := range st {
		m[s.Project] = s
	}
	return m
}

func (v *view) header() {
	fmt.Fprintf(v.o.Out, "Headroom demo: scenario %s at %g× scale, %g× time\n", v.s.Name, v.o.Scale, v.o.Compression)
	fmt.Fprintf(v.o.Out, "  API      %s/api/v1   (operator token %s)\n", v.base, v.token)
	fmt.Fprintf(v.o.Out, "  metrics  %s/metrics\n", v.base)
	fmt.Fprintf(v.o.Out, "  config   %s\n", v.cfgFile)
	fmt.Fprintf(v.o.Out, "  Kafka    %v (under Headroom)   %v (static quotas)\n", v.hlab.Bootstrap(), v.slab.Bootstrap())
	if v.peers != nil && v.peers.alertmanager != nil {
		fmt.Fprintf(v.o.Out, "  Alertmanager %s (routes to Headroom's webhook)\n", v.peers.alertmanager.url)
	}
	if v.peers != nil && v.peers.prometheus != nil {
		fmt.Fprintf(v.o.Out, "  Prometheus   %s (scrapes Headroom and both labs)\n", v.peers.prometheus.url)
	}
	fmt.Fprintln(v.o.Out)
}

func (v *view) render(elapsed time.Duration) {
	v.mu.Lock()
	defer v.mu.Unlock()
	w := v.o.Out
	if v.o.Redraw {
		fmt.Fprint(w, "\033[H\033[2J")
		v.mu.Unlock()
		v.header()
		v.mu.Lock()
	}
	clock := time.Duration(float64(elapsed)*v.o.Compression) + v.o.Offset
	clock %= 24 * time.Hour
	fmt.Fprintf(w, "%s elapsed, scenario clock %02d:%02d, round %d, %d quota writes\n", elapsed.Truncate(time.Second),
		int(clock.Hours()), int(clock.Minutes())%60, v.rounds, v.writes)
	fmt.Fprintf(w, "%-10s %11s │ %11s %11s %9s │ %11s %11s │ %s\n", "project", "demand", "served", "quota", "throttle", "static", "static quota", "why (Headroom)")
	quotas := v.hlab.Quotas()
	squotas := v.slab.Quotas()
	decisions := map[string]string{}
	throttle := map[string]float64{}
	for _, p := range v.last.Plans {
		if p.Direction.String() != "produce" {
			continue
		}
		for _, d := range p.Decisions {
			throttle[d.Project] = d.ThrottleMs
			decisions[d.Project] = why(d)
		}
	}
	for _, p := range v.hlab.Projects() {
		r := v.rates[p.Name]
		key := entityKey(p.User, p.ClientID)
		fmt.Fprintf(w, "%-10s %11s │ %11s %11s %7.0fms │ %11s %11s │ %s\n", p.Name, rateStr(r.demand), rateStr(r.servedH),
			rateStr(quotas[key][lab.KeyProducerByteRate]), throttle[p.Name], rateStr(r.servedS),
			rateStr(squotas[key][lab.KeyProducerByteRate]), decisions[p.Name])
	}
	fmt.Fprintln(w)
}

// why says in a few words why Headroom decided what it did: what the
// project borrows or lends, then the reasons that changed its quota without
// a transfer (a cut, a reclaim, a hold), so that no quota moves with an
// empty column.
func why(d limiter.Decision) string {
	out := transfers("borrows", "from", d.BorrowedFrom)
	if l := transfers("lends", "to", d.LentTo); l != "" {
		if out != "" {
			out += "; "
		}
		out += l
	}
	for _, r := range []struct {
		reason limiter.Reason
		words  string
	}{
		{limiter.ReasonReclaimed, "reclaimed by lenders"},
		{limiter.ReasonCutBelowDemand, "cut below demand"},
		{limiter.ReasonCutForSafety, "cut for safety"},
		{limiter.ReasonDemandFromThrottle, "throttled: demand from throttle time"},
		{limiter.ReasonHeldMissingData, "held: data missing"},
		{limiter.ReasonHeldBadInput, "held: bad input"},
	} {
		if d.Has(r.reason) {
			if out != "" {
				out += "; "
			}
			out += r.words
		}
	}
	if out == "" && d.Write {
		out = "within its share"
		if d.After > d.Share {
			out = "sized by its forecast"
		}
	}
	return out
}

func transfers(verb, prep string, ts []limiter.Transfer) string {
	if len(ts) == 0 {
		return ""
	}
	var total float64
	names := ""
	for i, t := range ts {
		total += t.Bytes
		if i < 2 {
			if names != "" {
				names += ", "
			}
			names += t.Project
		}
	}
	if len(ts) > 2 {
		names += fmt.Sprintf(" and %d more", len(ts)-2)
	}
	return fmt.Sprintf("%s %s %s %s", verb, rateStr(total), prep, names)
}

// entityKey is how the lab names a quota entity.
func entityKey(user, clientID string) string {
	switch {
	case user != "" && clientID != "":
		return "user=" + user + ",client-id=" + clientID
	case user != "":
		return "user=" + user
	}
	return "client-id=" + clientID
}

func rateStr(r float64) string { return bytes(r) + "/s" }

// bytes prints a byte count in decimal units.
func bytes(b float64) string {
	switch {
	case b >= 1e9:
		return fmt.Sprintf("%.2fGB", b/1e9)
	case b >= 1e6:
		return fmt.Sprintf("%.2fMB", b/1e6)
	case b >= 1e3:
		return fmt.Sprintf("%.1fkB", b/1e3)
	}
	return fmt.Sprintf("%.0fB", b)
}

func (v *view) summary(d time.Duration, h, s []lab.LoadStats) Summary {
	v.mu.Lock()
	defer v.mu.Unlock()
	sum := Summary{Scenario: v.s.Name, Duration: d, Rounds: v.rounds, Writes: v.writes, LedgerHeadroom: v.ledgerH, LedgerStatic: v.ledgerS}
	ss := byProject(s)
	shares := map[string]float64{}
	for _, p := range v.s.Projects {
		shares[p.Name] = float64(p.Produce.Share) * v.o.Scale
	}
	he, se := v.hlab.Enforcement(), v.slab.Enforcement()
	for _, st := range h {
		st2 := ss[st.Project]
		ps := ProjectSummary{Name: st.Project, Demanded: st.Demanded,
			ThrottledHeadroom: max(0, st.Demanded-st.Produced), Static: max(0, st2.Demanded-st2.Produced),
			PeakQuota: v.peak[st.Project], Share: shares[st.Project],
			BorrowedRounds: v.borrow[st.Project], LentRounds: v.lend[st.Project],
			LabHeadroom: he[st.Project], LabStatic: se[st.Project]}
		sum.Projects = append(sum.Projects, ps)
		sum.Demanded += ps.Demanded
		sum.Headroom += ps.ThrottledHeadroom
		sum.Static += ps.Static
		sum.LabHeadroom.Add(ps.LabHeadroom)
		sum.LabStatic.Add(ps.LabStatic)
	}
	return sum
}

func (v *view) printSummary(s Summary) {
	w := v.o.Out
	fmt.Fprintf(w, "\nSummary after %s (%d rounds, %d quota writes), produce bytes:\n", s.Duration.Truncate(time.Second), s.Rounds, s.Writes)
	fmt.Fprintf(w, "%-10s %12s %14s %14s %12s %12s %9s %9s\n", "project", "demanded", "throttled(hr)", "throttled(st)", "share", "peak quota", "borrowed", "lent")
	for _, p := range s.Projects {
		fmt.Fprintf(w, "%-10s %12s %14s %14s %12s %12s %8dr %8dr\n", p.Name, bytes(p.Demanded), bytes(p.ThrottledHeadroom), bytes(p.Static),
			rateStr(p.Share), rateStr(p.PeakQuota), p.BorrowedRounds, p.LentRounds)
	}
	fmt.Fprintln(w, s.Line())
	h, st := s.LabHeadroom, s.LabStatic
	fmt.Fprintf(w, "brokers' accounting, throttled bytes (produce delayed + fetch refused): headroom %s (%s + %s) vs static %s (%s + %s) (-%.1f%%)\n",
		bytes(h.Bytes()), bytes(h.Produce.Bytes()), bytes(h.Fetch.Bytes()), bytes(st.Bytes()), bytes(st.Produce.Bytes()), bytes(st.Fetch.Bytes()), 100*s.LabReduction())
	fmt.Fprintf(w, "damage ledger (Headroom's own estimate from its rounds), produce: headroom %s vs static %s\n", bytes(s.LedgerHeadroom), bytes(s.LedgerStatic))
}
