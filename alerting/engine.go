package alerting

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/headroomhq/headroom/alerting/notifier"
	"github.com/headroomhq/headroom/alerting/webhook"
	"github.com/headroomhq/headroom/config"
	"github.com/headroomhq/headroom/store"
)

// Lifecycle states.
const (
	StateDetected     = "detected"
	StateFiring       = "firing"
	StateAcknowledged = "acknowledged"
	StateHandling     = "handling"
	StateResolved     = "resolved"
	StateEscalated    = "escalated"
)

// openStates are the states of an incident that is not over.
var openStates = []string{StateDetected, StateFiring, StateAcknowledged, StateHandling, StateEscalated}

// transitions lists the allowed moves.
var transitions = map[string][]string{
	StateDetected:     {StateFiring, StateResolved},
	StateFiring:       {StateFiring, StateAcknowledged, StateHandling, StateResolved, StateEscalated},
	StateAcknowledged: {StateAcknowledged, StateHandling, StateResolved, StateEscalated},
	StateHandling:     {StateResolved, StateEscalated},
	StateEscalated:    {StateEscalated, StateAcknowledged, StateHandling, StateResolved},
}

func allowed(from, to string) bool {
	for _, s := range transitions[from] {
		if s == to {
			return true
		}
	}
	return false
}

// OverrideRef names a temporary override so that it can be lifted later,
// also after a restart.
type OverrideRef struct {
	Kind    string    `json:"kind"` // margin or cap
	Group   string    `json:"group,omitempty"`
	Project string    `json:"project,omitempty"`
	Value   float64   `json:"value,omitempty"`
	Until   time.Time `json:"until"`
	// ID is the override's kind/name in the store, Version the version
	// the playbook wrote; lifting checks that nobody changed it since.
	ID      string `json:"id,omitempty"`
	Version int    `json:"version,omitempty"`
}

// Overrides is the limiter's public override interface, as playbooks use it.
type Overrides interface {
	// ForceRound runs a limiter round for the group now. With burst,
	// borrowers may take all spare headroom at once instead of stepping.
	ForceRound(ctx context.Context, group string, burst bool) error
	// RaiseMargin raises the group's margin to margin until the given time.
	RaiseMargin(ctx context.Context, group string, margin float64, until time.Time) (OverrideRef, error)
	// CapProject sets a temporary ceiling on the project in both
	// directions until the given time.
	CapProject(ctx context.Context, project string, ceiling float64, until time.Time) (OverrideRef, error)
	// Lift removes an override; lifting one that is gone is not an error.
	Lift(ctx context.Context, ref OverrideRef) error
}

// Conditions tells whether the condition behind an alert still holds; it
// is how Headroom verifies that an action helped.
type Conditions interface {
	Active(ctx context.Context, alertName string, labels map[string]string) (bool, error)
}

// Silencer posts and expires Alertmanager silences; *notifier.Notifier
// implements it.
type Silencer interface {
	CreateSilence(ctx context.Context, s notifier.Silence) (notifier.SilenceIDs, error)
	ExpireSilence(ctx context.Context, ids notifier.SilenceIDs) error
}

// handling is the engine's own state of an incident, kept in the store.
type handling struct {
	Playbook        string              `json:"playbook,omitempty"`
	Action          string              `json:"action,omitempty"`
	PendingApproval bool                `json:"pending_approval,omitempty"`
	ActedAt         time.Time           `json:"acted_at,omitzero"`
	VerifyAt        time.Time           `json:"verify_at,omitzero"`
	Override        *OverrideRef        `json:"override,omitempty"`
	Silence         notifier.SilenceIDs `json:"silence,omitempty"`
	Severity        string              `json:"severity,omitempty"`
}

// Options configure an Engine.
type Options struct {
	Store      *store.DB
	Config     config.AlertingConfig
	Overrides  Overrides
	Conditions Conditions
	// Silencer and Sender are optional; without them silences and
	// escalations are recorded but not posted.
	Silencer Silencer
	Sender   notifier.Sender
	// OnStep is called after every recorded step (for outbound callbacks).
	OnStep func(store.Incident, store.IncidentStep)
	Now    func() time.Time
	Logger *slog.Logger
}

// Engine handles incidents. Its methods are safe for concurrent use; they
// are serialised, which keeps each incident's steps in order.
type Engine struct {
	mu   sync.Mutex
	opts Options
	// lastAction is the time of the last action per playbook and group,
	// for cooldowns.
	lastAction map[string]time.Time
}

