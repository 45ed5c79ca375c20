package lab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Cluster is a running lab cluster.
type Cluster struct {
	cfg     Config
	kf      *kfake.Cluster
	brokers []*brokerState
	quotas  *quotaTable

	// owners maps a topic name to its project; topicIDs maps topic ids
	// (used by newer produce and fetch versions) to names.
	owners     map[string]*Project
	idMu       sync.RWMutex
	topicIDs   map[[16]byte]string
	listenerMu sync.Mutex
	listeners  int

	servers     []*http.Server
	metricsURLs map[int32]string
	bootstrap   []string

	done      chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup
	// retentionDone is closed when the retention loop has returned; nil
	// until Start launches it.
	retentionDone chan struct{}
}

// Start starts a lab cluster: the brokers, each project's topic with its
// leaders placed, the initial quotas (through AlterClientQuotas, as any
// client would set them), enforcement and one metrics server per broker.
// The cluster runs until Close or until ctx is done.
func Start(ctx context.Context, cfg Config) (*Cluster, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("lab config: %w", err)
	}
	now := cfg.Now()
	c := &Cluster{
		cfg:         cfg,
		quotas:      newQuotaTable(),
		owners:      map[string]*Project{},
		topicIDs:    map[[16]byte]string{},
		metricsURLs: map[int32]string{},
		done:        make(chan struct{}),
	}
	for i := range cfg.Brokers {
		c.brokers = append(c.brokers, newBrokerState(int32(i), cfg.Window, now))
	}
	for i := range c.cfg.Projects {
		p := &c.cfg.Projects[i]
		c.owners[p.Topic] = p
		for _, l := range p.Leaders {
			c.brokers[l].leaders++
		}
	}

	opts := []kfake.Opt{
		kfake.NumBrokers(cfg.Brokers),
		kfake.ClusterID("headroom-lab"),
		kfake.ListenFn(c.listen),
	}
	if len(cfg.KafkaPorts) > 0 {
		opts = append(opts, kfake.Ports(cfg.KafkaPorts...))
	}
	kf, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("start lab brokers: %w", err)
	}
	c.kf = kf
	c.bootstrap = kf.ListenAddrs()
	kf.ControlKey(int16(kmsg.Produce), c.controlProduce)
	kf.ControlKey(int16(kmsg.Fetch), c.controlFetch)
	kf.ControlKey(int16(kmsg.AlterClientQuotas), c.controlAlterQuotas)

	if err := c.setup(ctx); err != nil {
		c.Close()
		return nil, err
	}
	if err := c.serveMetrics(); err != nil {
		c.Close()
		return nil, err
	}
	c.retentionDone = make(chan struct{}) // before stop can run on ctx
	c.wg.Add(2)
	go func() {
		defer c.wg.Done()
		select {
		case <-ctx.Done():
			c.stop()
		case <-c.done:
		}
	}()
	go func() {
		defer c.wg.Done()
		defer close(c.retentionDone)
		c.applyRetention()
	}()
	return c, nil
}

// listen creates broker listeners for kfake, in node order, wrapped so that
// produce and fetch traffic is measured and client quotas are enforced on
// it (see wireListener).
func (c *Cluster) listen(network, addr string) (net.Listener, error) {
	ln, err := net.Listen(network, addr)
	if err != nil {
		return nil, err
	}
	c.listenerMu.Lock()
	node := c.listeners
	c.listeners++
	c.listenerMu.Unlock()
	return &wireListener{Listener: ln, c: c, b: c.brokers[node]}, nil
}

