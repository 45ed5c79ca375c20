// Package webhook receives Alertmanager's webhook notifications (payload
// version 4) and records them durably before acknowledging them.
//
// Alertmanager retries a notification until it gets a 2xx answer, and both
// members of an HA pair deliver the same group. The receiver therefore
// answers 2xx only after the recorder has committed the notification, and the
// recorder deduplicates on group key + fingerprint + status + start time, so
// each alert state is handled exactly once however often it arrives.
//
// AlertmanagerRoute writes the other side: the Alertmanager configuration
// that sends every alert to the receiver.
//
// It must not import the limiter, detector or collector.
package webhook

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/headroomhq/headroom/store"
	"github.com/prometheus/alertmanager/template"
	"github.com/prometheus/client_golang/prometheus"
)

// Message is Alertmanager's webhook payload, version 4.
type Message struct {
	*template.Data
	Version         string `json:"version"`
	GroupKey        string `json:"groupKey"`
	TruncatedAlerts uint64 `json:"truncatedAlerts"`
}

// Notification is one alert state out of a message: the unit the recorder
// stores and deduplicates. It is the store's row as it is received (Key is
// the idempotency key: group key, fingerprint, status and start; Status is
// firing or resolved); Deliveries is the store's count and stays zero here.
type Notification = store.AlertNotification

// Recorder stores notifications durably. Record returns the notifications
// that were not recorded before; it must have committed them when it
// returns nil.
type Recorder interface {
	Record(ctx context.Context, ns []Notification) (fresh []Notification, err error)
}

// Auth checks credentials. Exactly one of BearerToken or Username should be
// set; an empty Auth admits everyone (only sensible on loopback).
type Auth struct {
	BearerToken string
	Username    string
	Password    string
}

// Options configure a Receiver.
type Options struct {
	Recorder Recorder
	Auth     Auth
	// MaxBodyBytes caps the request body. Default 1MiB.
	MaxBodyBytes int64
	// OnFresh is called with newly recorded notifications, after they are
	// committed. It must not block for long.
	OnFresh    func([]Notification)
	Now        func() time.Time
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// Receiver is the webhook's http.Handler.
type Receiver struct {
	opts     Options // opts.Auth is only New's; auth is in force
	auth     atomic.Pointer[Auth]
	requests *prometheus.CounterVec
	alerts   *prometheus.CounterVec
}

// New returns a receiver.
func New(opts Options) (*Receiver, error) {
	if opts.Recorder == nil {
		return nil, errors.New("webhook receiver: a recorder is required")
	}
	if err := opts.Auth.check(); err != nil {
		return nil, fmt.Errorf("webhook receiver: %w", err)
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = 1 << 20
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Receiver{
		opts: opts,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "headroom_webhook_requests_total", Help: "Webhook requests by HTTP status code.",
		}, []string{"code"}),
		alerts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "headroom_webhook_alerts_total", Help: "Alert states received, by whether they were new or duplicates.",
		}, []string{"result"}),
	}
	r.auth.Store(&opts.Auth)
	if opts.Registerer != nil {
		for _, c := range []prometheus.Collector{r.requests, r.alerts} {
			if err := opts.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("register webhook metrics: %w", err)
			}
		}
	}
	return r, nil
}

func (a Auth) check() error {
	if a.BearerToken != "" && a.Username != "" {
		return errors.New("configure a bearer token or basic auth, not both")
	}
	return nil
}

// SetAuth replaces the credentials (a configuration reload), atomically for
// requests in flight: each request is checked against either the old or the
// new credentials. Invalid credentials are refused and the old ones stay.
func (r *Receiver) SetAuth(a Auth) error {
	if err := a.check(); err != nil {
		return fmt.Errorf("webhook receiver: %w", err)
	}
	r.auth.Store(&a)
	return nil
}

type statusError struct {
	code int
	msg  string
}

func (e *statusError) Error() string { return e.msg }

func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	auth := r.auth.Load()
	code, msg := r.handle(w, req, auth)
	r.requests.WithLabelValues(fmt.Sprint(code)).Inc()
	if code == http.StatusUnauthorized {
		if auth.Username != "" {
			w.Header().Set("WWW-Authenticate", `Basic realm="headroom"`)
		} else {
			w.Header().Set("WWW-Authenticate", `Bearer realm="headroom"`)
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"status": http.StatusText(code), "message": msg})
}

