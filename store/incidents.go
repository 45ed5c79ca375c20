package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
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
	// ID is derived from the fingerprint and the alert's start (see
	// IncidentID), so that every replica names an incident alike; files
	// older than replication keep their small sequential ids.
	ID          int64
	Fingerprint string
	// StartsAt is when the alert started (Alertmanager's startsAt); zero
	// on incidents recorded before it was kept.
	StartsAt    time.Time
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
	// ID is local to a store: replicas number steps by Seq.
	ID         int64
	IncidentID int64
	// Seq is the incident's version this step made: 1 for the opening
	// step, then one more per step.
	Seq int
	// Origin names the request that caused the step, if any (an action
	// asked for through another replica), so that it is done once.
	Origin   string
	At       time.Time
	From, To string
	Actor    string
	Action   string
	// Result is free text or JSON describing what the step did.
	Result string
}

// ErrConflict means the record changed since it was read.
var ErrConflict = errors.New("conflict: the record changed since it was read")

// ErrExists means the record is there already.
var ErrExists = errors.New("already exists")

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
	if in.ID == 0 {
		start := in.StartsAt
		if start.IsZero() {
			start = in.OpenedAt
		}
		in.ID = IncidentID(in.Fingerprint, start)
	}
	tx, err := s.sql.BeginTx(ctx, nil)
	if err != nil {
		return Incident{}, fmt.Errorf("open incident: %w", err)
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM alert_incidents WHERE id = ?`, in.ID).Scan(&n); err != nil {
		return Incident{}, fmt.Errorf("open incident %d: %w", in.ID, err)
	}
	if n > 0 {
		return Incident{}, fmt.Errorf("open incident %d: %w", in.ID, ErrExists)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO alert_incidents
		(id, fingerprint, alertname, labels, annotations, state, opened_at, updated_at, data, starts_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		in.ID, in.Fingerprint, in.AlertName, string(labels), string(ann), in.State,
		in.OpenedAt.UTC().Format(timeFormat), in.OpenedAt.UTC().Format(timeFormat), string(in.Data), nullTime(in.StartsAt)); err != nil {
		return Incident{}, fmt.Errorf("open incident %d: %w", in.ID, err)
	}
	first.IncidentID, first.Seq = in.ID, 1
	if err := insertStep(ctx, tx, first); err != nil {
		return Incident{}, err
	}
	if err := tx.Commit(); err != nil {
		return Incident{}, fmt.Errorf("open incident: commit: %w", err)
	}
	in.Version, in.UpdatedAt = 1, in.OpenedAt
	s.emit(ctx, incidentChangesOf(in, first)...)
	return in, nil
}

// IncidentID is the id of the incident of the alert with this fingerprint
// that started at startsAt. Every replica derives the same id, so that two
// of them never name different incidents alike nor one incident twice. It
// lies in [2^52, 2^53): above the sequential ids of older files, and exact
// as a JSON number in every client.
func IncidentID(fingerprint string, startsAt time.Time) int64 {
	h := sha256.Sum256([]byte(fingerprint + "\x00" + startsAt.UTC().Format(time.RFC3339Nano)))
	return int64(1<<52 | binary.BigEndian.Uint64(h[:8])&(1<<52-1))
}

func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format(timeFormat)
}

func insertStep(ctx context.Context, tx *sql.Tx, st IncidentStep) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO alert_steps (incident_id, seq, origin, at, from_state, to_state, actor, action, result)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		st.IncidentID, st.Seq, nullString(st.Origin), st.At.UTC().Format(timeFormat), st.From, st.To, st.Actor, st.Action, st.Result)
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
	step.IncidentID, step.Seq = in.ID, in.Version+1
	if err := insertStep(ctx, tx, step); err != nil {
		return Incident{}, err
	}
	if err := tx.Commit(); err != nil {
		return Incident{}, fmt.Errorf("update incident %d: commit: %w", in.ID, err)
	}
	in.Version++
	in.UpdatedAt = step.At
	s.emit(ctx, incidentChangesOf(in, step)...)
	return in, nil
}

const incidentColumns = `id, fingerprint, alertname, labels, annotations, state, opened_at, updated_at, version, data, starts_at`

func scanIncident(row interface{ Scan(...any) error }) (Incident, error) {
	var in Incident
	var labels, ann, opened, updated, data string
	var starts sql.NullString
	if err := row.Scan(&in.ID, &in.Fingerprint, &in.AlertName, &labels, &ann, &in.State, &opened, &updated, &in.Version, &data, &starts); err != nil {
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
	if starts.Valid {
		if in.StartsAt, err = time.Parse(timeFormat, starts.String); err != nil {
			return Incident{}, fmt.Errorf("incident %d: %w", in.ID, err)
		}
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
	rows, err := s.query(ctx, `SELECT id, incident_id, seq, coalesce(origin, ''), at, from_state, to_state, actor, action, result
		FROM alert_steps WHERE incident_id = ? ORDER BY seq, id`, id)
	if err != nil {
		return nil, fmt.Errorf("query steps of incident %d: %w", id, err)
	}
	defer rows.Close()
	var out []IncidentStep
	for rows.Next() {
		var st IncidentStep
		var at string
		if err := rows.Scan(&st.ID, &st.IncidentID, &st.Seq, &st.Origin, &at, &st.From, &st.To, &st.Actor, &st.Action, &st.Result); err != nil {
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