// NewEngine returns an engine.
func NewEngine(opts Options) (*Engine, error) {
	if opts.Store == nil || opts.Overrides == nil || opts.Conditions == nil {
		return nil, errors.New("alerting engine: store, overrides and conditions are required")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Engine{opts: opts, lastAction: map[string]time.Time{}}, nil
}

// SetConfig swaps the alerting configuration (on reload).
func (e *Engine) SetConfig(c config.AlertingConfig) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.opts.Config = c
}

// Errors the approval interface returns.
var (
	ErrNotPending = errors.New("incident has no action waiting for approval")
	ErrBadState   = errors.New("not allowed in the incident's state")
)

func (e *Engine) record(ctx context.Context, in store.Incident, h handling, to, actor, action, result string) (store.Incident, error) {
	if !allowed(in.State, to) {
		return in, fmt.Errorf("incident %d: %s to %s: %w", in.ID, in.State, to, ErrBadState)
	}
	data, err := json.Marshal(h)
	if err != nil {
		return in, fmt.Errorf("incident %d: %w", in.ID, err)
	}
	step := store.IncidentStep{At: e.opts.Now(), From: in.State, To: to, Actor: actor, Action: action, Result: result, Origin: originOf(ctx)}
	in.State, in.Data = to, data
	out, err := e.opts.Store.UpdateIncident(ctx, in, step)
	if err != nil {
		return in, err
	}
	step.IncidentID = out.ID
	if e.opts.OnStep != nil {
		e.opts.OnStep(out, step)
	}
	return out, nil
}

type originKey struct{}

// WithOrigin marks the steps recorded under ctx as caused by the request
// origin (an action another replica's API asked for), so that the
// request is seen done by every replica.
func WithOrigin(ctx context.Context, origin string) context.Context {
	return context.WithValue(ctx, originKey{}, origin)
}

func originOf(ctx context.Context) string {
	s, _ := ctx.Value(originKey{}).(string)
	return s
}

func decodeHandling(in store.Incident) handling {
	var h handling
	_ = json.Unmarshal(in.Data, &h) // written by this package; empty on the first step
	return h
}

// Notify takes notifications that the webhook has just recorded for the
// first time, opens or closes incidents and runs their playbooks.
func (e *Engine) Notify(ctx context.Context, ns []webhook.Notification) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	var errs []error
	for _, n := range ns {
		if err := e.notify(ctx, n); err != nil {
			errs = append(errs, fmt.Errorf("handle %s (%s): %w", n.AlertName, n.Status, err))
		}
	}
	return errors.Join(errs...)
}

func (e *Engine) notify(ctx context.Context, n webhook.Notification) error {
	open, err := e.opts.Store.Incidents(ctx, n.Fingerprint, openStates...)
	if err != nil {
		return err
	}
	if n.Status == "resolved" {
		for _, in := range open {
			if !in.StartsAt.IsZero() && in.StartsAt.After(n.StartsAt) {
				// A later firing of the alert: this resolution (late, or
				// replayed) is not about it.
				continue
			}
			h := decodeHandling(in)
			if in.State == StateHandling {
				// Verification decides; the action's override stays until
				// then or its expiry.
				continue
			}
			if _, err := e.record(ctx, in, h, StateResolved, "alertmanager", "resolved", "Alertmanager reports the alert resolved"); err != nil {
				return err
			}
		}
		return nil
	}
	// Every replica names the incident of this firing alike, so a
	// notification handled again (after a failover, or delivered through
	// two replicas) finds it.
	id := store.IncidentID(n.Fingerprint, n.StartsAt)
	in, err := e.opts.Store.Incident(ctx, id)
	switch {
	case err == nil:
		if in.Version == 1 && in.State == StateFiring {
			// Opened, but stopped before its playbook ran.
			return e.runPlaybook(ctx, in, "headroom")
		}
		return nil
	case !errors.Is(err, store.ErrNotFound):
		return err
	}
	if len(open) > 0 {
		return nil // a repeat of an incident already open
	}
	now := e.opts.Now()
	in, err = e.opts.Store.OpenIncident(ctx, store.Incident{
		ID: id, Fingerprint: n.Fingerprint, AlertName: n.AlertName, Labels: n.Labels, Annotations: n.Annotations,
		State: StateFiring, OpenedAt: now, StartsAt: n.StartsAt,
	}, store.IncidentStep{At: now, From: StateDetected, To: StateFiring, Actor: "alertmanager", Action: "opened",
		Result: fmt.Sprintf("firing since %s", n.StartsAt.Format(time.RFC3339))})
	if err != nil {
		return err
	}
	return e.runPlaybook(ctx, in, "headroom")
}

