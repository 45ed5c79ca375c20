package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

func init() {
	registerMigration("alerts_002_incidents", `
CREATE TABLE alert_incidents (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	fingerprint TEXT NOT NULL,
	alertname   TEXT NOT NULL,
	labels      TEXT NOT NULL,
	annotations TEXT NOT NULL,
	state       TEXT NOT NULL,
	opened_at   TEXT NOT NULL,
	updated_at  TEXT NOT NULL,
	version     INTEGER NOT NULL DEFAULT 1,
	data        TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX alert_incidents_open ON alert_incidents(fingerprint, state);
CREATE TABLE alert_steps (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	incident_id INTEGER NOT NULL REFERENCES alert_incidents(id),
	at          TEXT NOT NULL,
	from_state  TEXT NOT NULL,
	to_state    TEXT NOT NULL,
	actor       TEXT NOT NULL,
	action      TEXT NOT NULL,
	result      TEXT NOT NULL
);
CREATE INDEX alert_steps_incident ON alert_steps(incident_id, id);
`)
}

// Incident is one alert occurrence handled by Headroom, from detection to
// resolution or escalation.
type Incident struct {
	ID          int64
	Fingerprint string
	AlertName   string
	Labels      map[string]string
	Annotations map[string]string
	State       string
	OpenedAt    time.Time
	UpdatedAt   time.Time
	// Version increases on every change; updates name the version they
	// read (optimistic concurrency).
	Version int
	// Data is the handler's own state (pending approval, override, verify
	// deadline), stored as JSON.
	Data json.RawMessage
}

// IncidentStep is one recorded step of an incident's lifecycle.
type IncidentStep struct {
	ID         int64
	IncidentID int64
	At         time.Time
	From, To   string
	Actor      string
	Action     string
	// Result is free text or JSON describing what the step did.
	Result string
}

// ErrConflict means the record changed since it was read.
var ErrConflict = errors.New("conflict: the record changed since it was read")

// ErrNotFound means no such record.
var ErrNotFound = errors.New("not found")

