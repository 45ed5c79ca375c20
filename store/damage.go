package store

import (
	"context"
	"fmt"
	"math"
	"time"
)

func init() {
	registerMigration("damage_001_rounds", `
CREATE TABLE damage (
	id             INTEGER PRIMARY KEY,
	at             TEXT    NOT NULL,
	at_ms          INTEGER NOT NULL,
	project        TEXT    NOT NULL,
	direction      TEXT    NOT NULL,
	headroom_bytes REAL    NOT NULL,
	static_bytes   REAL    NOT NULL
);
CREATE INDEX damage_at ON damage(at_ms);
`)
}

// DamageEntry is one round's damage ledger for a project in one direction:
// the bytes throttled under Headroom's quota, and the bytes its static
// share would have throttled, both estimated from the round's observations.
type DamageEntry struct {
	At                         time.Time
	Project, Direction         string
	HeadroomBytes, StaticBytes float64
}

// DamageTotal sums the damage ledger of one project and direction over a
// span.
type DamageTotal struct {
	Project, Direction         string
	HeadroomBytes, StaticBytes float64
	Rounds                     int
}

// RecordDamage stores one round's damage entries in one transaction.
// Negative or non-finite bytes are refused: nothing of the round is stored.
func (s *DB) RecordDamage(ctx context.Context, es []DamageEntry) error {
	if len(es) == 0 {
		return nil
	}
	tx, err := s.sql.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("record damage: %w", err)
	}
	defer tx.Rollback()
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO damage (at, at_ms, project, direction, headroom_bytes, static_bytes)
		VALUES (?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return fmt.Errorf("record damage: %w", err)
	}
	defer stmt.Close()
	for _, e := range es {
		switch {
		case e.Project == "" || e.At.IsZero():
			return fmt.Errorf("record damage: entry without project or time (project %q)", e.Project)
		case e.Direction != "produce" && e.Direction != "fetch":
			return fmt.Errorf("record damage %s: direction %q is neither produce nor fetch", e.Project, e.Direction)
		case !(e.HeadroomBytes >= 0) || !(e.StaticBytes >= 0) || math.IsInf(e.HeadroomBytes, 0) || math.IsInf(e.StaticBytes, 0):
			return fmt.Errorf("record damage %s (%s): bytes %v and %v must be finite and not negative", e.Project, e.Direction, e.HeadroomBytes, e.StaticBytes)
		}
		if _, err := stmt.ExecContext(ctx, e.At.UTC().Format(timeFormat), e.At.UnixMilli(), e.Project, e.Direction, e.HeadroomBytes, e.StaticBytes); err != nil {
			return fmt.Errorf("record damage %s (%s): %w", e.Project, e.Direction, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("record damage: commit: %w", err)
	}
	return nil
}

// Damage sums the damage ledger per project and direction over [from, to],
// sorted by project then direction.
func (s *DB) Damage(ctx context.Context, from, to time.Time) ([]DamageTotal, error) {
	rows, err := s.sql.QueryContext(ctx, `SELECT project, direction, sum(headroom_bytes), sum(static_bytes), count(*)
		FROM damage WHERE at_ms >= ? AND at_ms <= ? GROUP BY project, direction ORDER BY project, direction`,
		from.UnixMilli(), to.UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("read damage: %w", err)
	}
	defer rows.Close()
	var out []DamageTotal
	for rows.Next() {
		var t DamageTotal
		if err := rows.Scan(&t.Project, &t.Direction, &t.HeadroomBytes, &t.StaticBytes, &t.Rounds); err != nil {
			return nil, fmt.Errorf("read damage: %w", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read damage: %w", err)
	}
	return out, nil
}

// PruneDamage deletes damage entries older than before.
func (s *DB) PruneDamage(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.sql.ExecContext(ctx, `DELETE FROM damage WHERE at_ms < ?`, before.UnixMilli())
	if err != nil {
		return 0, fmt.Errorf("prune damage before %s: %w", before.UTC().Format(time.RFC3339), err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("prune damage: %w", err)
	}
	return n, nil
}