func (c *Cluster) setup(ctx context.Context) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.bootstrap...), kgo.ClientID("headroom-lab-setup"))
	if err != nil {
		return fmt.Errorf("lab setup client: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	for _, p := range c.cfg.Projects {
		if err := c.createTopic(ctx, adm, p.Topic, p.Leaders); err != nil {
			return fmt.Errorf("project %s: %w", p.Name, err)
		}
	}
	if err := c.learnTopicIDs(ctx, adm); err != nil {
		return err
	}

	var entries []kadm.AlterClientQuotaEntry
	for _, p := range c.cfg.Projects {
		var ops []kadm.AlterClientQuotaOp
		if p.Quota.Produce > 0 {
			ops = append(ops, kadm.AlterClientQuotaOp{Key: KeyProducerByteRate, Value: float64(int64(p.Quota.Produce))})
		}
		if p.Quota.Fetch > 0 {
			ops = append(ops, kadm.AlterClientQuotaOp{Key: KeyConsumerByteRate, Value: float64(int64(p.Quota.Fetch))})
		}
		if len(ops) > 0 {
			entries = append(entries, kadm.AlterClientQuotaEntry{Entity: p.Entity(), Ops: ops})
		}
	}
	if len(entries) > 0 {
		res, err := adm.AlterClientQuotas(ctx, entries)
		if err != nil {
			return fmt.Errorf("set initial quotas: %w", err)
		}
		for _, r := range res {
			if r.Err != nil {
				return fmt.Errorf("set initial quota of %v: %w (%s)", r.Entity, r.Err, r.ErrMessage)
			}
		}
	}
	return nil
}

// createTopic creates a topic with one partition per leader, each led by
// its broker, and the lab's retention.
func (c *Cluster) createTopic(ctx context.Context, adm *kadm.Client, name string, leaders []int32) error {
	var configs map[string]*string
	if c.cfg.RetentionBytes > 0 {
		configs = map[string]*string{"retention.bytes": kmsg.StringPtr(strconv.FormatInt(c.cfg.RetentionBytes, 10))}
	}
	resp, err := adm.CreateTopic(ctx, int32(len(leaders)), 1, configs, name)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		return fmt.Errorf("create topic %s: %w", name, err)
	}
	for part, l := range leaders {
		if err := c.kf.MoveTopicPartition(name, int32(part), l); err != nil {
			return fmt.Errorf("place partition %s/%d on broker %d: %w", name, part, l, err)
		}
	}
	return nil
}

// learnTopicIDs records the id of every topic, for the produce and fetch
// versions that name topics by id.
func (c *Cluster) learnTopicIDs(ctx context.Context, adm *kadm.Client) error {
	topics, err := adm.ListTopics(ctx)
	if err != nil {
		return fmt.Errorf("list lab topics: %w", err)
	}
	c.idMu.Lock()
	for _, t := range topics {
		c.topicIDs[t.ID] = t.Topic
	}
	c.idMu.Unlock()
	return nil
}

// CreateTopic creates a topic no project owns, with one partition per
// leader, each led by its broker: the topic of traffic that is no
// project's, such as a mirror's. Its bytes count in the brokers' topic and
// total metrics, and are charged to the client id of each request (see
// Config.Projects for a project's topic).
func (c *Cluster) CreateTopic(ctx context.Context, name string, leaders []int32) error {
	if c.owners[name] != nil {
		return fmt.Errorf("create topic %s: it is project %s's", name, c.owners[name].Name)
	}
	if len(leaders) == 0 {
		return fmt.Errorf("create topic %s: at least one partition is required", name)
	}
	for k, l := range leaders {
		if l < 0 || int(l) >= len(c.brokers) {
			return fmt.Errorf("create topic %s: leaders[%d]: no broker %d", name, k, l)
		}
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.bootstrap...), kgo.ClientID("headroom-lab-setup"))
	if err != nil {
		return fmt.Errorf("create topic %s: %w", name, err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if err := c.createTopic(ctx, adm, name, leaders); err != nil {
		return err
	}
	for _, l := range leaders {
		b := c.brokers[l]
		b.mu.Lock()
		b.leaders++
		b.mu.Unlock()
	}
	return c.learnTopicIDs(ctx, adm)
}

// Entity is the project's quota entity as kadm spells it: user+client-id
// when a user is set, else client-id.
func (p Project) Entity() kadm.ClientQuotaEntity {
	var e kadm.ClientQuotaEntity
	if p.User != "" {
		e = append(e, kadm.ClientQuotaEntityComponent{Type: "user", Name: kmsg.StringPtr(p.User)})
	}
	return append(e, kadm.ClientQuotaEntityComponent{Type: "client-id", Name: kmsg.StringPtr(p.ClientID)})
}

func (c *Cluster) serveMetrics() error {
	for i, b := range c.brokers {
		addr := "127.0.0.1:0"
		if len(c.cfg.MetricsAddrs) > 0 {
			addr = c.cfg.MetricsAddrs[i]
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("listen for metrics of broker %d on %s: %w", b.id, addr, err)
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", c.metricsHandler(b))
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		c.servers = append(c.servers, srv)
		c.metricsURLs[b.id] = "http://" + ln.Addr().String() + "/metrics"
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				c.cfg.Logger.Error("lab metrics server failed", "broker", b.id, "err", err)
			}
		}()
	}
	return nil
}

