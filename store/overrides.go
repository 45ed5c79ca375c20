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
	registerMigration("api_001_overrides_audit", `
CREATE TABLE overrides (
	kind       TEXT NOT NULL CHECK (kind IN ('project', 'group')),
	name       TEXT NOT NULL,
	spec       TEXT NOT NULL,
	expires_at TEXT,
	version    INTEGER NOT NULL,
	updated_by TEXT NOT NULL,
	updated_at TEXT NOT NULL,
	PRIMARY KEY (kind, name)
);
CREATE TABLE audit (
	id      INTEGER PRIMARY KEY AUTOINCREMENT,
	at      TEXT NOT NULL,
	actor   TEXT NOT NULL,
	action  TEXT NOT NULL,
	target  TEXT NOT NULL,
	before  TEXT NOT NULL,
	after   TEXT NOT NULL
);
CREATE INDEX audit_at ON audit(at);
`)
}

// Override is an operator's change to a project's or group's policy. Spec
// is owned by the API (JSON); the store keeps it opaque.
type Override struct {
	Kind      string // project or group
	Name      string
	Spec      json.RawMessage
	ExpiresAt *time.Time // nil: permanent
	// Version starts at 1 and increases on every change (ETag).
	Version   int
	UpdatedBy string
	UpdatedAt time.Time
}

// AuditRecord is one mutation: who, what, before and after.
type AuditRecord struct {
	ID     int64
	At     time.Time
	Actor  string
	Action string
	Target string
	Before json.RawMessage
	After  json.RawMessage
}

func nullJSON(b json.RawMessage) string {
	if len(b) == 0 {
		return "null"
	}
	return string(b)
}

// PutOverride creates or replaces an override and writes its audit record
// in the same transaction. expectVersion is the version the caller read: 0
// to create, which fails with ErrConflict if one exists; otherwise it must
// match the stored version.
func (s *DB) PutOverride(ctx context.Context, o Override, expectVersion int, audit AuditRecord) (Override, error) {
	tx, err := s.sql.BeginTx(ctx, nil)
	if err != nil {
		return Override{}, fmt.Errorf("put override %s/%s: %w", o.Kind, o.Name, err)
	}
	defer tx.Rollback()
	before, err := overrideTx(ctx, tx, o.Kind, o.Name)
	exists := err == nil
	if err != nil && !errors.Is(err, ErrNotFound) {
		return Override{}, err
	}
	if (exists && before.Version != expectVersion) || (!exists && expectVersion != 0) {
		return Override{}, fmt.Errorf("put override %s/%s: %w", o.Kind, o.Name, ErrConflict)
	}
	o.Version = expectVersion + 1
	if err := upsertOverrideTx(ctx, tx, o); err != nil {
		return Override{}, fmt.Errorf("put override %s/%s: %w", o.Kind, o.Name, err)
	}
	if exists {
		audit.Before = mustJSON(before)
	}
	audit.After = mustJSON(o)
	origin, err := insertAudit(ctx, tx, audit)
	if err != nil {
		return Override{}, err
	}
	if err := tx.Commit(); err != nil {
		return Override{}, fmt.Errorf("put override %s/%s: commit: %w", o.Kind, o.Name, err)
	}
	s.emit(ctx, Change{Kind: ChangeOverride, Key: overrideKey(o.Kind, o.Name), Value: mustJSON(overrideChange{Override: o})},
		auditChangeOf(audit, origin))
	return o, nil
}

// DeleteOverride removes an override at the expected version, with its
// audit record.
func (s *DB) DeleteOverride(ctx context.Context, kind, name string, expectVersion int, audit AuditRecord) error {
	tx, err := s.sql.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("delete override %s/%s: %w", kind, name, err)
	}
	defer tx.Rollback()
	before, err := overrideTx(ctx, tx, kind, name)
	if err != nil {
		return err
	}
	if before.Version != expectVersion {
		return fmt.Errorf("delete override %s/%s: %w", kind, name, ErrConflict)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM overrides WHERE kind = ? AND name = ?`, kind, name); err != nil {
		return fmt.Errorf("delete override %s/%s: %w", kind, name, err)
	}
	audit.Before, audit.After = mustJSON(before), json.RawMessage("null")
	origin, err := insertAudit(ctx, tx, audit)
	if err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("delete override %s/%s: commit: %w", kind, name, err)
	}
	s.emit(ctx, Change{Kind: ChangeOverride, Key: overrideKey(kind, name), Value: mustJSON(overrideChange{Override: before, Deleted: true})},
		auditChangeOf(audit, origin))
	return nil
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		// Only types of this package are marshalled; they always encode.
		panic(err)
	}
	return b
}

// insertAudit inserts a record under a new origin (its identity across
// replicas) and returns the origin.
func insertAudit(ctx context.Context, tx *sql.Tx, a AuditRecord) (string, error) {
	origin := newOrigin()
	if _, err := tx.ExecContext(ctx, `INSERT INTO audit (at, actor, action, target, before, after, origin) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		a.At.UTC().Format(timeFormat), a.Actor, a.Action, a.Target, nullJSON(a.Before), nullJSON(a.After), origin); err != nil {
		return "", fmt.Errorf("record audit: %w", err)
	}
	return origin, nil
}

