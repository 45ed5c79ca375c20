// Package notifier sends Headroom's alerts to Prometheus Alertmanager through
// its v2 API, and manages silences there.
//
// Alerts go out through internal/outbox, with one destination per
// Alertmanager (each member of an HA pair), so one that is down never
// delays another. While an Alertmanager is unreachable its queue holds the
// alerts and the outbox retries with jittered backoff; nothing is lost
// within the queue's bound, and what a full queue drops is counted and
// logged. Newer states of an alert replace older queued ones, so the bound
// counts distinct alerts.
//
// SetAlertmanagers changes the set at runtime (a configuration reload): an
// Alertmanager kept keeps its queue, a new one starts with an empty queue
// and gets every alert sent from then on (each member of an HA pair gets
// every alert; the firing ones reach a new member at their next resend), and
// a removed one's loop stops and its queue is dropped, counted and logged.
//
// Silences are requests whose answer (the silence id) the caller needs at
// once, so they are not queued: they go to the same Alertmanagers, through
// the same clients, synchronously.
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
	"github.com/headroomhq/headroom/internal/clock"
	"github.com/headroomhq/headroom/internal/outbox"
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
func (a Alert) Fingerprint() model.Fingerprint { return labelSet(a.Labels).Fingerprint() }

// Name returns the alertname label.
func (a Alert) Name() string { return a.Labels[model.AlertNameLabel] }

