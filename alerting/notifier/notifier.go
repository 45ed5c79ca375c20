// Package notifier sends Headroom's alerts to Prometheus Alertmanager through
// its v2 API, and manages silences there.
//
// Every Alertmanager (each member of an HA pair) gets its own bounded queue
// and sender loop, so one that is down never delays another. While an
// Alertmanager is unreachable its queue holds the alerts and the loop retries
// with backoff; nothing is lost within the queue's bound. Newer states of an
// alert replace older queued ones, so the bound counts distinct alerts.
//
// SetAlertmanagers changes the set at runtime (a configuration reload): an
// Alertmanager kept keeps its queue, a new one starts with an empty queue
// and gets every alert sent from then on (each member of an HA pair gets
// every alert; the firing ones reach a new member at their next resend), and
// a removed one's loop stops and its queue is dropped.
//
// It must not import the limiter, detector or collector.
package notifier

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	httptransport "github.com/go-openapi/runtime/client"
	"github.com/go-openapi/strfmt"
	amclient "github.com/prometheus/alertmanager/api/v2/client"
	"github.com/prometheus/alertmanager/api/v2/client/alert"
	"github.com/prometheus/alertmanager/api/v2/models"
	"github.com/prometheus/client_golang/prometheus"
	promconfig "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"

	"github.com/headroomhq/headroom/config"
)

// Alert is one alert as Headroom sends it. An alert whose EndsAt is in the
// past is resolved.
type Alert struct {
	Labels       map[string]string
	Annotations  map[string]string
	StartsAt     time.Time
	EndsAt       time.Time
	GeneratorURL string
}

// Fingerprint identifies the alert by its labels, as Alertmanager does.
func (a Alert) Fingerprint() model.Fingerprint {
	ls := make(model.LabelSet, len(a.Labels))
	for k, v := range a.Labels {
		ls[model.LabelName(k)] = model.LabelValue(v)
	}
	return ls.Fingerprint()
}

// Name returns the alertname label.
func (a Alert) Name() string { return a.Labels[model.AlertNameLabel] }

// Options configure a Notifier.
type Options struct {
	// Alertmanagers are base URLs, e.g. http://am-a:9093, each with the
	// HTTP client configuration (TLS, auth, proxy) to reach it.
	Alertmanagers []config.HTTPTarget
	// QueueCapacity bounds each Alertmanager's queue of distinct alerts.
	// When full, the oldest alert is dropped and counted. Default 10000.
	QueueCapacity int
	// MaxBatch is the most alerts per POST. Default 64.
	MaxBatch int
	// Timeout bounds each request. Default 10s.
	Timeout time.Duration
	// MinBackoff and MaxBackoff bound the retry delay, which doubles after
	// each failure. Defaults 100ms and 30s.
	MinBackoff, MaxBackoff time.Duration
	// Sleep waits for d or until ctx is done. Default: a timer. Tests inject
	// their own.
	Sleep func(ctx context.Context, d time.Duration) error
	// HTTPClient, when set, replaces every target's own client (tests).
	// Default: each target's client from its http_config.
	HTTPClient *http.Client
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

func (o *Options) applyDefaults() {
	if o.QueueCapacity <= 0 {
		o.QueueCapacity = 10000
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 64
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = 100 * time.Millisecond
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = max(30*time.Second, o.MinBackoff)
	}
	if o.Sleep == nil {
		o.Sleep = sleepContext
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

func sleepContext(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Notifier fans alerts out to every configured Alertmanager.
type Notifier struct {
	opts    Options
	metrics *metrics

	mu      sync.Mutex
	targets []*target       // in configuration order
	runCtx  context.Context // Run's context while it runs, else nil
	loops   sync.WaitGroup  // the targets' loops started by Run
}

type metrics struct {
	sent, failed, dropped *prometheus.CounterVec
	queued                *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "headroom_notifications_sent_total", Help: "Alerts delivered to an Alertmanager.",
		}, []string{"alertmanager"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "headroom_notification_errors_total", Help: "Failed attempts to post alerts to an Alertmanager; the alerts stay queued.",
		}, []string{"alertmanager"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "headroom_notifications_dropped_total", Help: "Alerts dropped because an Alertmanager's queue was full.",
		}, []string{"alertmanager"}),
		queued: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "headroom_notification_queue_length", Help: "Alerts waiting to be delivered to an Alertmanager.",
		}, []string{"alertmanager"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.sent, m.failed, m.dropped, m.queued} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("register notifier metrics: %w", err)
			}
		}
	}
	return m, nil
}

// New returns a notifier for the given Alertmanagers. Call Run to deliver.
func New(opts Options) (*Notifier, error) {
	opts.applyDefaults()
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	n := &Notifier{opts: opts, metrics: m}
	seen := map[string]bool{}
	for _, am := range opts.Alertmanagers {
		if seen[am.URL] {
			continue
		}
		seen[am.URL] = true
		t, err := n.newTarget(am)
		if err != nil {
			return nil, err
		}
		n.targets = append(n.targets, t)
	}
	return n, nil
}

