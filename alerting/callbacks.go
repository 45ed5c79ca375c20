package alerting

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"sync"
	"time"

	promconfig "github.com/prometheus/common/config"

	"github.com/headroomhq/headroom/config"
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

// SignatureHeader carries "sha256=" and the hex HMAC-SHA256 of a callback's
// body, keyed with the callback's secret_file.
const SignatureHeader = "X-Headroom-Signature-256"

// Sign returns the SignatureHeader value of body under key.
func Sign(key, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// CallbackOptions configure Callbacks.
type CallbackOptions struct {
	// URLs get a JSON POST per step (config alerting.callbacks), each with
	// its HTTP client configuration and signing secret.
	URLs []config.CallbackConfig
	// QueueCapacity bounds the steps waiting per URL; when full the oldest
	// is dropped and logged. Default 1000.
	QueueCapacity int
	// MinBackoff and MaxBackoff bound the retry delay. Defaults 100ms, 30s.
	MinBackoff, MaxBackoff time.Duration
	// Timeout bounds each POST. Default 10s.
	Timeout time.Duration
	// HTTPClient, when set, replaces every callback's own client (tests).
	HTTPClient *http.Client
	// Sleep waits for d or until ctx is done; tests inject their own.
	Sleep  func(ctx context.Context, d time.Duration) error
	Logger *slog.Logger
}

// Callbacks posts lifecycle changes to the configured URLs. Each URL has
// its own bounded queue and delivery loop, retried with backoff until a 2xx
// answer, in order. Use Step as the engine's OnStep, and Run to deliver;
// SetURLs changes the URLs while it runs.
type Callbacks struct {
	opts CallbackOptions

	mu      sync.Mutex
	targets []*callbackTarget // in configuration order
	runCtx  context.Context   // Run's context while it runs, else nil
	loops   sync.WaitGroup    // the targets' loops started by Run
}

type callbackTarget struct {
	url   string
	label string // url without credentials, for logs
	mu    sync.Mutex
	q     [][]byte
	wake  chan struct{}

	// client and key are what the target sends with; blocked, when set,
	// says why it sends nothing. All change under mu.
	client  *http.Client
	key     []byte // nil: unsigned
	blocked error

	// cancel and done, set under Callbacks.mu while Run runs, stop the
	// loop and tell when it stopped.
	cancel context.CancelFunc
	done   chan struct{}
}

// NewCallbacks returns the callbacks for opts. A URL listed twice gets
// each step once.
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
	seen := map[string]bool{}
	for _, u := range opts.URLs {
		if !seen[u.URL] {
			seen[u.URL] = true
			c.targets = append(c.targets, c.newCallbackTarget(u))
		}
	}
	return c
}

func (c *Callbacks) newCallbackTarget(cb config.CallbackConfig) *callbackTarget {
	t := &callbackTarget{url: cb.URL, label: config.RedactURL(cb.URL), wake: make(chan struct{}, 1)}
	c.configure(t, cb, true)
	return t
}