// Options configure a Notifier.
type Options struct {
	// Alertmanagers are base URLs, e.g. http://am-a:9093, each with the
	// HTTP client configuration (TLS, auth, proxy) to reach it.
	Alertmanagers []config.HTTPTarget
	// QueueCapacity bounds each Alertmanager's queue of distinct alerts.
	// When full, the oldest alert is dropped, counted and logged. Default
	// 10000.
	QueueCapacity int
	// MaxBatch is the most alerts per POST. Default 64.
	MaxBatch int
	// Timeout bounds each request. Default 10s.
	Timeout time.Duration
	// MinBackoff and MaxBackoff bound the retry delay, which grows by
	// internal/retry's steps with jitter. Defaults 100ms and 30s.
	MinBackoff, MaxBackoff time.Duration
	// Clock times the waits between retries. Default clock.Real.
	Clock clock.Clock
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
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Metrics are the notifier's outbox metrics, labelled alertmanager.
var Metrics = outbox.MetricNames{
	Queued:  "headroom_notification_queue_length",
	Sent:    "headroom_notifications_sent_total",
	Failed:  "headroom_notification_errors_total",
	Retries: "headroom_notification_retries_total",
	Dropped: "headroom_notifications_dropped_total",
}

// Notifier fans alerts out to every configured Alertmanager.
type Notifier struct {
	opts Options
	out  *outbox.Outbox[Alert]

	mu      sync.Mutex
	targets []*target // in configuration order, as the outbox's destinations
}

// target is one Alertmanager's client.
type target struct {
	url   string
	label string // url without credentials, for metrics and logs
	api   *amclient.AlertmanagerAPI
	cfg   promconfig.HTTPClientConfig // what api was built from
}

// New returns a notifier for the given Alertmanagers. Call Run to deliver.
func New(opts Options) (*Notifier, error) {
	opts.applyDefaults()
	n := &Notifier{opts: opts}
	targets, err := n.targetsFor(opts.Alertmanagers)
	if err != nil {
		return nil, err
	}
	n.targets = targets
	n.out, err = outbox.New(outbox.Options[Alert]{
		Kind: "alertmanager", LabelName: "alertmanager", Metrics: Metrics,
		Capacity: opts.QueueCapacity, MaxBatch: opts.MaxBatch,
		Key:        func(a Alert) string { return a.Fingerprint().String() },
		Describe:   func(a Alert) string { return labelSet(a.Labels).String() },
		MinBackoff: opts.MinBackoff, MaxBackoff: opts.MaxBackoff, Clock: opts.Clock,
		Logger: opts.Logger, Registerer: opts.Registerer,
	}, n.destinations(targets))
	if err != nil {
		return nil, err
	}
	return n, nil
}

func labelSet(m map[string]string) model.LabelSet {
	ls := make(model.LabelSet, len(m))
	for k, v := range m {
		ls[model.LabelName(k)] = model.LabelValue(v)
	}
	return ls
}

// targetsFor returns a client per distinct URL of ams, in order: a URL
// already a target with the same http_config keeps its client. Its label
// and log field are the URL without user information or query, so that no
// credential reaches /metrics or a log line. Secrets in files
// (password_file, credentials_file, client_secret_file) are read on each
// request by the client, so a rotated file takes effect at once.
func (n *Notifier) targetsFor(ams []config.HTTPTarget) ([]*target, error) {
	old := make(map[string]*target, len(n.targets))
	for _, t := range n.targets {
		old[t.url] = t
	}
	var out []*target
	seen := map[string]bool{}
	for _, am := range ams {
		if seen[am.URL] {
			continue
		}
		seen[am.URL] = true
		if t, ok := old[am.URL]; ok && reflect.DeepEqual(t.cfg, am.HTTPConfig) {
			out = append(out, t)
			continue
		}
		t := &target{url: am.URL, label: config.RedactURL(am.URL), cfg: am.HTTPConfig}
		hc := n.opts.HTTPClient
		if hc == nil {
			var err error
			hc, err = promconfig.NewClientFromConfig(am.HTTPConfig, "alertmanager")
			if err != nil {
				return nil, fmt.Errorf("alertmanager %s: http_config: %w", t.label, err)
			}
		}
		api, err := newAPI(am.URL, t.label, hc)
		if err != nil {
			return nil, err
		}
		t.api = api
		out = append(out, t)
	}
	return out, nil
}

func (n *Notifier) destinations(targets []*target) []outbox.Destination[Alert] {
	out := make([]outbox.Destination[Alert], len(targets))
	for i, t := range targets {
		out[i] = outbox.Destination[Alert]{ID: t.url, Label: t.label,
			Deliver: func(ctx context.Context, batch []Alert) error { return n.post(ctx, t, batch) }}
	}
	return out
}

// SetAlertmanagers replaces the set of Alertmanagers. An Alertmanager in
// both sets keeps its queue and its loop; a new one starts with an empty
// queue; a removed one's loop is stopped before SetAlertmanagers returns,
// and the alerts still queued for it are dropped, counted and logged. A URL
// listed twice counts once. If any URL or http_config is invalid nothing
// changes.
//
// An Alertmanager kept with a changed http_config keeps its queue and gets
// a new client. Queue capacity stays the one New was given.
func (n *Notifier) SetAlertmanagers(ams []config.HTTPTarget) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	targets, err := n.targetsFor(ams)
	if err != nil {
		return fmt.Errorf("set alertmanagers: %w", err)
	}
	for _, old := range n.targets {
		for _, t := range targets {
			if t.url == old.url && t != old {
				n.opts.Logger.Info("alertmanager http_config changed", "alertmanager", t.label)
			}
		}
	}
	n.targets = targets
	n.out.SetDestinations(n.destinations(targets))
	return nil
}

// Alertmanagers returns the URLs alerts are sent to, in order.
func (n *Notifier) Alertmanagers() []string { return n.out.IDs() }

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
func (n *Notifier) Send(alerts ...Alert) { n.out.Push(alerts...) }

// Pending returns the number of queued alerts per Alertmanager URL.
func (n *Notifier) Pending() map[string]int { return n.out.Pending() }

// Run delivers queued alerts until ctx is done, also while there is no
// Alertmanager, and to those SetAlertmanagers adds meanwhile. Call it once.
func (n *Notifier) Run(ctx context.Context) { n.out.Run(ctx) }

func (n *Notifier) post(ctx context.Context, t *target, batch []Alert) error {
	ctx, cancel := context.WithTimeout(ctx, n.opts.Timeout)
	defer cancel()
	alerts := make(models.PostableAlerts, 0, len(batch))
	for _, a := range batch {
		alerts = append(alerts, toPostable(a))
	}
	params := alert.NewPostAlertsParamsWithContext(ctx).WithAlerts(alerts)
	if _, err := t.api.Alert.PostAlerts(params); err != nil {
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
