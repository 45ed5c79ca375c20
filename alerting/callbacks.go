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

	"github.com/prometheus/client_golang/prometheus"
	promconfig "github.com/prometheus/common/config"

	"github.com/headroomhq/headroom/config"
	"github.com/headroomhq/headroom/internal/clock"
	"github.com/headroomhq/headroom/internal/outbox"
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
	// is dropped, counted and logged. Default 1000.
	QueueCapacity int
	// MinBackoff and MaxBackoff bound the retry delay, which grows by
	// internal/retry's steps with jitter. Defaults 100ms, 30s.
	MinBackoff, MaxBackoff time.Duration
	// Timeout bounds each POST. Default 10s.
	Timeout time.Duration
	// HTTPClient, when set, replaces every callback's own client (tests).
	HTTPClient *http.Client
	// Clock times the waits between retries. Default clock.Real.
	Clock      clock.Clock
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// CallbackMetrics are the callbacks' outbox metrics, labelled url.
var CallbackMetrics = outbox.Names("callback")

// Callbacks posts lifecycle changes to the configured URLs through
// internal/outbox: each URL has its own bounded queue and delivery loop,
// retried with jittered backoff until a 2xx answer, one step per POST, in
// order. Use Step as the engine's OnStep, and Run to deliver; SetURLs
// changes the URLs while it runs.
type Callbacks struct {
	opts CallbackOptions
	out  *outbox.Outbox[callbackStep]

	mu      sync.Mutex
	targets map[string]*callbackTarget // by URL
}

// callbackStep is one queued step: its JSON body, and what names it in a
// log line if it is dropped.
type callbackStep struct {
	body []byte
	name string
}

type callbackTarget struct {
	url   string
	label string // url without credentials, for logs and metrics

	// client and key are what the target sends with; blocked, when set,
	// says why it sends nothing. All change under mu.
	mu      sync.Mutex
	client  *http.Client
	key     []byte // nil: unsigned
	blocked error
}

// NewCallbacks returns the callbacks for opts. A URL listed twice gets
// each step once.
func NewCallbacks(opts CallbackOptions) (*Callbacks, error) {
	if opts.QueueCapacity <= 0 {
		opts.QueueCapacity = 1000
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Callbacks{opts: opts, targets: map[string]*callbackTarget{}}
	out, err := outbox.New(outbox.Options[callbackStep]{
		Kind: "callback", LabelName: "url", Metrics: CallbackMetrics, Capacity: opts.QueueCapacity, MaxBatch: 1,
		Describe:   func(s callbackStep) string { return s.name },
		MinBackoff: opts.MinBackoff, MaxBackoff: opts.MaxBackoff, Clock: opts.Clock,
		Logger: opts.Logger, Registerer: opts.Registerer,
	}, c.destinations(opts.URLs, true))
	if err != nil {
		return nil, err
	}
	c.out = out
	return c, nil
}

// destinations returns the outbox destinations for urls, configuring the
// target of each: a URL already known is reconfigured in place (see
// configure), a new one is built. c.mu must be held, or c not yet shared.
func (c *Callbacks) destinations(urls []config.CallbackConfig, fresh bool) []outbox.Destination[callbackStep] {
	var out []outbox.Destination[callbackStep]
	seen := map[string]bool{}
	for _, u := range urls {
		if seen[u.URL] {
			continue
		}
		seen[u.URL] = true
		t, ok := c.targets[u.URL]
		if ok {
			c.configure(t, u, fresh)
		} else {
			t = &callbackTarget{url: u.URL, label: config.RedactURL(u.URL)}
			c.configure(t, u, true)
			c.targets[u.URL] = t
		}
		out = append(out, outbox.Destination[callbackStep]{ID: t.url, Label: t.label,
			Deliver: func(ctx context.Context, batch []callbackStep) error {
				for _, s := range batch {
					if err := c.post(ctx, t, s.body); err != nil {
						return err
					}
				}
				return nil
			}})
	}
	for u := range c.targets {
		if !seen[u] {
			delete(c.targets, u)
		}
	}
	return out
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
		if clientErr != nil {
			clientErr = fmt.Errorf("callback http_config: %w", clientErr)
		}
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
	var clientBlocked, keyBlocked error
	t.client, clientBlocked = reloadPart(c.opts.Logger, t.label, "callback http_config unusable", t.client, t.client != nil, client, clientErr)
	if cb.SecretFile == "" {
		t.key = nil
		if fresh {
			c.opts.Logger.Warn("callback is unsigned; set secret_file so that its receiver can check the "+SignatureHeader+" header", "url", t.label)
		}
	} else {
		t.key, keyBlocked = reloadPart(c.opts.Logger, t.label, "callback secret unreadable", t.key, t.key != nil, key, keyErr)
	}
	t.blocked = clientBlocked
	if keyBlocked != nil {
		t.blocked = keyBlocked // the key's failure is the one a sender reports
	}
}

// reloadPart says which of a target's parts (its client, its key) a
// (re)configuration leaves in force: next when it was built (err nil);
// otherwise the previous one, if the target has one; otherwise none, and
// the target is blocked with err, sending nothing until a reload fixes it.
// A failure is logged as problem, with what follows from it.
func reloadPart[T any](logger *slog.Logger, label, problem string, prev T, hasPrev bool, next T, err error) (T, error) {
	switch {
	case err == nil:
		return next, nil
	case hasPrev:
		logger.Error(problem+"; keeping the previous one", "url", label, "err", err)
		return prev, nil
	default:
		logger.Error(problem+"; nothing is sent to it until a reload fixes it", "url", label, "err", err)
		return prev, err
	}
}

// SetURLs replaces the URLs (a configuration reload). A URL in both sets
// keeps its queue, with the steps not yet delivered, and its loop; a new
// URL starts with an empty queue and gets the steps from now on; a removed
// URL's loop is stopped before SetURLs returns, and the steps it had not
// delivered are dropped, counted and logged.
//
// A kept URL gets its new http_config, and its secret_file is read again;
// if that file cannot be read, the URL keeps signing with its previous key.
func (c *Callbacks) SetURLs(urls []config.CallbackConfig) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.out.SetDestinations(c.destinations(urls, false))
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
	c.out.Push(callbackStep{body: body, name: fmt.Sprintf("incident %d %s (to %s)", in.ID, st.Action, st.To)})
}

// Pending returns the queued steps per URL.
func (c *Callbacks) Pending() map[string]int { return c.out.Pending() }

// Run delivers until ctx is done, also while there is no URL, so that it
// can run beside the other components of a process, and to the URLs that
// SetURLs adds meanwhile. Call it once.
func (c *Callbacks) Run(ctx context.Context) { c.out.Run(ctx) }

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