func (r *Receiver) handle(w http.ResponseWriter, req *http.Request, auth *Auth) (int, string) {
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return http.StatusMethodNotAllowed, "use POST"
	}
	if !authorized(req, auth) {
		return http.StatusUnauthorized, "missing or bad credentials"
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, r.opts.MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return http.StatusRequestEntityTooLarge, fmt.Sprintf("body exceeds %d bytes", r.opts.MaxBodyBytes)
		}
		return http.StatusBadRequest, fmt.Sprintf("read body: %v", err)
	}
	ns, err := Decode(body, r.opts.Now())
	if err != nil {
		return http.StatusBadRequest, err.Error()
	}
	fresh, err := r.opts.Recorder.Record(req.Context(), ns)
	if err != nil {
		// Not recorded, so not acknowledged: Alertmanager will retry.
		r.opts.Logger.Error("record webhook notification failed", "err", err)
		return http.StatusServiceUnavailable, "could not record the notification; retry"
	}
	r.alerts.WithLabelValues("new").Add(float64(len(fresh)))
	r.alerts.WithLabelValues("duplicate").Add(float64(len(ns) - len(fresh)))
	if len(fresh) > 0 && r.opts.OnFresh != nil {
		r.opts.OnFresh(fresh)
	}
	return http.StatusOK, fmt.Sprintf("recorded %d new of %d alert states", len(fresh), len(ns))
}

func authorized(req *http.Request, a *Auth) bool {
	switch {
	case a.BearerToken != "":
		tok, ok := strings.CutPrefix(req.Header.Get("Authorization"), "Bearer ")
		return ok && equalSecret(tok, a.BearerToken)
	case a.Username != "":
		u, p, ok := req.BasicAuth()
		return ok && equalSecret(u, a.Username) && equalSecret(p, a.Password)
	default:
		return true
	}
}

// equalSecret compares in constant time, also across lengths.
func equalSecret(got, want string) bool {
	g, w := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(g[:], w[:]) == 1
}

// Decode parses and checks a version 4 payload and splits it into
// notifications.
func Decode(body []byte, now time.Time) ([]Notification, error) {
	var m Message
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("decode webhook payload: %w", err)
	}
	if m.Version != "4" {
		return nil, fmt.Errorf("decode webhook payload: version %q, want \"4\"", m.Version)
	}
	if m.GroupKey == "" {
		return nil, errors.New("decode webhook payload: groupKey is empty")
	}
	if m.Data == nil || len(m.Alerts) == 0 {
		return nil, errors.New("decode webhook payload: no alerts")
	}
	out := make([]Notification, 0, len(m.Alerts))
	for i, a := range m.Alerts {
		if a.Fingerprint == "" {
			return nil, fmt.Errorf("decode webhook payload: alerts[%d]: fingerprint is empty", i)
		}
		if a.Status != "firing" && a.Status != "resolved" {
			return nil, fmt.Errorf("decode webhook payload: alerts[%d]: status %q, want firing or resolved", i, a.Status)
		}
		if a.StartsAt.IsZero() {
			return nil, fmt.Errorf("decode webhook payload: alerts[%d]: startsAt is missing", i)
		}
		out = append(out, Notification{
			Key:          notificationKey(m.GroupKey, a.Fingerprint, a.Status, a.StartsAt),
			GroupKey:     m.GroupKey,
			Receiver:     m.Receiver,
			Fingerprint:  a.Fingerprint,
			Status:       a.Status,
			AlertName:    a.Labels["alertname"],
			Labels:       a.Labels,
			Annotations:  a.Annotations,
			StartsAt:     a.StartsAt.UTC(),
			EndsAt:       a.EndsAt.UTC(),
			GeneratorURL: a.GeneratorURL,
			ReceivedAt:   now.UTC(),
		})
	}
	return out, nil
}

// notificationKey is the idempotency key. The start time is part of it so
// that an alert that resolves and fires again later is a new incident,
// while Alertmanager's repeats and HA duplicates of one incident are not.
func notificationKey(groupKey, fingerprint, status string, startsAt time.Time) string {
	h := sha256.New()
	for _, s := range []string{groupKey, fingerprint, status, startsAt.UTC().Format(time.RFC3339Nano)} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return fmt.Sprintf("%x", h.Sum(nil)[:16])
}
