package store

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"time"
)

func init() {
	registerMigration("signals_001_forecasts", `
CREATE TABLE detector_signals (
	id        INTEGER PRIMARY KEY,
	at        TEXT    NOT NULL,
	at_ms     INTEGER NOT NULL,
	project   TEXT    NOT NULL,
	direction TEXT    NOT NULL,
	rate      REAL,
	expected  REAL,
	upper     REAL,
	score     REAL,
	state     TEXT    NOT NULL
);
CREATE INDEX detector_signals_project ON detector_signals(project, direction, at_ms);
CREATE INDEX detector_signals_at ON detector_signals(at_ms);
`)
}

// SignalEntry is the detector's forecast for one project and direction in
// one round: the rate it saw, the rate it expected one horizon ahead
// (the baseline), the upper bound of that forecast (what the limiter takes
// as demand), the anomaly score in [0,1] and the shift state. Rates are
// bytes/s per broker. NaN is stored as NULL and read back as NaN.
type SignalEntry struct {
	At                           time.Time
	Project, Direction           string
	Rate, Expected, Upper, Score float64
	State                        string
}

// RecordSignals stores one round's forecasts in one transaction: a round's
// signals are recorded whole or not at all.
func (s *DB) RecordSignals(ctx context.Context, es []SignalEntry) error {
	if len(es) == 0 {
		return nil
	}
	tx, err := s.sql.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("record signals: %w", err)
	}
	defer tx.Rollback()
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO detector_signals
		(at, at_ms, project, direction, rate, expected, upper, score, state)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return fmt.Errorf("record signals: %w", err)
	}
	defer stmt.Close()
	for _, e := range es {
		if e.Project == "" || e.At.IsZero() {
			return fmt.Errorf("record signal: entry without project or time (project %q, direction %q)", e.Project, e.Direction)
		}
		if e.Direction != "produce" && e.Direction != "fetch" {
			return fmt.Errorf("record signal %s: direction %q is neither produce nor fetch", e.Project, e.Direction)
		}
		if _, err := stmt.ExecContext(ctx, e.At.UTC().Format(timeFormat), e.At.UnixMilli(), e.Project, e.Direction,
			num(e.Rate), num(e.Expected), num(e.Upper), num(e.Score), e.State); err != nil {
			return fmt.Errorf("record signal %s (%s): %w", e.Project, e.Direction, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("record signals: commit: %w", err)
	}
	return nil
}

// Signals returns the forecasts in [from, to], oldest first, at most limit
// of them (the newest when there are more; 1000 when limit is not
// positive). An empty project means every project, an empty direction
// both.
func (s *DB) Signals(ctx context.Context, project, direction string, from, to time.Time, limit int) ([]SignalEntry, error) {
	if limit <= 0 {
		limit = 1000
	}
	dirs := []any{direction}
	if direction == "" {
		dirs = []any{"fetch", "produce"}
	}
	args := []any{}
	if project != "" {
		args = append(args, project)
	}
	args = append(append(args, dirs...), from.UnixMilli(), to.UnixMilli(), limit)
	rows, err := s.query(ctx, signalsQuery(project != "", len(dirs)), args...)
	if err != nil {
		return nil, fmt.Errorf("signals for %q: %w", project, err)
	}
	defer rows.Close()
	var out []SignalEntry
	for rows.Next() {
		var (
			e                            SignalEntry
			at                           string
			rate, expected, upper, score sql.NullFloat64
		)
		if err := rows.Scan(&at, &e.Project, &e.Direction, &rate, &expected, &upper, &score, &e.State); err != nil {
			return nil, fmt.Errorf("signals for %q: %w", project, err)
		}
		if e.At, err = time.Parse(timeFormat, at); err != nil {
			return nil, fmt.Errorf("signal time %q: %w", at, err)
		}
		for _, f := range []struct {
			dst *float64
			src sql.NullFloat64
		}{{&e.Rate, rate}, {&e.Expected, expected}, {&e.Upper, upper}, {&e.Score, score}} {
			*f.dst = math.NaN()
			if f.src.Valid {
				*f.dst = f.src.Float64
			}
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("signals for %q: %w", project, err)
	}
	return out, nil
}

// signalsQuery is Signals' query, with or without a project, for n
// directions. Each form names its columns so that an index bounds the
// time range (see DecisionHistory).
func signalsQuery(byProject bool, n int) string {
	in := "?"
	if n == 2 {
		in = "?, ?"
	}
	where := `direction IN (` + in + `) AND at_ms BETWEEN ? AND ?`
	if byProject {
		where = `project = ? AND ` + where
	}
	return `SELECT at, project, direction, rate, expected, upper, score, state FROM (
		SELECT * FROM detector_signals WHERE ` + where + `
		ORDER BY at_ms DESC, id DESC LIMIT ?) ORDER BY at_ms, id`
}

// PruneSignals deletes forecasts older than before and returns how many
// went: the same retention as the ledger's.
func (s *DB) PruneSignals(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.sql.ExecContext(ctx, `DELETE FROM detector_signals WHERE at_ms < ?`, before.UnixMilli())
	if err != nil {
		return 0, fmt.Errorf("prune signals before %s: %w", before.UTC().Format(time.RFC3339), err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("prune signals: %w", err)
	}
	return n, nil
}