// runPlaybook applies the incident's playbook: act, ask for approval, or
// record why nothing is done.
func (e *Engine) runPlaybook(ctx context.Context, in store.Incident, actor string) error {
	cfg := e.opts.Config
	pb, ok := cfg.Playbook(in.AlertName)
	h := decodeHandling(in)
	h.Severity = in.Labels["severity"]
	note := func(action, result string) error {
		_, err := e.record(ctx, in, h, in.State, "headroom", action, result)
		return err
	}
	switch {
	case !ok:
		return note("no_playbook", "no playbook for this alert; left to people")
	case pb.Action == config.ActionNotifyOnly:
		return note("notify_only", "playbook notifies only")
	case pb.Mode == config.ModeOff:
		return note("playbook_off", "playbook "+pb.Action+" is off")
	case cfg.KillSwitch:
		return note("kill_switch", "the global kill switch is on; no automatic action")
	}
	if n := targets(pb.Action, in.Labels); n > pb.MaxTargets {
		return note("blast_radius", fmt.Sprintf("action would touch %d targets, above the limit of %d", n, pb.MaxTargets))
	}
	if last, ok := e.lastAction[cooldownKey(pb, in.Labels)]; ok && e.opts.Now().Sub(last) < time.Duration(pb.Cooldown) {
		return note("cooldown", fmt.Sprintf("last %s on this group at %s; cooldown %s", pb.Action, last.Format(time.RFC3339), pb.Cooldown))
	}
	if pb.Mode == config.ModeApprove && actor == "headroom" {
		h.Playbook, h.Action, h.PendingApproval = pb.Alert, pb.Action, true
		_, err := e.record(ctx, in, h, in.State, "headroom", "approval_requested", "waiting for approval of "+pb.Action)
		return err
	}
	return e.act(ctx, in, h, pb, actor)
}

// act performs the playbook's action and moves the incident to handling.
func (e *Engine) act(ctx context.Context, in store.Incident, h handling, pb config.PlaybookConfig, actor string) error {
	ctx = withPlaybook(ctx, pb.Alert)
	now := e.opts.Now()
	until := now.Add(time.Duration(pb.Duration))
	group, project := in.Labels["group"], in.Labels["project"]
	var result string
	var err error
	switch pb.Action {
	case config.ActionReallocateNow:
		err = e.opts.Overrides.ForceRound(ctx, group, true)
		result = "forced a limiter round with burst for group " + group
	case config.ActionRaiseMargin:
		var ref OverrideRef
		ref, err = e.opts.Overrides.RaiseMargin(ctx, group, pb.Margin, until)
		h.Override = &ref
		result = fmt.Sprintf("raised the margin of group %s to %v until %s", group, pb.Margin, until.Format(time.RFC3339))
	case config.ActionCapProject:
		var ref OverrideRef
		ref, err = e.opts.Overrides.CapProject(ctx, project, float64(pb.Cap), until)
		h.Override = &ref
		result = fmt.Sprintf("capped project %s at %s until %s", project, pb.Cap, until.Format(time.RFC3339))
		if err == nil && e.opts.Silencer != nil {
			// Headroom chose this throttling: nobody is paged for it.
			ids, serr := e.opts.Silencer.CreateSilence(ctx, notifier.Silence{
				Matchers: map[string]string{"alertname": "ProjectThrottled", "project": project},
				StartsAt: now, EndsAt: until, CreatedBy: "headroom",
				Comment: fmt.Sprintf("Headroom caps %s deliberately (incident %d)", project, in.ID),
			})
			h.Silence = ids
			if serr != nil {
				result += "; silence: " + serr.Error()
			}
		}
	}
	h.Playbook, h.Action, h.PendingApproval = pb.Alert, pb.Action, false
	if err != nil {
		_, rerr := e.record(ctx, in, h, in.State, actor, pb.Action+"_failed", err.Error())
		return errors.Join(fmt.Errorf("%s: %w", pb.Action, err), rerr)
	}
	e.lastAction[cooldownKey(pb, in.Labels)] = now
	h.ActedAt, h.VerifyAt = now, now.Add(time.Duration(pb.VerifyWindow))
	_, err = e.record(ctx, in, h, StateHandling, actor, pb.Action, result)
	return err
}

// targets counts the projects or brokers an action touches: a comma-
// separated label lists several.
func targets(action string, labels map[string]string) int {
	key := "group"
	if action == config.ActionCapProject {
		key = "project"
	}
	v := labels[key]
	if v == "" {
		return 0
	}
	return len(strings.Split(v, ","))
}

func cooldownKey(pb config.PlaybookConfig, labels map[string]string) string {
	return pb.Alert + "\x00" + labels["cluster"] + "\x00" + labels["group"]
}