// Bootstrap returns the brokers' Kafka addresses (host:port), node order.
func (c *Cluster) Bootstrap() []string { return append([]string(nil), c.bootstrap...) }

// MetricsURLs returns each broker's metrics URL by node id.
func (c *Cluster) MetricsURLs() map[int32]string {
	out := make(map[int32]string, len(c.metricsURLs))
	for k, v := range c.metricsURLs {
		out[k] = v
	}
	return out
}

// Addresses is what `headroom lab --addresses-file` writes.
type Addresses struct {
	Bootstrap []string          `json:"bootstrap"`
	Metrics   map[string]string `json:"metrics"`
}

// Addresses returns the bootstrap servers and metrics URLs keyed by the
// node id as a string.
func (c *Cluster) Addresses() Addresses {
	a := Addresses{Bootstrap: c.Bootstrap(), Metrics: map[string]string{}}
	for id, u := range c.metricsURLs {
		a.Metrics[strconv.Itoa(int(id))] = u
	}
	return a
}

// Projects returns the projects with defaults applied.
func (c *Cluster) Projects() []Project { return append([]Project(nil), c.cfg.Projects...) }

// Quotas lists the quotas the cluster enforces, by entity
// ("client-id=a", "user=u,client-id=<default>") and key.
func (c *Cluster) Quotas() map[string]map[string]float64 { return c.quotas.snapshot() }

// Close stops the metrics servers and the brokers. It is safe to call more
// than once.
func (c *Cluster) Close() {
	c.stop()
	c.wg.Wait()
}

func (c *Cluster) stop() {
	c.closeOnce.Do(func() {
		close(c.done) // ends every mute and held response
		for _, s := range c.servers {
			_ = s.Close()
		}
		// kfake's admin calls block for ever once it is closed: the
		// retention loop must be out of ApplyRetention first.
		if c.retentionDone != nil { // nil when Start failed before the loop
			select {
			case <-c.retentionDone:
			case <-time.After(10 * time.Second):
			}
		}
		c.kf.Close()
	})
}

// controlProduce is the produce hook: it counts the request's record bytes
// and records on the receiving broker's topic metrics. Quotas are enforced
// on the connection, when the response is written (see wireListener).
func (c *Cluster) controlProduce(kreq kmsg.Request) (kmsg.Response, error, bool) {
	c.kf.KeepControl()
	node := c.kf.CurrentNode()
	req, ok := kreq.(*kmsg.ProduceRequest)
	if !ok || node < 0 || int(node) >= len(c.brokers) {
		return nil, nil, false
	}
	b := c.brokers[node]
	now := c.cfg.Now()
	var total float64
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, t := range req.Topics {
		name := t.Topic
		if name == "" {
			name = c.topicName(t.TopicID)
		}
		var tb, tm float64
		for _, p := range t.Partitions {
			tb += float64(len(p.Records))
			tm += float64(countRecords(p.Records))
		}
		// A topic created after the lab started (Headroom's own internal
		// topics, say) has an id the lab does not know: it counts in the
		// broker's totals only, not as a series with an empty topic label.
		if name != "" {
			tc := b.topic(name, now)
			tc.produceRequests++
			tc.bytesIn += tb
			tc.in.record(tb, now)
			tc.messagesIn += tm
		}
		b.total.bytesIn += tb
		b.total.messagesIn += tm
		total += tb
	}
	b.total.produceRequests++
	b.in.record(total, now)
	return nil, nil, false
}