// RecordAudit records a mutation made outside the override table (alert
// actions, for example).
func (s *DB) RecordAudit(ctx context.Context, a AuditRecord) error {
	tx, err := s.sql.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("record audit: %w", err)
	}
	defer tx.Rollback()
	origin, err := insertAudit(ctx, tx, a)
	if err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("record audit: commit: %w", err)
	}
	s.emit(ctx, auditChangeOf(a, origin))
	return nil
}

const overrideColumns = `kind, name, spec, expires_at, version, updated_by, updated_at`

func scanOverride(r scanner) (Override, error) {
	var o Override
	var spec, updated string
	var expires sql.NullString
	if err := r.Scan(&o.Kind, &o.Name, &spec, &expires, &o.Version, &o.UpdatedBy, &updated); err != nil {
		return Override{}, err
	}
	o.Spec = json.RawMessage(spec)
	var err error
	if o.UpdatedAt, err = time.Parse(timeFormat, updated); err != nil {
		return Override{}, fmt.Errorf("override %s/%s: %w", o.Kind, o.Name, err)
	}
	if expires.Valid {
		t, err := time.Parse(timeFormat, expires.String)
		if err != nil {
			return Override{}, fmt.Errorf("override %s/%s: %w", o.Kind, o.Name, err)
		}
		o.ExpiresAt = &t
	}
	return o, nil
}

// upsertOverrideTx writes o's row as it stands, version included: the one
// place both a local put and a replicated change write an override.
func upsertOverrideTx(ctx context.Context, tx *sql.Tx, o Override) error {
	var expires any
	if o.ExpiresAt != nil {
		expires = o.ExpiresAt.UTC().Format(timeFormat)
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO overrides (kind, name, spec, expires_at, version, updated_by, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT(kind, name) DO UPDATE SET spec = excluded.spec, expires_at = excluded.expires_at,
			version = excluded.version, updated_by = excluded.updated_by, updated_at = excluded.updated_at`,
		o.Kind, o.Name, string(o.Spec), expires, o.Version, o.UpdatedBy, o.UpdatedAt.UTC().Format(timeFormat))
	return err
}

func overrideTx(ctx context.Context, tx *sql.Tx, kind, name string) (Override, error) {
	o, err := scanOverride(tx.QueryRowContext(ctx, `SELECT `+overrideColumns+` FROM overrides WHERE kind = ? AND name = ?`, kind, name))
	if errors.Is(err, sql.ErrNoRows) {
		return Override{}, fmt.Errorf("override %s/%s: %w", kind, name, ErrNotFound)
	}
	if err != nil {
		return Override{}, fmt.Errorf("override %s/%s: %w", kind, name, err)
	}
	return o, nil
}

// GetOverride returns one override.
func (s *DB) GetOverride(ctx context.Context, kind, name string) (Override, error) {
	o, err := scanOverride(s.queryRow(ctx, `SELECT `+overrideColumns+` FROM overrides WHERE kind = ? AND name = ?`, kind, name))
	if errors.Is(err, sql.ErrNoRows) {
		return Override{}, fmt.Errorf("override %s/%s: %w", kind, name, ErrNotFound)
	}
	if err != nil {
		return Override{}, fmt.Errorf("override %s/%s: %w", kind, name, err)
	}
	return o, nil
}

// Overrides returns the overrides in force at now (expired ones are left
// out but kept on record until they are deleted).
func (s *DB) Overrides(ctx context.Context, now time.Time) ([]Override, error) {
	rows, err := s.query(ctx, `SELECT `+overrideColumns+` FROM overrides
		WHERE expires_at IS NULL OR expires_at > ? ORDER BY kind, name`, now.UTC().Format(timeFormat))
	if err != nil {
		return nil, fmt.Errorf("query overrides: %w", err)
	}
	defer rows.Close()
	var out []Override
	for rows.Next() {
		o, err := scanOverride(rows)
		if err != nil {
			return nil, fmt.Errorf("query overrides: %w", err)
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

// Audit returns the newest audit records, at most limit.
func (s *DB) Audit(ctx context.Context, limit int) ([]AuditRecord, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := s.query(ctx, `SELECT id, at, actor, action, target, before, after FROM audit ORDER BY id DESC LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("query audit: %w", err)
	}
	defer rows.Close()
	var out []AuditRecord
	for rows.Next() {
		var a AuditRecord
		var at, before, after string
		if err := rows.Scan(&a.ID, &at, &a.Actor, &a.Action, &a.Target, &before, &after); err != nil {
			return nil, fmt.Errorf("query audit: %w", err)
		}
		if a.At, err = time.Parse(timeFormat, at); err != nil {
			return nil, fmt.Errorf("audit %d: %w", a.ID, err)
		}
		a.Before, a.After = json.RawMessage(before), json.RawMessage(after)
		out = append(out, a)
	}
	return out, rows.Err()
}
