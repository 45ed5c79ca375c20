package collector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/discovery"
	"github.com/prometheus/prometheus/discovery/targetgroup"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/relabel"

	"github.com/headroomhq/headroom/config"
)

// InitialSyncWait bounds how long the first Reload waits for every
// discovery mechanism's first answer, so that the first round already
// scrapes discovered targets. A mechanism still silent after it (an
// unreachable Kubernetes API) joins later rounds when it answers.
const InitialSyncWait = 5 * time.Second

// Discovery holds the current target set: static targets plus those found
// by Prometheus service discovery (the discovery package's own mechanisms,
// run as Prometheus runs them) and relabelled by each block's rules.
//
// The mechanisms run in the background from the first Reload (or Start)
// until Close. Reload takes what they found since the last call; a
// mechanism that fails keeps its last good targets and its error is
// reported once by the next Reload. A discovered target that cannot be
// turned into a scrape target (no broker_id, an unknown broker) is left out
// and reported by every Reload while it is listed.
type Discovery struct {
	st      *sdState
	cleanup runtime.Cleanup
}

// sdRole says what a discovery block finds.
type sdRole int

const (
	roleAny    sdRole = iota // collector section: labels say everything
	roleBroker               // a resource group's brokers
	roleHost                 // a resource group's hosts
)

// sdBlock is one SDConfig with what its targets inherit.
type sdBlock struct {
	path    string // YAML path, for messages
	role    sdRole
	cluster string
	group   string
	brokers map[int32]bool // the group's listed broker ids
	profile string         // default profile
	relabel []*relabel.Config
	configs discovery.Configs
}

type provKey struct{ block, config int }

type sdState struct {
	static []Target
	blocks []sdBlock

	mu       sync.Mutex
	started  bool
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	groups   map[provKey]map[string]*targetgroup.Group // by the group's Source
	synced   map[provKey]bool
	events   []error // mechanisms' errors since the last Reload
	changed  bool
	notify   chan struct{} // closed on every update, then replaced
	targets  []Target      // as of the last Reload
	problems []error       // conversion problems as of the last Reload
}

// NewDiscovery returns a discovery over c's static targets and discovery
// blocks.
func NewDiscovery(c config.CollectorConfig) *Discovery {
	return NewDiscoveryFrom(StaticTargets(c), c)
}

// NewDiscoveryFrom is NewDiscovery with an explicit static list, e.g. from
// ConfigTargets. It runs the collector section's discovery blocks only;
// NewConfigDiscovery also runs the resource groups' blocks.
func NewDiscoveryFrom(static []Target, c config.CollectorConfig) *Discovery {
	return newDiscovery(static, collectorBlocks(c))
}

// NewConfigDiscovery returns the discovery of a whole configuration: the
// targets of ConfigTargets, the resource groups' discovered brokers and
// hosts, and the collector section's discovery blocks.
func NewConfigDiscovery(c *config.Config) *Discovery {
	var blocks []sdBlock
	for i, g := range c.ResourceGroups {
		if g.Discovery == nil {
			continue
		}
		cluster := g.Cluster
		if cluster == "" && len(c.Clusters) == 1 {
			cluster = c.Clusters[0].Name
		}
		ids := map[int32]bool{}
		for _, b := range g.Brokers {
			ids[b.ID] = true
		}
		for _, sd := range []struct {
			key     string
			role    sdRole
			profile string
			c       *config.SDConfig
		}{
			{"brokers", roleBroker, c.Collector.Profile, g.Discovery.Brokers},
			{"hosts", roleHost, config.ProfileNode, g.Discovery.Hosts},
		} {
			if sd.c == nil {
				continue
			}
			blocks = append(blocks, sdBlock{path: fmt.Sprintf("resource_groups[%d].discovery.%s", i, sd.key),
				role: sd.role, cluster: cluster, group: g.Name, brokers: ids, profile: sd.profile,
				relabel: sd.c.RelabelConfigs, configs: sd.c.Configs})
		}
	}
	return newDiscovery(ConfigTargets(c), append(blocks, collectorBlocks(c.Collector)...))
}

func collectorBlocks(c config.CollectorConfig) []sdBlock {
	var out []sdBlock
	for i, sd := range c.Discovery {
		out = append(out, sdBlock{path: fmt.Sprintf("collector.discovery[%d]", i), role: roleAny,
			profile: c.Profile, relabel: sd.RelabelConfigs, configs: sd.Configs})
	}
	return out
}

func newDiscovery(static []Target, blocks []sdBlock) *Discovery {
	st := &sdState{static: static, blocks: blocks, groups: map[provKey]map[string]*targetgroup.Group{},
		synced: map[provKey]bool{}, notify: make(chan struct{})}
	st.targets, st.problems = st.build()
	d := &Discovery{st: st}
	// A Discovery dropped without Close (replaced on a configuration
	// reload) still stops its mechanisms once it is collected. The cleanup
	// only cancels: it must not block the runtime's cleanup goroutine.
	d.cleanup = runtime.AddCleanup(d, func(st *sdState) { st.cancelRun() }, st)
	return d
}