// newTarget returns the queue and client for one Alertmanager. Its
// label and log field are the URL without user information or query, so
// that no credential reaches /metrics or a log line.
func (n *Notifier) newTarget(am config.HTTPTarget) (*target, error) {
	t := &target{
		url:   am.URL,
		label: config.RedactURL(am.URL),
		queue: newQueue(n.opts.QueueCapacity),
		wake:  make(chan struct{}, 1),
		n:     n,
	}
	t.logger = n.opts.Logger.With("alertmanager", t.label)
	if err := t.configure(am); err != nil {
		return nil, err
	}
	return t, nil
}

// configure builds t's client from am's http_config. Secrets in files
// (password_file, credentials_file, client_secret_file) are read on each
// request by the client, so a rotated file takes effect at once.
func (t *target) configure(am config.HTTPTarget) error {
	hc := t.n.opts.HTTPClient
	if hc == nil {
		var err error
		hc, err = promconfig.NewClientFromConfig(am.HTTPConfig, "alertmanager")
		if err != nil {
			return fmt.Errorf("alertmanager %s: http_config: %w", t.label, err)
		}
	}
	api, err := newAPI(am.URL, t.label, hc)
	if err != nil {
		return err
	}
	t.api.Store(api)
	t.cfg = am.HTTPConfig
	return nil
}

// SetAlertmanagers replaces the set of Alertmanagers. An Alertmanager in
// both sets keeps its queue and its loop; a new one starts with an empty
// queue; a removed one's loop is stopped before SetAlertmanagers returns,
// and the alerts still queued for it are dropped and logged. A URL listed
// twice counts once. If any URL is invalid nothing changes.
//
// An Alertmanager kept with a changed http_config keeps its queue and gets
// a new client. Queue capacity stays the one New was given.
func (n *Notifier) SetAlertmanagers(ams []config.HTTPTarget) error {
	n.mu.Lock()
	old := make(map[string]*target, len(n.targets))
	for _, t := range n.targets {
		old[t.url] = t
	}
	next := make([]*target, 0, len(ams))
	var added []*target
	seen := map[string]bool{}
	for _, am := range ams {
		if seen[am.URL] {
			continue
		}
		seen[am.URL] = true
		if t, ok := old[am.URL]; ok {
			if !reflect.DeepEqual(t.cfg, am.HTTPConfig) {
				if err := t.configure(am); err != nil {
					n.mu.Unlock()
					return fmt.Errorf("set alertmanagers: %w", err)
				}
				t.logger.Info("alertmanager http_config changed")
			}
			next = append(next, t)
			continue
		}
		t, err := n.newTarget(am)
		if err != nil {
			n.mu.Unlock()
			return fmt.Errorf("set alertmanagers: %w", err)
		}
		next = append(next, t)
		added = append(added, t)
	}
	var removed []*target
	for _, t := range n.targets {
		if !seen[t.url] {
			removed = append(removed, t)
		}
	}
	n.targets = next
	for _, t := range added {
		if n.runCtx != nil {
			n.start(t)
		}
		t.logger.Info("alertmanager added")
	}
	// Take the removed loops' handles under the lock that start and Run
	// set them under.
	stops := make([]func(), len(removed))
	for i, t := range removed {
		stops[i] = t.stopFunc()
	}
	n.mu.Unlock()

	for i, t := range removed {
		stops[i]()
		dropped := t.queue.len()
		n.metrics.queued.DeleteLabelValues(t.label)
		if dropped > 0 {
			t.logger.Warn("alertmanager removed; dropped the alerts queued for it", "dropped", dropped)
		} else {
			t.logger.Info("alertmanager removed", "dropped", 0)
		}
	}
	return nil
}

// start runs t's loop under Run's context. n.mu must be held and Run
// running.
func (n *Notifier) start(t *target) {
	ctx, cancel := context.WithCancel(n.runCtx)
	done := make(chan struct{})
	t.cancel, t.done = cancel, done
	n.loops.Add(1)
	go func() {
		defer n.loops.Done()
		defer close(done)
		t.run(ctx)
	}()
}

// Alertmanagers returns the URLs alerts are sent to, in order.
func (n *Notifier) Alertmanagers() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]string, len(n.targets))
	for i, t := range n.targets {
		out[i] = t.url
	}
	return out
}

// snapshot returns the current targets.
func (n *Notifier) snapshot() []*target {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.targets)
}

func newAPI(raw, label string, hc *http.Client) (*amclient.AlertmanagerAPI, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("alertmanager url %q: want http(s)://host:port", label)
	}
	transport := httptransport.NewWithClient(u.Host, joinURLPath(u.Path, "/api/v2/"), []string{u.Scheme}, hc)
	return amclient.New(transport, strfmt.Default), nil
}

func joinURLPath(base, p string) string {
	if base == "" || base == "/" {
		return p
	}
	for len(base) > 0 && base[len(base)-1] == '/' {
		base = base[:len(base)-1]
	}
	return base + p
}