// controlFetch caps a consumer's fetch at what its quota allows in the
// window, (quota.window.num − 1) × quota.window.size × quota, as Kafka
// caps a fetch's max bytes: a response larger than that would be refused
// every time it is fetched again.
func (c *Cluster) controlFetch(kreq kmsg.Request) (kmsg.Response, error, bool) {
	c.kf.KeepControl()
	req, ok := kreq.(*kmsg.FetchRequest)
	if !ok || req.ReplicaID >= 0 || c.cfg.DisableEnforcement {
		return nil, nil, false
	}
	capBytes := float64(req.MaxBytes)
	for _, t := range req.Topics {
		name := t.Topic
		if name == "" {
			name = c.topicName(t.TopicID)
		}
		p := c.owners[name]
		if p == nil {
			continue
		}
		if q, ok := c.quotas.resolve(p.User, p.ClientID, KeyConsumerByteRate); ok {
			capBytes = min(capBytes, q.bound*float64(c.cfg.Window.Samples-1)*c.cfg.Window.SampleWindow.Seconds())
		}
	}
	if capBytes < float64(req.MaxBytes) {
		req.MaxBytes = int32(max(1, capBytes))
	}
	return nil, nil, false
}

// retentionInterval is how often the lab trims logs to retention.bytes.
const retentionInterval = time.Second

func (c *Cluster) applyRetention() {
	if c.cfg.RetentionBytes <= 0 {
		return
	}
	t := time.NewTicker(retentionInterval)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
			c.kf.ApplyRetention()
		}
	}
}

func (c *Cluster) topicName(id [16]byte) string {
	c.idMu.RLock()
	defer c.idMu.RUnlock()
	return c.topicIDs[id]
}

// controlAlterQuotas validates AlterClientQuotas as Kafka does. A request
// with an invalid entry is answered here and changes nothing; a valid one is
// mirrored into the enforcement table and then stored by kfake as usual.
func (c *Cluster) controlAlterQuotas(kreq kmsg.Request) (kmsg.Response, error, bool) {
	c.kf.KeepControl()
	req, ok := kreq.(*kmsg.AlterClientQuotasRequest)
	if !ok {
		return nil, nil, false
	}
	errs, ents, isIP := validateAlter(req)
	for _, err := range errs {
		if err != nil {
			c.cfg.Logger.Info("lab rejected AlterClientQuotas", "err", err)
			return rejectAlter(req, errs), nil, true
		}
	}
	if !req.ValidateOnly {
		c.quotas.apply(req, ents, isIP)
		for i, e := range req.Entries {
			for _, op := range e.Ops {
				c.cfg.Logger.Debug("lab applied a client quota", "entity", ents[i].String(), "key", op.Key, "value", op.Value, "remove", op.Remove)
			}
		}
	}
	return nil, nil, false
}

// countRecords sums the record counts of the record batches in b (magic 2;
// older message sets count as one record per batch found).
func countRecords(b []byte) int {
	n := 0
	for len(b) >= 61 {
		length := int(int32(uint32(b[8])<<24 | uint32(b[9])<<16 | uint32(b[10])<<8 | uint32(b[11])))
		if length <= 0 || 12+length > len(b) {
			break
		}
		if b[16] == 2 {
			n += int(int32(uint32(b[57])<<24 | uint32(b[58])<<16 | uint32(b[59])<<8 | uint32(b[60])))
		} else {
			n++
		}
		b = b[12+length:]
	}
	return n
}

// sortedTopics returns the topic names of b in order; b.mu must be held.
func (b *brokerState) sortedTopics() []string {
	out := make([]string, 0, len(b.topics))
	for t := range b.topics {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}
