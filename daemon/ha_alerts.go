package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/headroomhq/headroom/alerting"
	"github.com/headroomhq/headroom/alerting/webhook"
	"github.com/headroomhq/headroom/store"
)

// The alert lifecycle of several replicas. Alertmanager may deliver to any
// of them (both behind one URL), and operators may act through any of
// them, but only the active replica handles: a replica's webhook hands
// what it receives to the events topic and answers once the cluster has
// it; the active replica handles every alert state it has not handled yet
// (incidents are named by fingerprint and start, so a state handled again
// after a failover finds its incident) and says so on the topic. An
// acknowledgement, approval or rejection made through a standby is a
// request on the topic, performed by the active replica, whose answer the
// standby waits for.

// requestTimeout is how long a standby's API waits for the active
// replica's answer; requestExpiry is how old a request the active replica
// still performs (one asked for while no replica led is refused later
// rather than done by surprise).
const (
	requestTimeout = 15 * time.Second
	requestExpiry  = time.Minute
)

// haAlerts is the lifecycle side of a replica.
type haAlerts struct {
	rep    *replication
	db     *store.DB
	engine *alerting.Engine
	now    func() time.Time
	logger *slog.Logger

	kick chan struct{}
	// unpublished are changes of handled alert states that the cluster
	// does not have yet; they go out before anything else is handled.
	unpublished []store.Change

	mu      sync.Mutex
	answers chan struct{} // closed and replaced when an answer is applied

	handled prometheus.Counter
}

func newHAAlerts(rep *replication, db *store.DB, engine *alerting.Engine, now func() time.Time, reg prometheus.Registerer, logger *slog.Logger) *haAlerts {
	a := &haAlerts{rep: rep, db: db, engine: engine, now: now, logger: logger.With("component", "ha-alerts"),
		kick: make(chan struct{}, 1), answers: make(chan struct{}),
		handled: prometheus.NewCounter(prometheus.CounterOpts{Name: "headroom_alert_states_handled_total",
			Help: "Alert states received from Alertmanager (through any replica) that this replica handled as the active one."}),
	}
	reg.MustRegister(a.handled)
	rep.mu.Lock()
	rep.alerts = a
	rep.mu.Unlock()
	return a
}

// applied is called after a record of the state topics is applied.
func (a *haAlerts) applied(c store.Change) {
	switch c.Kind {
	case store.ChangeNotification, store.ChangeAlertRequest:
		a.wake()
	case store.ChangeAlertAnswer:
		a.mu.Lock()
		close(a.answers)
		a.answers = make(chan struct{})
		a.mu.Unlock()
	}
}

// wake asks the handler for a pass (the replica becoming active, a new
// record).
func (a *haAlerts) wake() {
	select {
	case a.kick <- struct{}{}:
	default:
	}
}

// run handles what is pending whenever woken, while this replica is
// active.
func (a *haAlerts) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.kick:
		}
		if !a.rep.Active() {
			continue
		}
		if err := a.pass(ctx); err != nil && ctx.Err() == nil {
			a.logger.Error("handle replicated alert states and requests; retrying in a second", "err", err)
			t := time.NewTimer(time.Second)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			a.wake()
		}
	}
}

// pass handles every alert state not handled yet, then every pending
// request.
//
// The changes a batch of alert states makes (incidents, steps, overrides
// of playbooks) are published together before the batch is marked
// handled: one round trip to the cluster per batch, not two per alert. A
// leader that stops in between leaves the batch unhandled on the topic,
// and its successor handles it again, finding nothing or opening the
// same incidents under the same ids.
func (a *haAlerts) pass(ctx context.Context) error {
	if len(a.unpublished) > 0 {
		if err := a.rep.publishNow(ctx, a.unpublished); err != nil {
			return err
		}
		a.unpublished = nil
	}
	for a.rep.Active() {
		ns, err := a.db.UnhandledNotifications(ctx, 200)
		if err != nil {
			return err
		}
		if len(ns) == 0 {
			break
		}
		cctx, col := collecting(ctx)
		for _, n := range ns {
			if err := a.engine.Notify(cctx, []webhook.Notification{n}); err != nil {
				// As with a single replica: the state is handled, what
				// its playbook could not do is in its steps and the log.
				a.logger.Error("handle notification", "alertname", n.AlertName, "status", n.Status, "err", err)
			}
		}
		if err := a.db.MarkNotificationsHandled(cctx, ns); err != nil {
			a.unpublished = col.cs
			return err
		}
		if err := a.rep.publishNow(ctx, col.cs); err != nil {
			// Handled here, not yet on the topic: published first on the
			// next pass.
			a.unpublished = col.cs
			return err
		}
		a.handled.Add(float64(len(ns)))
	}
	if !a.rep.Active() {
		return nil
	}
	reqs, err := a.db.PendingAlertRequests(ctx)
	if err != nil {
		return err
	}
	for _, r := range reqs {
		if !a.rep.Active() {
			return nil
		}
		if err := a.db.AnswerAlertRequest(ctx, r, a.perform(ctx, r)); err != nil {
			return err
		}
	}
	return nil
}

