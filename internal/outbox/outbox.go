// Package outbox is the one way Headroom sends things out of the process
// that must arrive even when the receiver is down for a while: alerts to
// every Alertmanager, lifecycle callbacks to every callback URL. A sender
// (the Alertmanager notifier, the callbacks) says what it sends and how one
// batch is delivered to one destination; the outbox owns the rest:
//
//   - one bounded queue and one delivery loop per destination, so that a
//     destination that is down never delays another;
//   - retries until delivery, waiting between attempts by internal/retry's
//     exponential backoff with jitter, on an injected clock;
//   - a full queue drops its oldest items, and says so: a metric counts
//     them and a log line names them (Options.Describe); nothing is lost
//     silently;
//   - items with the same key (Options.Key) replace each other in the
//     queue, so the bound counts distinct items and a newer state never
//     waits behind its own older copies;
//   - metrics per destination: queue length, items sent, failed attempts,
//     retries, items dropped. A destination's label is its Label, never its
//     ID, so that credentials in a URL never reach /metrics or a log line;
//   - reloads (SetDestinations): a destination kept (same ID) keeps its
//     queue and loop and takes the new Deliver; a new one starts empty and
//     gets what is pushed from then on; a removed one's loop stops before
//     SetDestinations returns, and what was still queued for it is dropped,
//     counted and logged. Dropping, not draining, because a removed
//     destination is one the operator no longer wants written to, and a
//     drain could block a reload behind a receiver that is down.
//
// It must not import any other package of Headroom than internal/retry and
// internal/clock: senders import it, not the other way round.
package outbox

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/headroomhq/headroom/internal/clock"
	"github.com/headroomhq/headroom/internal/retry"
)

// Destination is one receiver of a sender's items.
type Destination[T any] struct {
	// ID identifies the destination across SetDestinations, e.g. its URL.
	// It may hold credentials: it is never logged nor used as a label.
	ID string
	// Label names the destination in metrics and logs: the ID without
	// credentials (config.RedactURL).
	Label string
	// Deliver sends one batch, in queue order. Nil means every item of
	// the batch arrived; an error keeps the batch queued for a retry.
	Deliver func(ctx context.Context, batch []T) error
}

// MetricNames name the sender's metric families. Each has one label, the
// destination's Label, named Options.LabelName.
type MetricNames struct {
	Queued  string // gauge: items waiting
	Sent    string // counter: items delivered
	Failed  string // counter: failed delivery attempts
	Retries string // counter: attempts that retry a failed batch
	Dropped string // counter: items dropped (queue full, destination removed)
}

// Names returns the metric names headroom_<sender>_queue_length and
// headroom_<sender>_{sent,errors,retries,dropped}_total.
func Names(sender string) MetricNames {
	p := "headroom_" + sender + "_"
	return MetricNames{Queued: p + "queue_length", Sent: p + "sent_total", Failed: p + "errors_total",
		Retries: p + "retries_total", Dropped: p + "dropped_total"}
}

// Options configure an Outbox of items of type T.
type Options[T any] struct {
	// Kind says what a destination is in log messages, e.g.
	// "alertmanager" or "callback".
	Kind string
	// LabelName is the metric label and log attribute that carries a
	// destination's Label. Default "destination".
	LabelName string
	// Metrics names the metric families. Default Names(Kind).
	Metrics MetricNames
	// Capacity bounds each destination's queue. Default 1000.
	Capacity int
	// MaxBatch is the most items per Deliver call. Default 1.
	MaxBatch int
	// Key, when set, gives an item's identity: an item pushed while one
	// with the same non-empty key is queued replaces it in place.
	Key func(T) string
	// Describe, when set, names an item in the log line that reports it
	// dropped.
	Describe func(T) string
	// MinBackoff and MaxBackoff bound the wait between attempts, which
	// grows from MinBackoff by internal/retry's steps and jitter.
	// Defaults 100ms and 30s.
	MinBackoff, MaxBackoff time.Duration
	// Clock times the waits. Default clock.Real.
	Clock      clock.Clock
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

func (o *Options[T]) applyDefaults() {
	if o.LabelName == "" {
		o.LabelName = "destination"
	}
	if o.Metrics == (MetricNames{}) {
		o.Metrics = Names(o.Kind)
	}
	if o.Capacity <= 0 {
		o.Capacity = 1000
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 1
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = 100 * time.Millisecond
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = max(30*time.Second, o.MinBackoff)
	}
	o.Clock = clock.OrReal(o.Clock)
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Outbox queues items for every destination and delivers them.
type Outbox[T any] struct {
	opts    Options[T]
	metrics metrics

	mu     sync.Mutex
	dests  []*dest[T]      // in configuration order
	runCtx context.Context // Run's context while it runs, else nil
	loops  sync.WaitGroup  // the destinations' loops started by Run
}

type metrics struct {
	queued                         *prometheus.GaugeVec
	sent, failed, retries, dropped *prometheus.CounterVec
}

func newMetrics(kind, label string, n MetricNames, reg prometheus.Registerer) (metrics, error) {
	counter := func(name, help string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, []string{label})
	}
	m := metrics{
		queued: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: n.Queued,
			Help: fmt.Sprintf("Items waiting to be delivered to a %s.", kind)}, []string{label}),
		sent:    counter(n.Sent, fmt.Sprintf("Items delivered to a %s.", kind)),
		failed:  counter(n.Failed, fmt.Sprintf("Failed attempts to deliver to a %s; the items stay queued.", kind)),
		retries: counter(n.Retries, fmt.Sprintf("Attempts to deliver to a %s that retried a failed batch.", kind)),
		dropped: counter(n.Dropped, fmt.Sprintf("Items dropped for a %s: its queue was full, or it was removed.", kind)),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.queued, m.sent, m.failed, m.retries, m.dropped} {
			if err := reg.Register(c); err != nil {
				return m, fmt.Errorf("register %s outbox metrics: %w", kind, err)
			}
		}
	}
	return m, nil
}