// Start runs the discovery mechanisms until ctx ends or Close. It returns
// an error if a mechanism cannot be created (an in-cluster Kubernetes
// config outside a cluster, say); the others run anyway. Calling it again
// does nothing.
func (d *Discovery) Start(ctx context.Context) error {
	return d.st.start(ctx)
}

// Close stops the discovery mechanisms and waits for them to return.
func (d *Discovery) Close() {
	d.cleanup.Stop()
	d.st.stop()
}

// Updated returns a channel closed at the next update from any mechanism
// (new targets or an error).
func (d *Discovery) Updated() <-chan struct{} {
	d.st.mu.Lock()
	defer d.st.mu.Unlock()
	return d.st.notify
}

// WaitSynced waits until every mechanism has answered once (with targets
// or an error), or ctx ends.
func (d *Discovery) WaitSynced(ctx context.Context) error {
	st := d.st
	for {
		st.mu.Lock()
		n, ch := 0, st.notify
		for k := range st.synced {
			if st.synced[k] {
				n++
			}
		}
		total := len(st.synced)
		st.mu.Unlock()
		if n == total {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("target discovery: %d of %d mechanisms have not answered: %w", total-n, total, ctx.Err())
		}
	}
}

// Reload takes what the mechanisms found since the last call. It returns
// whether the target set may have changed and every problem met: the
// mechanisms' errors since the last call and the discovered targets that
// could not be used. The first call starts the mechanisms and waits up to
// InitialSyncWait for their first answers.
func (d *Discovery) Reload() (changed bool, errs []error) {
	st := d.st
	st.mu.Lock()
	first := !st.started
	st.mu.Unlock()
	if first {
		if err := st.start(context.Background()); err != nil {
			errs = append(errs, err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), InitialSyncWait)
		_ = d.WaitSynced(ctx) // a silent mechanism is not an error yet
		cancel()
	}
	st.mu.Lock()
	changed, st.changed = st.changed || first, false
	errs = append(errs, st.events...)
	st.events = nil
	if changed {
		st.targets, st.problems = st.build()
	}
	errs = append(errs, st.problems...)
	st.mu.Unlock()
	return changed, errs
}

// Targets returns the targets as of the last Reload, deduplicated by URL
// (a static target wins over a discovered one), sorted by URL.
func (d *Discovery) Targets() []Target {
	d.st.mu.Lock()
	defer d.st.mu.Unlock()
	return slices.Clone(d.st.targets)
}

func (st *sdState) start(ctx context.Context) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.started {
		return nil
	}
	st.started = true
	ctx, st.cancel = context.WithCancel(ctx)
	// The mechanisms' own metrics go to a private registry: Headroom
	// reports discovery through its problems and target metrics.
	reg := prometheus.NewRegistry()
	refresh := discovery.NewRefreshMetrics(reg)
	mechMetrics := map[string]discovery.DiscovererMetrics{}
	var errs []error
	for bi, b := range st.blocks {
		for ci, c := range b.configs {
			key := provKey{bi, ci}
			m, ok := mechMetrics[c.Name()]
			if !ok {
				m = c.NewDiscovererMetrics(reg, refresh)
				if err := m.Register(); err != nil {
					errs = append(errs, fmt.Errorf("target discovery %s: %s metrics: %w", b.path, c.Name(), err))
					continue
				}
				mechMetrics[c.Name()] = m
			}
			logger := slog.New(&eventHandler{st: st, key: key, prefix: fmt.Sprintf("target discovery %s (%s)", b.path, c.Name())})
			disc, err := c.NewDiscoverer(discovery.DiscovererOptions{Logger: logger, Metrics: m, SetName: b.path})
			if err != nil {
				errs = append(errs, fmt.Errorf("target discovery %s: %s: %w", b.path, c.Name(), err))
				continue
			}
			st.synced[key] = false
			ch := make(chan []*targetgroup.Group)
			st.wg.Go(func() { disc.Run(ctx, ch) })
			st.wg.Go(func() {
				for {
					select {
					case <-ctx.Done():
						return
					case tgs, ok := <-ch:
						if !ok { // the static mechanism closes its channel
							return
						}
						st.update(key, tgs)
					}
				}
			})
		}
	}
	return errors.Join(errs...)
}

// stop cancels the mechanisms and waits for them to return.
func (st *sdState) stop() {
	st.cancelRun()
	st.wg.Wait()
}