// perform does a request once: a request whose step is already recorded
// (the previous leader did it and stopped before answering) is answered
// as done.
func (a *haAlerts) perform(ctx context.Context, r store.AlertRequest) string {
	done, err := a.db.HasStepFrom(ctx, r.ID)
	if err != nil {
		return err.Error()
	}
	if done {
		return ""
	}
	if age := a.now().Sub(r.At); age > requestExpiry {
		return fmt.Sprintf("expired: asked for %s ago, while no replica was active", age.Round(time.Second))
	}
	ctx = alerting.WithOrigin(ctx, r.ID)
	switch r.Action {
	case "acknowledge":
		err = a.engine.Acknowledge(ctx, r.IncidentID, r.Actor)
	case "approve":
		err = a.engine.Approve(ctx, r.IncidentID, r.Actor)
	case "reject":
		err = a.engine.Reject(ctx, r.IncidentID, r.Actor, r.Reason)
	default:
		err = fmt.Errorf("unknown action %q", r.Action)
	}
	if err != nil {
		return err.Error()
	}
	return ""
}

// Record implements webhook.Recorder: the alert states this replica has
// not seen go to the events topic, and the delivery is acknowledged once
// the cluster has them. Only the active replica handles them.
func (a *haAlerts) Record(ctx context.Context, ns []webhook.Notification) ([]webhook.Notification, error) {
	keys := make([]string, len(ns))
	for i, n := range ns {
		keys[i] = n.Key
	}
	known, err := a.db.KnownNotifications(ctx, keys)
	if err != nil {
		return nil, err
	}
	var fresh []webhook.Notification
	var cs []store.Change
	seen := map[string]bool{}
	for _, n := range ns {
		if known[n.Key] || seen[n.Key] {
			continue
		}
		seen[n.Key] = true
		fresh = append(fresh, n)
		cs = append(cs, store.NotificationChange(n, false))
	}
	if len(cs) == 0 {
		return nil, nil
	}
	if err := a.rep.publishNow(ctx, cs); err != nil {
		return nil, fmt.Errorf("hand alert states to the events topic: %w", err)
	}
	return fresh, nil
}

// Acknowledge implements api.AlertActions.
func (a *haAlerts) Acknowledge(ctx context.Context, id int64, actor string) error {
	if a.rep.Active() {
		return a.engine.Acknowledge(ctx, id, actor)
	}
	return a.ask(ctx, store.AlertRequest{IncidentID: id, Action: "acknowledge", Actor: actor})
}

// Approve implements api.AlertActions.
func (a *haAlerts) Approve(ctx context.Context, id int64, actor string) error {
	if a.rep.Active() {
		return a.engine.Approve(ctx, id, actor)
	}
	return a.ask(ctx, store.AlertRequest{IncidentID: id, Action: "approve", Actor: actor})
}

// Reject implements api.AlertActions.
func (a *haAlerts) Reject(ctx context.Context, id int64, actor, reason string) error {
	if a.rep.Active() {
		return a.engine.Reject(ctx, id, actor, reason)
	}
	return a.ask(ctx, store.AlertRequest{IncidentID: id, Action: "reject", Actor: actor, Reason: reason})
}

// ErrNoAnswer means the active replica did not answer a request in time.
var ErrNoAnswer = errors.New("the active replica did not answer in time")

// ask hands a request to the active replica through the events topic and
// waits for its answer.
func (a *haAlerts) ask(ctx context.Context, r store.AlertRequest) error {
	r.ID, r.At = store.NewRequestID(), a.now()
	if err := a.rep.publishNow(ctx, []store.Change{store.AlertRequestChange(r)}); err != nil {
		return fmt.Errorf("hand %s of incident %d to the active replica: %w", r.Action, r.IncidentID, err)
	}
	wctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	for {
		a.mu.Lock()
		ch := a.answers
		a.mu.Unlock()
		answered, errText, err := a.db.AlertRequestAnswer(wctx, r.ID)
		if err != nil {
			return err
		}
		if answered {
			if errText != "" {
				return fmt.Errorf("%s incident %d: %s", r.Action, r.IncidentID, errText)
			}
			return nil
		}
		select {
		case <-wctx.Done():
			return fmt.Errorf("%s incident %d (request %s): %w", r.Action, r.IncidentID, r.ID, ErrNoAnswer)
		case <-ch:
		}
	}
}