// configure (re)builds t's client and reads its signing key. On a reload
// (fresh false), a client configuration that fails keeps the previous
// client, and a key file that cannot be read keeps the previous key; both
// are logged. A target left without a usable client or key sends nothing,
// rather than sending unsigned, until a reload fixes it.
func (c *Callbacks) configure(t *callbackTarget, cb config.CallbackConfig, fresh bool) {
	client := c.opts.HTTPClient
	var clientErr error
	if client == nil {
		client, clientErr = promconfig.NewClientFromConfig(cb.HTTPConfig, "callback")
	}
	var key []byte
	var keyErr error
	if cb.SecretFile != "" {
		b, err := os.ReadFile(cb.SecretFile)
		switch {
		case err != nil:
			keyErr = fmt.Errorf("read callback secret_file: %w", err)
		case len(bytes.TrimSpace(b)) == 0:
			keyErr = fmt.Errorf("callback secret_file %s is empty", cb.SecretFile)
		default:
			key = bytes.TrimSpace(b)
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.blocked = nil
	switch {
	case clientErr == nil:
		t.client = client
	case t.client != nil:
		c.opts.Logger.Error("callback http_config unusable; keeping the previous client", "url", t.label, "err", clientErr)
	default:
		c.opts.Logger.Error("callback http_config unusable; nothing is sent to it until a reload fixes it", "url", t.label, "err", clientErr)
		t.blocked = fmt.Errorf("callback http_config: %w", clientErr)
	}
	switch {
	case cb.SecretFile == "":
		t.key = nil
		if fresh {
			c.opts.Logger.Warn("callback is unsigned; set secret_file so that its receiver can check the "+SignatureHeader+" header", "url", t.label)
		}
	case keyErr == nil:
		t.key = key
	case t.key != nil:
		c.opts.Logger.Error("callback secret unreadable; keeping the previous one", "url", t.label, "err", keyErr)
	default:
		c.opts.Logger.Error("callback secret unreadable; nothing is sent to it until a reload can read it", "url", t.label, "err", keyErr)
		t.blocked = keyErr
	}
}

// SetURLs replaces the URLs (a configuration reload). A URL in both sets
// keeps its queue, with the steps not yet delivered, and its loop; a new
// URL starts with an empty queue and gets the steps from now on; a removed
// URL's loop is stopped before SetURLs returns, and the steps it had not
// delivered are dropped and their number logged.
//
// A kept URL gets its new http_config, and its secret_file is read again;
// if that file cannot be read, the URL keeps signing with its previous key.
func (c *Callbacks) SetURLs(urls []config.CallbackConfig) {
	c.mu.Lock()
	old := make(map[string]*callbackTarget, len(c.targets))
	for _, t := range c.targets {
		old[t.url] = t
	}
	next := make([]*callbackTarget, 0, len(urls))
	seen := map[string]bool{}
	for _, u := range urls {
		if seen[u.URL] {
			continue
		}
		seen[u.URL] = true
		t, ok := old[u.URL]
		if ok {
			c.configure(t, u, false)
		} else {
			t = c.newCallbackTarget(u)
			if c.runCtx != nil {
				c.start(t)
			}
			c.opts.Logger.Info("callback URL added", "url", t.label)
		}
		next = append(next, t)
	}
	var removed []*callbackTarget
	var stops []func()
	for _, t := range c.targets {
		if !seen[t.url] {
			removed = append(removed, t)
			stops = append(stops, t.stopFunc())
		}
	}
	c.targets = next
	c.mu.Unlock()

	for i, t := range removed {
		stops[i]()
		t.mu.Lock()
		dropped := len(t.q)
		t.q = nil
		t.mu.Unlock()
		if dropped > 0 {
			c.opts.Logger.Warn("callback URL removed; dropped the steps not delivered to it", "url", t.label, "dropped", dropped)
		} else {
			c.opts.Logger.Info("callback URL removed", "url", t.label, "dropped", 0)
		}
	}
}

// start runs t's loop under Run's context. c.mu must be held and Run
// running.
func (c *Callbacks) start(t *callbackTarget) {
	ctx, cancel := context.WithCancel(c.runCtx)
	done := make(chan struct{})
	t.cancel, t.done = cancel, done
	c.loops.Add(1)
	go func() {
		defer c.loops.Done()
		defer close(done)
		c.run(ctx, t)
	}()
}

// stopFunc returns what stops t's loop and waits until it has stopped; a
// no-op when it is not running. Callbacks.mu must be held.
func (t *callbackTarget) stopFunc() func() {
	cancel, done := t.cancel, t.done
	t.cancel, t.done = nil, nil
	if cancel == nil {
		return func() {}
	}
	return func() { cancel(); <-done }
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
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, t := range c.targets {
		t.mu.Lock()
		if len(t.q) >= c.opts.QueueCapacity {
			t.q = t.q[1:]
			c.opts.Logger.Warn("callback queue full; dropped the oldest step", "url", t.label)
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
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(c.targets))
	for _, t := range c.targets {
		t.mu.Lock()
		out[t.url] = len(t.q)
		t.mu.Unlock()
	}
	return out
}

// Run delivers until ctx is done, also while there is no URL, so that it
// can run beside the other components of a process, and to the URLs that
// SetURLs adds meanwhile. Call it once.
func (c *Callbacks) Run(ctx context.Context) {
	c.mu.Lock()
	c.runCtx = ctx
	for _, t := range c.targets {
		c.start(t)
	}
	c.mu.Unlock()
	<-ctx.Done()
	c.mu.Lock()
	c.runCtx = nil // no loop starts after this, so the wait below is final
	for _, t := range c.targets {
		if t.cancel != nil {
			t.cancel()
		}
		t.cancel, t.done = nil, nil
	}
	c.mu.Unlock()
	c.loops.Wait()
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
		if err := c.post(ctx, t, body); err != nil {
			if ctx.Err() != nil {
				return
			}
			c.opts.Logger.Warn("callback failed; will retry", "url", t.label, "retry_in", backoff, "err", err)
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

// post sends one step, signed with t's key when it has one. Errors name the
// URL without credentials; the client's own errors can quote the full URL,
// so they are not passed on verbatim.
func (c *Callbacks) post(ctx context.Context, t *callbackTarget, body []byte) error {
	t.mu.Lock()
	client, key, blocked := t.client, t.key, t.blocked
	t.mu.Unlock()
	if blocked != nil {
		return fmt.Errorf("callback %s: %w", t.label, blocked)
	}
	ctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("callback %s: bad request", t.label)
	}
	req.Header.Set("Content-Type", "application/json")
	if key != nil {
		req.Header.Set(SignatureHeader, Sign(key, body))
	}
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("callback %s: %w", t.label, err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("callback %s: status %s", t.label, resp.Status)
	}
	return nil
}