// Send queues alerts for every Alertmanager. It never blocks on the
// network.
func (n *Notifier) Send(alerts ...Alert) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, t := range n.targets {
		dropped := t.queue.push(alerts)
		if dropped > 0 {
			n.metrics.dropped.WithLabelValues(t.label).Add(float64(dropped))
			t.logger.Warn("notification queue full; dropped the oldest alerts", "dropped", dropped)
		}
		n.metrics.queued.WithLabelValues(t.label).Set(float64(t.queue.len()))
		select {
		case t.wake <- struct{}{}:
		default:
		}
	}
}

// Pending returns the number of queued alerts per Alertmanager URL.
func (n *Notifier) Pending() map[string]int {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make(map[string]int, len(n.targets))
	for _, t := range n.targets {
		out[t.url] = t.queue.len()
	}
	return out
}

// Run delivers queued alerts until ctx is done, also while there is no
// Alertmanager, and to those SetAlertmanagers adds meanwhile. Call it once.
func (n *Notifier) Run(ctx context.Context) {
	n.mu.Lock()
	n.runCtx = ctx
	for _, t := range n.targets {
		n.start(t)
	}
	n.mu.Unlock()
	<-ctx.Done()
	n.mu.Lock()
	n.runCtx = nil // no loop starts after this, so the wait below is final
	for _, t := range n.targets {
		if t.cancel != nil {
			t.cancel()
		}
		t.cancel, t.done = nil, nil
	}
	n.mu.Unlock()
	n.loops.Wait()
}

type target struct {
	url    string
	label  string // url without credentials, for metrics and logs
	api    atomic.Pointer[amclient.AlertmanagerAPI]
	cfg    promconfig.HTTPClientConfig // what api was built from; under n.mu
	queue  *queue
	wake   chan struct{}
	n      *Notifier
	logger *slog.Logger

	// cancel and done, set under n.mu while Run runs, stop the loop and
	// tell when it stopped.
	cancel context.CancelFunc
	done   chan struct{}
}

// stopFunc returns what stops t's loop and waits until it has stopped; a
// no-op when it is not running. n.mu must be held.
func (t *target) stopFunc() func() {
	cancel, done := t.cancel, t.done
	t.cancel, t.done = nil, nil
	if cancel == nil {
		return func() {}
	}
	return func() { cancel(); <-done }
}

func (t *target) run(ctx context.Context) {
	backoff := t.n.opts.MinBackoff
	for {
		batch := t.queue.peek(t.n.opts.MaxBatch)
		if len(batch) == 0 {
			select {
			case <-ctx.Done():
				return
			case <-t.wake:
				continue
			}
		}
		if err := t.post(ctx, batch); err != nil {
			if ctx.Err() != nil {
				return
			}
			t.n.metrics.failed.WithLabelValues(t.label).Inc()
			t.logger.Warn("post alerts failed; will retry", "alerts", len(batch), "retry_in", backoff, "err", err)
			if t.n.opts.Sleep(ctx, backoff) != nil {
				return
			}
			backoff = min(backoff*2, t.n.opts.MaxBackoff)
			continue
		}
		backoff = t.n.opts.MinBackoff
		t.queue.ack(batch)
		t.n.metrics.sent.WithLabelValues(t.label).Add(float64(len(batch)))
		t.n.metrics.queued.WithLabelValues(t.label).Set(float64(t.queue.len()))
	}
}

func (t *target) post(ctx context.Context, batch []queued) error {
	ctx, cancel := context.WithTimeout(ctx, t.n.opts.Timeout)
	defer cancel()
	alerts := make(models.PostableAlerts, 0, len(batch))
	for _, q := range batch {
		alerts = append(alerts, toPostable(q.alert))
	}
	params := alert.NewPostAlertsParamsWithContext(ctx).WithAlerts(alerts)
	if _, err := t.api.Load().Alert.PostAlerts(params); err != nil {
		return fmt.Errorf("post %d alerts to %s: %w", len(batch), t.label, describe(err))
	}
	return nil
}

func toPostable(a Alert) *models.PostableAlert {
	labels := make(models.LabelSet, len(a.Labels))
	for k, v := range a.Labels {
		labels[k] = v
	}
	ann := make(models.LabelSet, len(a.Annotations))
	for k, v := range a.Annotations {
		ann[k] = v
	}
	p := &models.PostableAlert{
		Alert:       models.Alert{Labels: labels, GeneratorURL: strfmt.URI(a.GeneratorURL)},
		Annotations: ann,
	}
	if !a.StartsAt.IsZero() {
		p.StartsAt = strfmt.DateTime(a.StartsAt.UTC())
	}
	if !a.EndsAt.IsZero() {
		p.EndsAt = strfmt.DateTime(a.EndsAt.UTC())
	}
	return p
}

// describe unwraps the generated client's error types, whose default
// messages omit the server's explanation.
func describe(err error) error {
	var bad *alert.PostAlertsBadRequest
	if errors.As(err, &bad) {
		return fmt.Errorf("bad request: %s", bad.Payload)
	}
	var ise *alert.PostAlertsInternalServerError
	if errors.As(err, &ise) {
		return fmt.Errorf("internal server error: %s", ise.Payload)
	}
	return err
}