// pending reads incident id and its handling, and refuses (ErrNotPending)
// when no action waits on it; verb names the caller in the error.
func (e *Engine) pending(ctx context.Context, id int64, verb string) (store.Incident, handling, error) {
	in, err := e.opts.Store.Incident(ctx, id)
	if err != nil {
		return store.Incident{}, handling{}, err
	}
	h := decodeHandling(in)
	if !h.PendingApproval {
		return store.Incident{}, handling{}, fmt.Errorf("%s incident %d: %w", verb, id, ErrNotPending)
	}
	return in, h, nil
}

// Approve runs the action waiting on an incident.
func (e *Engine) Approve(ctx context.Context, id int64, actor string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	in, h, err := e.pending(ctx, id, "approve")
	if err != nil {
		return err
	}
	pb, ok := e.opts.Config.Playbook(in.AlertName)
	if !ok || pb.Mode == config.ModeOff || e.opts.Config.KillSwitch {
		return fmt.Errorf("approve incident %d: the playbook is off, gone or the kill switch is on", id)
	}
	return e.act(ctx, in, h, pb, actor)
}

// Reject drops the action waiting on an incident.
func (e *Engine) Reject(ctx context.Context, id int64, actor, reason string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	in, h, err := e.pending(ctx, id, "reject")
	if err != nil {
		return err
	}
	h.PendingApproval = false
	_, err = e.record(ctx, in, h, in.State, actor, "rejected", reason)
	return err
}

// Acknowledge records that a person owns the incident.
func (e *Engine) Acknowledge(ctx context.Context, id int64, actor string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	in, err := e.opts.Store.Incident(ctx, id)
	if err != nil {
		return err
	}
	_, err = e.record(ctx, in, decodeHandling(in), StateAcknowledged, actor, "acknowledged", "")
	return err
}

// Tick verifies incidents whose window has passed: resolved if the
// condition cleared; otherwise the action is rolled back and the alert is
// re-posted one severity higher. Overrides that were not rolled back end
// at their own expiry, and so do the silences posted with them.
func (e *Engine) Tick(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.opts.Now()
	handlingNow, err := e.opts.Store.Incidents(ctx, "", StateHandling)
	if err != nil {
		return err
	}
	var errs []error
	for _, in := range handlingNow {
		h := decodeHandling(in)
		ctx := withPlaybook(ctx, h.Playbook)
		if now.Before(h.VerifyAt) {
			continue
		}
		active, err := e.opts.Conditions.Active(ctx, in.AlertName, in.Labels)
		if err != nil {
			errs = append(errs, fmt.Errorf("verify incident %d: %w", in.ID, err))
			continue
		}
		if !active {
			if _, err := e.record(ctx, in, h, StateResolved, "headroom", "verified",
				fmt.Sprintf("condition cleared %s after %s", now.Sub(h.ActedAt).Round(time.Second), h.Action)); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		result := "condition still holds after " + h.Action
		if err := e.rollback(ctx, &h); err != nil {
			result += "; rollback: " + err.Error()
		} else if h.Override != nil {
			result += "; override rolled back"
		}
		h.Override, h.Silence = nil, nil
		h.Severity = higher(h.Severity)
		if e.opts.Sender != nil {
			labels := make(map[string]string, len(in.Labels))
			for k, v := range in.Labels {
				labels[k] = v
			}
			labels["severity"] = h.Severity
			e.opts.Sender.Send(notifier.Alert{Labels: labels, Annotations: in.Annotations, StartsAt: in.OpenedAt, EndsAt: now.Add(time.Hour),
				GeneratorURL: e.generatorURL(ctx, in.Fingerprint)})
			result += "; re-posted with severity " + h.Severity
		}
		if _, err := e.record(ctx, in, h, StateEscalated, "headroom", "verification_failed", result); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// generatorURL is the link the alert last came with from Alertmanager, so
// that the escalated copy points at the same explanation.
func (e *Engine) generatorURL(ctx context.Context, fingerprint string) string {
	ns, err := e.opts.Store.AlertNotifications(ctx, fingerprint)
	if err != nil {
		return ""
	}
	for i := len(ns) - 1; i >= 0; i-- {
		if ns[i].GeneratorURL != "" {
			return ns[i].GeneratorURL
		}
	}
	return ""
}

func (e *Engine) rollback(ctx context.Context, h *handling) error {
	var errs []error
	if h.Override != nil {
		if err := e.opts.Overrides.Lift(ctx, *h.Override); err != nil {
			errs = append(errs, err)
		}
	}
	if len(h.Silence) > 0 && e.opts.Silencer != nil {
		if err := e.opts.Silencer.ExpireSilence(ctx, h.Silence); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func higher(sev string) string {
	switch sev {
	case "info":
		return "warning"
	case "warning", "":
		return "critical"
	default:
		return "page"
	}
}