// New returns an outbox delivering to dests. A destination ID listed twice
// counts once. Call Run to deliver.
func New[T any](opts Options[T], dests []Destination[T]) (*Outbox[T], error) {
	opts.applyDefaults()
	m, err := newMetrics(opts.Kind, opts.LabelName, opts.Metrics, opts.Registerer)
	if err != nil {
		return nil, err
	}
	o := &Outbox[T]{opts: opts, metrics: m}
	seen := map[string]bool{}
	for _, d := range dests {
		if !seen[d.ID] {
			seen[d.ID] = true
			o.dests = append(o.dests, o.newDest(d))
		}
	}
	return o, nil
}

// dest is one destination's queue and loop.
type dest[T any] struct {
	id, label string
	logger    *slog.Logger
	wake      chan struct{}

	mu      sync.Mutex
	q       *queue[T]
	deliver func(ctx context.Context, batch []T) error

	// cancel and done, set under Outbox.mu while Run runs, stop the loop
	// and tell when it stopped.
	cancel context.CancelFunc
	done   chan struct{}
}

func (o *Outbox[T]) newDest(d Destination[T]) *dest[T] {
	return &dest[T]{id: d.ID, label: d.Label, logger: o.opts.Logger.With(o.opts.LabelName, d.Label),
		wake: make(chan struct{}, 1), q: newQueue[T](o.opts.Capacity), deliver: d.Deliver}
}

// SetDestinations replaces the destinations (a configuration reload); see
// the package comment for what happens to their queues. An ID listed
// twice counts once.
func (o *Outbox[T]) SetDestinations(dests []Destination[T]) {
	o.mu.Lock()
	old := make(map[string]*dest[T], len(o.dests))
	for _, d := range o.dests {
		old[d.id] = d
	}
	next := make([]*dest[T], 0, len(dests))
	seen := map[string]bool{}
	for _, nd := range dests {
		if seen[nd.ID] {
			continue
		}
		seen[nd.ID] = true
		if d, ok := old[nd.ID]; ok {
			d.mu.Lock()
			d.deliver = nd.Deliver
			d.mu.Unlock()
			next = append(next, d)
			continue
		}
		d := o.newDest(nd)
		if o.runCtx != nil {
			o.start(d)
		}
		d.logger.Info(o.opts.Kind + " added")
		next = append(next, d)
	}
	var removed []*dest[T]
	var stops []func()
	for _, d := range o.dests {
		if !seen[d.id] {
			removed = append(removed, d)
			stops = append(stops, d.stopFunc())
		}
	}
	o.dests = next
	o.mu.Unlock()

	for i, d := range removed {
		stops[i]()
		d.mu.Lock()
		n := d.q.len()
		d.q = newQueue[T](o.opts.Capacity)
		d.mu.Unlock()
		o.metrics.queued.DeleteLabelValues(d.label)
		if n > 0 {
			o.metrics.dropped.WithLabelValues(d.label).Add(float64(n))
			d.logger.Warn(o.opts.Kind+" removed; dropped what was queued for it", "dropped", n)
		} else {
			d.logger.Info(o.opts.Kind+" removed", "dropped", 0)
		}
	}
}

