package alerting

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/headroomhq/headroom/store"
)

// CallbackEvent is the JSON body an outbound callback receives on every
// lifecycle change of an incident.
type CallbackEvent struct {
	IncidentID  int64             `json:"incident_id"`
	AlertName   string            `json:"alert_name"`
	Fingerprint string            `json:"fingerprint"`
	Labels      map[string]string `json:"labels"`
	State       string            `json:"state"`
	Step        CallbackStep      `json:"step"`
}

// CallbackStep is the step that caused the callback.
type CallbackStep struct {
	At     time.Time `json:"at"`
	From   string    `json:"from"`
	To     string    `json:"to"`
	Actor  string    `json:"actor"`
	Action string    `json:"action"`
	Result string    `json:"result,omitempty"`
}

// CallbackOptions configure Callbacks.
type CallbackOptions struct {
	// URLs get a JSON POST per step (config alerting.callbacks).
	URLs []string
	// QueueCapacity bounds the steps waiting per URL; when full the oldest
	// is dropped and logged. Default 1000.
	QueueCapacity int
	// MinBackoff and MaxBackoff bound the retry delay. Defaults 100ms, 30s.
	MinBackoff, MaxBackoff time.Duration
	// Timeout bounds each POST. Default 10s.
	Timeout    time.Duration
	HTTPClient *http.Client
	// Sleep waits for d or until ctx is done; tests inject their own.
	Sleep  func(ctx context.Context, d time.Duration) error
	Logger *slog.Logger
}

// Callbacks posts lifecycle changes to the configured URLs. Each URL has
// its own bounded queue and delivery loop, retried with backoff until a 2xx
// answer, in order. Use Step as the engine's OnStep, and Run to deliver.
type Callbacks struct {
	opts    CallbackOptions
	targets []*callbackTarget
}

type callbackTarget struct {
	url  string
	mu   sync.Mutex
	q    [][]byte
	wake chan struct{}
}

// NewCallbacks returns the callbacks for opts.
func NewCallbacks(opts CallbackOptions) *Callbacks {
	if opts.QueueCapacity <= 0 {
		opts.QueueCapacity = 1000
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = 100 * time.Millisecond
	}
	if opts.MaxBackoff < opts.MinBackoff {
		opts.MaxBackoff = max(30*time.Second, opts.MinBackoff)
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{}
	}
	if opts.Sleep == nil {
		opts.Sleep = func(ctx context.Context, d time.Duration) error {
			t := time.NewTimer(d)
			defer t.Stop()
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-t.C:
				return nil
			}
		}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Callbacks{opts: opts}
	for _, u := range opts.URLs {
		c.targets = append(c.targets, &callbackTarget{url: u, wake: make(chan struct{}, 1)})
	}
	return c
}

// Step queues one lifecycle change for every URL. It never blocks on the
// network.
func (c *Callbacks) Step(in store.Incident, st store.IncidentStep) {
	body, err := json.Marshal(CallbackEvent{
		IncidentID: in.ID, AlertName: in.AlertName, Fingerprint: in.Fingerprint, Labels: in.Labels, State: in.State,
		Step: CallbackStep{At: st.At.UTC(), From: st.From, To: st.To, Actor: st.Actor, Action: st.Action, Result: st.Result},
	})
	if err != nil { // plain strings and times: cannot fail
		c.opts.Logger.Error("encode callback", "err", err)
		return
	}
	for _, t := range c.targets {
		t.mu.Lock()
		if len(t.q) >= c.opts.QueueCapacity {
			t.q = t.q[1:]
			c.opts.Logger.Warn("callback queue full; dropped the oldest step", "url", t.url)
		}
		t.q = append(t.q, body)
		t.mu.Unlock()
		select {
		case t.wake <- struct{}{}:
		default:
		}
	}
}

// Pending returns the queued steps per URL.
func (c *Callbacks) Pending() map[string]int {
	out := map[string]int{}
	for _, t := range c.targets {
		t.mu.Lock()
		out[t.url] = len(t.q)
		t.mu.Unlock()
	}
	return out
}

// Run delivers until ctx is done, also with no URL configured, so that it
// can run beside the other components of a process.
func (c *Callbacks) Run(ctx context.Context) {
	if len(c.targets) == 0 {
		<-ctx.Done()
		return
	}
	var wg sync.WaitGroup
	for _, t := range c.targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.run(ctx, t)
		}()
	}
	wg.Wait()
}

func (c *Callbacks) run(ctx context.Context, t *callbackTarget) {
	backoff := c.opts.MinBackoff
	for {
		t.mu.Lock()
		var body []byte
		if len(t.q) > 0 {
			body = t.q[0]
		}
		t.mu.Unlock()
		if body == nil {
			select {
			case <-ctx.Done():
				return
			case <-t.wake:
				continue
			}
		}
		if err := c.post(ctx, t.url, body); err != nil {
			if ctx.Err() != nil {
				return
			}
			c.opts.Logger.Warn("callback failed; will retry", "url", t.url, "retry_in", backoff, "err", err)
			if c.opts.Sleep(ctx, backoff) != nil {
				return
			}
			backoff = min(2*backoff, c.opts.MaxBackoff)
			continue
		}
		backoff = c.opts.MinBackoff
		t.mu.Lock()
		// Pop what was sent, unless a full queue dropped it meanwhile.
		if len(t.q) > 0 && &t.q[0][0] == &body[0] {
			t.q = t.q[1:]
		}
		t.mu.Unlock()
	}
}

func (c *Callbacks) post(ctx context.Context, url string, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("callback %s: %w", url, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.opts.HTTPClient.Do(req)
	if err != nil {
		return fmt.Errorf("callback %s: %w", url, err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("callback %s: status %s", url, resp.Status)
	}
	return nil
}
