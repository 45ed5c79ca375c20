package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Replicated alert lifecycle. An incident's every version travels with the
// step that made it (seq = version), so a replica applies an incident and
// its history in any order and any number of times. Alert states received
// by any replica, and the lifecycle actions asked for through any
// replica's API, travel as records of their own: only the active replica
// handles them, and it says so with a record that every replica applies.

func init() {
	registerMigration("ha_003_alert_lifecycle", `
ALTER TABLE alert_incidents ADD COLUMN starts_at TEXT;
ALTER TABLE alert_steps ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE alert_steps ADD COLUMN origin TEXT;
UPDATE alert_steps SET seq = (SELECT count(*) FROM alert_steps s
	WHERE s.incident_id = alert_steps.incident_id AND s.id <= alert_steps.id);
CREATE UNIQUE INDEX alert_steps_seq ON alert_steps(incident_id, seq);
CREATE INDEX alert_steps_origin ON alert_steps(origin) WHERE origin IS NOT NULL;
ALTER TABLE alert_notifications ADD COLUMN handled INTEGER NOT NULL DEFAULT 0;
UPDATE alert_notifications SET handled = 1;
CREATE INDEX alert_notifications_unhandled ON alert_notifications(handled, received_at);
CREATE TABLE alert_requests (
	id          TEXT PRIMARY KEY,
	incident_id INTEGER NOT NULL,
	action      TEXT NOT NULL,
	actor       TEXT NOT NULL,
	reason      TEXT NOT NULL,
	at          TEXT NOT NULL,
	answered    INTEGER NOT NULL DEFAULT 0,
	error       TEXT NOT NULL DEFAULT ''
);
CREATE INDEX alert_requests_pending ON alert_requests(answered, at);
`)
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// incidentChange is an incident at a version and the step that made it.
type incidentChange struct {
	Incident Incident     `json:"incident"`
	Step     IncidentStep `json:"step"`
}

func incidentChangesOf(in Incident, st IncidentStep) []Change {
	st.ID = 0 // local to each store
	v := mustJSON(incidentChange{Incident: in, Step: st})
	id := strconv.FormatInt(in.ID, 10)
	return []Change{
		{Kind: ChangeIncident, Key: "incident/" + id, Value: v},
		{Kind: ChangeIncidentStep, Key: "incident/" + id + "/" + strconv.Itoa(st.Seq), Value: v},
	}
}

// applyIncident stores the incident unless the store has it at the same
// or a later version, and its step unless the store has it.
func (s *DB) applyIncident(ctx context.Context, tx *sql.Tx, ic incidentChange) error {
	in, st := ic.Incident, ic.Step
	if in.ID == 0 || in.Version < 1 || st.Seq < 1 || st.Seq > in.Version {
		return fmt.Errorf("apply incident %d: version %d, step %d: malformed", in.ID, in.Version, st.Seq)
	}
	labels, err := json.Marshal(in.Labels)
	if err != nil {
		return fmt.Errorf("apply incident %d: %w", in.ID, err)
	}
	ann, err := json.Marshal(in.Annotations)
	if err != nil {
		return fmt.Errorf("apply incident %d: %w", in.ID, err)
	}
	if len(in.Data) == 0 {
		in.Data = json.RawMessage("{}")
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO alert_incidents
		(id, fingerprint, alertname, labels, annotations, state, opened_at, updated_at, version, data, starts_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT(id) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at,
			version = excluded.version, data = excluded.data
		WHERE excluded.version > alert_incidents.version`,
		in.ID, in.Fingerprint, in.AlertName, string(labels), string(ann), in.State,
		in.OpenedAt.UTC().Format(timeFormat), in.UpdatedAt.UTC().Format(timeFormat), in.Version, string(in.Data), nullTime(in.StartsAt)); err != nil {
		return fmt.Errorf("apply incident %d: %w", in.ID, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO alert_steps (incident_id, seq, origin, at, from_state, to_state, actor, action, result)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(incident_id, seq) DO NOTHING`,
		in.ID, st.Seq, nullString(st.Origin), st.At.UTC().Format(timeFormat), st.From, st.To, st.Actor, st.Action, st.Result); err != nil {
		return fmt.Errorf("apply step %d of incident %d: %w", st.Seq, in.ID, err)
	}
	return nil
}

// HasStepFrom says whether a step caused by the request origin is stored.
func (s *DB) HasStepFrom(ctx context.Context, origin string) (bool, error) {
	var n int
	if err := s.queryRow(ctx, `SELECT count(*) FROM alert_steps WHERE origin = ?`, origin).Scan(&n); err != nil {
		return false, fmt.Errorf("steps of request %s: %w", origin, err)
	}
	return n > 0, nil
}

// notificationChange is an alert state received by a replica; Handled
// says the active replica has handled it.
type notificationChange struct {
	AlertNotification
	Handled bool `json:"handled,omitempty"`
}

// NotificationChange is the change that hands an alert state received by
// this replica to every replica (handled false), or that says the active
// replica handled it (handled true).
func NotificationChange(n AlertNotification, handled bool) Change {
	return Change{Kind: ChangeNotification, Key: "notification/" + n.Key, Value: mustJSON(notificationChange{AlertNotification: n, Handled: handled})}
}

func (s *DB) applyNotification(ctx context.Context, tx *sql.Tx, nc notificationChange) error {
	n := nc.AlertNotification
	if n.Key == "" || (n.Status != "firing" && n.Status != "resolved") {
		return fmt.Errorf("apply alert notification %q: malformed", n.Key)
	}
	labels, err := json.Marshal(n.Labels)
	if err != nil {
		return fmt.Errorf("apply alert notification %s: %w", n.Key, err)
	}
	ann, err := json.Marshal(n.Annotations)
	if err != nil {
		return fmt.Errorf("apply alert notification %s: %w", n.Key, err)
	}
	handled := 0
	if nc.Handled {
		handled = 1
	}
	// A delivery seen before changes nothing (deliveries count what this
	// replica's own webhook received); handled only ever goes to 1.
	if _, err := tx.ExecContext(ctx, `INSERT INTO alert_notifications
		(key, group_key, receiver, fingerprint, status, alertname, labels, annotations, starts_at, ends_at, generator_url, received_at, handled)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT(key) DO UPDATE SET handled = max(handled, excluded.handled)`,
		n.Key, n.GroupKey, n.Receiver, n.Fingerprint, n.Status, n.AlertName, string(labels), string(ann),
		n.StartsAt.UTC().Format(timeFormat), n.EndsAt.UTC().Format(timeFormat), n.GeneratorURL, n.ReceivedAt.UTC().Format(timeFormat), handled); err != nil {
		return fmt.Errorf("apply alert notification %s: %w", n.Key, err)
	}
	return nil
}

// UnhandledNotifications returns up to limit alert states not handled
// yet, in the order they were received.
func (s *DB) UnhandledNotifications(ctx context.Context, limit int) ([]AlertNotification, error) {
	return s.alertNotifications(ctx, ` WHERE handled = 0 ORDER BY received_at, key LIMIT ?`, limit)
}

// MarkNotificationsHandled records that the alert states were handled and
// hands that to the change sink.
func (s *DB) MarkNotificationsHandled(ctx context.Context, ns []AlertNotification) error {
	if len(ns) == 0 {
		return nil
	}
	tx, err := s.sql.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("mark alert notifications handled: %w", err)
	}
	defer tx.Rollback()
	cs := make([]Change, 0, len(ns))
	for _, n := range ns {
		if _, err := tx.ExecContext(ctx, `UPDATE alert_notifications SET handled = 1 WHERE key = ?`, n.Key); err != nil {
			return fmt.Errorf("mark alert notification %s handled: %w", n.Key, err)
		}
		cs = append(cs, NotificationChange(n, true))
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("mark alert notifications handled: commit: %w", err)
	}
	s.emit(ctx, cs...)
	return nil
}

// AlertRequest is a lifecycle action (acknowledge, approve, reject) asked
// for through a replica's API, for the active replica to perform.
type AlertRequest struct {
	ID         string    `json:"id"`
	IncidentID int64     `json:"incident_id"`
	Action     string    `json:"action"`
	Actor      string    `json:"actor"`
	Reason     string    `json:"reason,omitempty"`
	At         time.Time `json:"at"`
}

// alertAnswer is the active replica's answer to a request.
type alertAnswer struct {
	AlertRequest
	Error string `json:"error,omitempty"`
}

// NewRequestID returns a request id no other replica mints.
func NewRequestID() string { return newOrigin() }

// AlertRequestChange is the change that asks the active replica for r.
func AlertRequestChange(r AlertRequest) Change {
	return Change{Kind: ChangeAlertRequest, Key: "alert_request/" + r.ID, Value: mustJSON(r)}
}

func (s *DB) applyAlertRequest(ctx context.Context, tx *sql.Tx, r AlertRequest) error {
	if r.ID == "" || r.IncidentID == 0 || r.Action == "" {
		return fmt.Errorf("apply alert request %q: malformed", r.ID)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO alert_requests (id, incident_id, action, actor, reason, at)
		VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO NOTHING`,
		r.ID, r.IncidentID, r.Action, r.Actor, r.Reason, r.At.UTC().Format(timeFormat)); err != nil {
		return fmt.Errorf("apply alert request %s: %w", r.ID, err)
	}
	return nil
}

func (s *DB) applyAlertAnswer(ctx context.Context, tx *sql.Tx, a alertAnswer) error {
	if err := s.applyAlertRequest(ctx, tx, a.AlertRequest); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE alert_requests SET answered = 1, error = ? WHERE id = ?`, a.Error, a.ID); err != nil {
		return fmt.Errorf("apply answer to alert request %s: %w", a.ID, err)
	}
	return nil
}

// PendingAlertRequests returns the requests not answered yet, oldest
// first.
func (s *DB) PendingAlertRequests(ctx context.Context) ([]AlertRequest, error) {
	rows, err := s.query(ctx, `SELECT id, incident_id, action, actor, reason, at FROM alert_requests WHERE answered = 0 ORDER BY at, id`)
	if err != nil {
		return nil, fmt.Errorf("query alert requests: %w", err)
	}
	defer rows.Close()
	var out []AlertRequest
	for rows.Next() {
		var r AlertRequest
		var at string
		if err := rows.Scan(&r.ID, &r.IncidentID, &r.Action, &r.Actor, &r.Reason, &at); err != nil {
			return nil, fmt.Errorf("query alert requests: %w", err)
		}
		if r.At, err = time.Parse(timeFormat, at); err != nil {
			return nil, fmt.Errorf("alert request %s: %w", r.ID, err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// AnswerAlertRequest records the active replica's answer (errText empty:
// done) and hands it to the change sink.
func (s *DB) AnswerAlertRequest(ctx context.Context, r AlertRequest, errText string) error {
	c := Change{Kind: ChangeAlertAnswer, Key: "alert_answer/" + r.ID, Value: mustJSON(alertAnswer{AlertRequest: r, Error: errText})}
	if err := s.ApplyChange(ctx, c); err != nil {
		return err
	}
	s.emit(ctx, c)
	return nil
}

// AlertRequestAnswer returns whether the request is answered and, if it
// failed, why.
func (s *DB) AlertRequestAnswer(ctx context.Context, id string) (answered bool, errText string, err error) {
	var n int
	err = s.queryRow(ctx, `SELECT answered, error FROM alert_requests WHERE id = ?`, id).Scan(&n, &errText)
	if errors.Is(err, sql.ErrNoRows) {
		return false, "", nil
	}
	if err != nil {
		return false, "", fmt.Errorf("alert request %s: %w", id, err)
	}
	return n == 1, errText, nil
}

// KnownNotifications says which of the keys are stored.
func (s *DB) KnownNotifications(ctx context.Context, keys []string) (map[string]bool, error) {
	out := make(map[string]bool, len(keys))
	for _, k := range keys {
		var n int
		if err := s.queryRow(ctx, `SELECT count(*) FROM alert_notifications WHERE key = ?`, k).Scan(&n); err != nil {
			return nil, fmt.Errorf("alert notification %s: %w", k, err)
		}
		out[k] = n > 0
	}
	return out, nil
}