func (st *sdState) cancelRun() {
	st.mu.Lock()
	cancel := st.cancel
	st.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

func (st *sdState) update(key provKey, tgs []*targetgroup.Group) {
	st.mu.Lock()
	defer st.mu.Unlock()
	m := st.groups[key]
	if m == nil {
		m = map[string]*targetgroup.Group{}
		st.groups[key] = m
	}
	for _, tg := range tgs {
		if tg == nil {
			continue
		}
		if len(tg.Targets) == 0 { // an empty group removes its source
			delete(m, tg.Source)
			continue
		}
		m[tg.Source] = tg
	}
	st.synced[key] = true
	st.changed = true
	st.signal()
}

func (st *sdState) event(key provKey, err error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.events = append(st.events, err)
	st.synced[key] = true
	st.signal()
}

// signal wakes the waiters; st.mu is held.
func (st *sdState) signal() {
	close(st.notify)
	st.notify = make(chan struct{})
}

// build turns the static and discovered targets into the target list;
// st.mu is held (or st is not yet shared).
func (st *sdState) build() ([]Target, []error) {
	out := slices.Clone(st.static)
	var problems []error
	keys := make([]provKey, 0, len(st.groups))
	for k := range st.groups {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b provKey) int {
		if a.block != b.block {
			return a.block - b.block
		}
		return a.config - b.config
	})
	for _, k := range keys {
		b := &st.blocks[k.block]
		srcs := make([]string, 0, len(st.groups[k]))
		for s := range st.groups[k] {
			srcs = append(srcs, s)
		}
		slices.Sort(srcs)
		for _, s := range srcs {
			tg := st.groups[k][s]
			for _, tl := range tg.Targets {
				t, keep, err := b.target(tg.Labels, tl)
				if err != nil {
					problems = append(problems, fmt.Errorf("target discovery %s: target %s: %w", b.path, tl[model.AddressLabel], err))
					continue
				}
				if keep {
					out = append(out, t)
				}
			}
		}
	}
	slices.SortStableFunc(out, func(a, b Target) int { return strings.Compare(a.URL, b.URL) })
	return slices.CompactFunc(out, func(a, b Target) bool { return a.URL == b.URL }), problems
}

// target relabels one discovered target and makes it a scrape target. keep
// is false when a relabel rule dropped it.
func (b *sdBlock) target(group, target model.LabelSet) (t Target, keep bool, err error) {
	lb := labels.NewBuilder(labels.EmptyLabels())
	for n, v := range group {
		lb.Set(string(n), string(v))
	}
	for n, v := range target { // a target's labels win over its group's
		lb.Set(string(n), string(v))
	}
	if lb.Get(LabelScheme) == "" {
		lb.Set(LabelScheme, "http")
	}
	if lb.Get(LabelMetricsPath) == "" {
		lb.Set(LabelMetricsPath, "/metrics")
	}
	if !relabel.ProcessBuilder(lb, b.relabel...) {
		return Target{}, false, nil
	}
	addr := lb.Get(LabelAddress)
	if addr == "" {
		return Target{}, false, fmt.Errorf("no %s after relabelling", LabelAddress)
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return Target{}, false, fmt.Errorf("address %q: %w", addr, err)
	}
	scheme := lb.Get(LabelScheme)
	if scheme != "http" && scheme != "https" {
		return Target{}, false, fmt.Errorf("scheme %q is not http or https", scheme)
	}
	u := url.URL{Scheme: scheme, Host: addr, Path: lb.Get(LabelMetricsPath)}
	q := url.Values{}
	lb.Range(func(l labels.Label) {
		if name, ok := strings.CutPrefix(l.Name, LabelParamPrefix); ok {
			q.Set(name, l.Value)
		}
	})
	u.RawQuery = q.Encode()
	t = Target{URL: u.String(), Profile: cmpOr(lb.Get(LabelProfile), b.profile), Cluster: lb.Get(LabelCluster),
		BrokerID: lb.Get(LabelBrokerID), Host: lb.Get(LabelHost)}
	if _, err := ProfileByName(t.Profile); err != nil {
		return Target{}, false, err
	}
	if b.role == roleAny {
		return t, true, nil
	}
	// A resource group's targets are its brokers (and their hosts).
	if t.Cluster != "" && t.Cluster != b.cluster {
		return Target{}, false, fmt.Errorf("cluster label %q is not resource group %q's cluster %q", t.Cluster, b.group, b.cluster)
	}
	t.Cluster = b.cluster
	if t.BrokerID == "" {
		return Target{}, false, fmt.Errorf("no %s label after relabelling; add a relabel rule that sets it", LabelBrokerID)
	}
	id, err := strconv.ParseInt(t.BrokerID, 10, 32)
	if err != nil {
		return Target{}, false, fmt.Errorf("%s %q is not a Kafka node id", LabelBrokerID, t.BrokerID)
	}
	if !b.brokers[int32(id)] {
		return Target{}, false, fmt.Errorf("broker %d is not listed in resource group %q", id, b.group)
	}
	t.BrokerID = strconv.FormatInt(id, 10)
	return t, true, nil
}

// eventHandler is the log handler given to each mechanism: its warnings
// and errors become problems that Reload reports, and count as the
// mechanism's first answer.
type eventHandler struct {
	st     *sdState
	key    provKey
	prefix string
	attrs  []slog.Attr
}

func (h *eventHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }

func (h *eventHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(h.prefix + ": " + r.Message)
	add := func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	}
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(add)
	h.st.event(h.key, errors.New(b.String()))
	return nil
}

func (h *eventHandler) WithAttrs(as []slog.Attr) slog.Handler {
	n := *h
	n.attrs = append(slices.Clone(h.attrs), as...)
	return &n
}

func (h *eventHandler) WithGroup(string) slog.Handler { return h }