// OpenIncident creates an incident and its first step in one transaction.
func (s *DB) OpenIncident(ctx context.Context, in Incident, first IncidentStep) (Incident, error) {
	labels, err := json.Marshal(in.Labels)
	if err != nil {
		return Incident{}, fmt.Errorf("open incident: labels: %w", err)
	}
	ann, err := json.Marshal(in.Annotations)
	if err != nil {
		return Incident{}, fmt.Errorf("open incident: annotations: %w", err)
	}
	if len(in.Data) == 0 {
		in.Data = json.RawMessage("{}")
	}
	tx, err := s.sql.BeginTx(ctx, nil)
	if err != nil {
		return Incident{}, fmt.Errorf("open incident: %w", err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `INSERT INTO alert_incidents
		(fingerprint, alertname, labels, annotations, state, opened_at, updated_at, data)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		in.Fingerprint, in.AlertName, string(labels), string(ann), in.State,
		in.OpenedAt.UTC().Format(timeFormat), in.OpenedAt.UTC().Format(timeFormat), string(in.Data))
	if err != nil {
		return Incident{}, fmt.Errorf("open incident: %w", err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return Incident{}, fmt.Errorf("open incident: %w", err)
	}
	first.IncidentID = id
	if err := insertStep(ctx, tx, first); err != nil {
		return Incident{}, err
	}
	if err := tx.Commit(); err != nil {
		return Incident{}, fmt.Errorf("open incident: commit: %w", err)
	}
	in.ID, in.Version, in.UpdatedAt = id, 1, in.OpenedAt
	return in, nil
}

func insertStep(ctx context.Context, tx *sql.Tx, st IncidentStep) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO alert_steps (incident_id, at, from_state, to_state, actor, action, result)
		VALUES (?, ?, ?, ?, ?, ?, ?)`,
		st.IncidentID, st.At.UTC().Format(timeFormat), st.From, st.To, st.Actor, st.Action, st.Result)
	if err != nil {
		return fmt.Errorf("record step of incident %d: %w", st.IncidentID, err)
	}
	return nil
}

// UpdateIncident stores the incident's new state and data and appends the
// step, if the incident is still at the version the caller read. Otherwise
// it returns ErrConflict and changes nothing.
func (s *DB) UpdateIncident(ctx context.Context, in Incident, step IncidentStep) (Incident, error) {
	if len(in.Data) == 0 {
		in.Data = json.RawMessage("{}")
	}
	tx, err := s.sql.BeginTx(ctx, nil)
	if err != nil {
		return Incident{}, fmt.Errorf("update incident %d: %w", in.ID, err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `UPDATE alert_incidents SET state = ?, updated_at = ?, data = ?, version = version + 1
		WHERE id = ? AND version = ?`,
		in.State, step.At.UTC().Format(timeFormat), string(in.Data), in.ID, in.Version)
	if err != nil {
		return Incident{}, fmt.Errorf("update incident %d: %w", in.ID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return Incident{}, fmt.Errorf("update incident %d: %w", in.ID, err)
	} else if n == 0 {
		return Incident{}, fmt.Errorf("update incident %d: %w", in.ID, ErrConflict)
	}
	step.IncidentID = in.ID
	if err := insertStep(ctx, tx, step); err != nil {
		return Incident{}, err
	}
	if err := tx.Commit(); err != nil {
		return Incident{}, fmt.Errorf("update incident %d: commit: %w", in.ID, err)
	}
	in.Version++
	in.UpdatedAt = step.At
	return in, nil
}

const incidentColumns = `id, fingerprint, alertname, labels, annotations, state, opened_at, updated_at, version, data`

func scanIncident(row interface{ Scan(...any) error }) (Incident, error) {
	var in Incident
	var labels, ann, opened, updated, data string
	if err := row.Scan(&in.ID, &in.Fingerprint, &in.AlertName, &labels, &ann, &in.State, &opened, &updated, &in.Version, &data); err != nil {
		return Incident{}, err
	}
	if err := json.Unmarshal([]byte(labels), &in.Labels); err != nil {
		return Incident{}, fmt.Errorf("incident %d: labels: %w", in.ID, err)
	}
	if err := json.Unmarshal([]byte(ann), &in.Annotations); err != nil {
		return Incident{}, fmt.Errorf("incident %d: annotations: %w", in.ID, err)
	}
	var err error
	if in.OpenedAt, err = time.Parse(timeFormat, opened); err != nil {
		return Incident{}, fmt.Errorf("incident %d: %w", in.ID, err)
	}
	if in.UpdatedAt, err = time.Parse(timeFormat, updated); err != nil {
		return Incident{}, fmt.Errorf("incident %d: %w", in.ID, err)
	}
	in.Data = json.RawMessage(data)
	return in, nil
}

// Incident returns one incident.
func (s *DB) Incident(ctx context.Context, id int64) (Incident, error) {
	in, err := scanIncident(s.queryRow(ctx, `SELECT `+incidentColumns+` FROM alert_incidents WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Incident{}, fmt.Errorf("incident %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return Incident{}, fmt.Errorf("incident %d: %w", id, err)
	}
	return in, nil
}

// Incidents returns incidents, newest first. With states given, only
// incidents in one of them; with fingerprint given, only that alert's.
func (s *DB) Incidents(ctx context.Context, fingerprint string, states ...string) ([]Incident, error) {
	q := `SELECT ` + incidentColumns + ` FROM alert_incidents WHERE 1=1`
	var args []any
	if fingerprint != "" {
		q += ` AND fingerprint = ?`
		args = append(args, fingerprint)
	}
	if len(states) > 0 {
		q += ` AND state IN (?` + repeatString(",?", len(states)-1) + `)`
		for _, st := range states {
			args = append(args, st)
		}
	}
	q += ` ORDER BY id DESC`
	rows, err := s.query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("query incidents: %w", err)
	}
	defer rows.Close()
	var out []Incident
	for rows.Next() {
		in, err := scanIncident(rows)
		if err != nil {
			return nil, fmt.Errorf("query incidents: %w", err)
		}
		out = append(out, in)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("query incidents: %w", err)
	}
	return out, nil
}

// IncidentSteps returns an incident's steps in order.
func (s *DB) IncidentSteps(ctx context.Context, id int64) ([]IncidentStep, error) {
	rows, err := s.query(ctx, `SELECT id, incident_id, at, from_state, to_state, actor, action, result
		FROM alert_steps WHERE incident_id = ? ORDER BY id`, id)
	if err != nil {
		return nil, fmt.Errorf("query steps of incident %d: %w", id, err)
	}
	defer rows.Close()
	var out []IncidentStep
	for rows.Next() {
		var st IncidentStep
		var at string
		if err := rows.Scan(&st.ID, &st.IncidentID, &at, &st.From, &st.To, &st.Actor, &st.Action, &st.Result); err != nil {
			return nil, fmt.Errorf("query steps of incident %d: %w", id, err)
		}
		if st.At, err = time.Parse(timeFormat, at); err != nil {
			return nil, fmt.Errorf("step %d: %w", st.ID, err)
		}
		out = append(out, st)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("query steps of incident %d: %w", id, err)
	}
	return out, nil
}

func repeatString(s string, n int) string {
	out := ""
	for range n {
		out += s
	}
	return out
}