// Push queues items for every destination. It never blocks on the
// network.
func (o *Outbox[T]) Push(items ...T) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, d := range o.dests {
		d.mu.Lock()
		dropped := d.q.push(o.opts.Key, items)
		n := d.q.len()
		d.mu.Unlock()
		if len(dropped) > 0 {
			o.metrics.dropped.WithLabelValues(d.label).Add(float64(len(dropped)))
			d.logger.Warn(o.opts.Kind+" queue full; dropped the oldest", "dropped", len(dropped), "items", o.describe(dropped))
		}
		o.metrics.queued.WithLabelValues(d.label).Set(float64(n))
		select {
		case d.wake <- struct{}{}:
		default:
		}
	}
}

// maxDescribed bounds how many dropped items one log line names.
const maxDescribed = 10

func (o *Outbox[T]) describe(items []T) []string {
	if o.opts.Describe == nil {
		return nil
	}
	out := make([]string, 0, min(len(items), maxDescribed+1))
	for i, it := range items {
		if i == maxDescribed {
			out = append(out, fmt.Sprintf("and %d more", len(items)-i))
			break
		}
		out = append(out, o.opts.Describe(it))
	}
	return out
}

// Pending returns the number of queued items per destination ID.
func (o *Outbox[T]) Pending() map[string]int {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make(map[string]int, len(o.dests))
	for _, d := range o.dests {
		d.mu.Lock()
		out[d.id] = d.q.len()
		d.mu.Unlock()
	}
	return out
}

// IDs returns the destinations' IDs in order.
func (o *Outbox[T]) IDs() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make([]string, len(o.dests))
	for i, d := range o.dests {
		out[i] = d.id
	}
	return slices.Clip(out)
}

// Run delivers until ctx is done, also while there is no destination, and
// to the destinations SetDestinations adds meanwhile. Call it once.
func (o *Outbox[T]) Run(ctx context.Context) {
	o.mu.Lock()
	o.runCtx = ctx
	for _, d := range o.dests {
		o.start(d)
	}
	o.mu.Unlock()
	<-ctx.Done()
	o.mu.Lock()
	o.runCtx = nil // no loop starts after this, so the wait below is final
	for _, d := range o.dests {
		if d.cancel != nil {
			d.cancel()
		}
		d.cancel, d.done = nil, nil
	}
	o.mu.Unlock()
	o.loops.Wait()
}

// start runs d's loop under Run's context. o.mu must be held and Run
// running.
func (o *Outbox[T]) start(d *dest[T]) {
	ctx, cancel := context.WithCancel(o.runCtx)
	done := make(chan struct{})
	d.cancel, d.done = cancel, done
	o.loops.Add(1)
	go func() {
		defer o.loops.Done()
		defer close(done)
		o.run(ctx, d)
	}()
}

// stopFunc returns what stops d's loop and waits until it has stopped; a
// no-op when it is not running. Outbox.mu must be held.
func (d *dest[T]) stopFunc() func() {
	cancel, done := d.cancel, d.done
	d.cancel, d.done = nil, nil
	if cancel == nil {
		return func() {}
	}
	return func() { cancel(); <-done }
}

// run delivers d's queue head first, a batch at a time, until ctx is done.
func (o *Outbox[T]) run(ctx context.Context, d *dest[T]) {
	backoff := retry.New(o.opts.MinBackoff, o.opts.MaxBackoff)
	retrying := false
	for {
		d.mu.Lock()
		batch := d.q.peek(o.opts.MaxBatch)
		deliver := d.deliver
		d.mu.Unlock()
		if len(batch) == 0 {
			select {
			case <-ctx.Done():
				return
			case <-d.wake:
				continue
			}
		}
		items := make([]T, len(batch))
		for i, e := range batch {
			items[i] = e.item
		}
		if retrying {
			o.metrics.retries.WithLabelValues(d.label).Inc()
		}
		if err := deliver(ctx, items); err != nil {
			if ctx.Err() != nil {
				return
			}
			o.metrics.failed.WithLabelValues(d.label).Inc()
			wait := backoff.Next()
			d.logger.Warn(o.opts.Kind+" delivery failed; will retry", "items", len(items), "retry_in", wait, "err", err)
			retrying = true
			if clock.Sleep(ctx, o.opts.Clock, wait) != nil {
				return
			}
			continue
		}
		retrying = false
		backoff.Reset()
		d.mu.Lock()
		d.q.ack(batch)
		n := d.q.len()
		d.mu.Unlock()
		o.metrics.sent.WithLabelValues(d.label).Add(float64(len(items)))
		o.metrics.queued.WithLabelValues(d.label).Set(float64(n))
	}
}
