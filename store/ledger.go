package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"
)

func init() {
	registerMigration("ledger_001_decisions", `
CREATE TABLE ledger_decisions (
	id            INTEGER PRIMARY KEY,
	at            TEXT    NOT NULL,
	at_ms         INTEGER NOT NULL,
	round         INTEGER NOT NULL,
	grp           TEXT    NOT NULL,
	direction     TEXT    NOT NULL,
	project       TEXT    NOT NULL,
	entity        TEXT    NOT NULL,
	mode          TEXT    NOT NULL,
	outcome       TEXT    NOT NULL,
	quota_before  REAL,
	quota_after   REAL,
	ideal         REAL,
	target        REAL,
	share         REAL,
	observed      REAL,
	rate          REAL,
	demand        REAL,
	forecast      REAL,
	throttle_ms   REAL,
	hot_broker    INTEGER NOT NULL,
	reasons       TEXT    NOT NULL,
	borrowed_from TEXT    NOT NULL,
	lent_to       TEXT    NOT NULL,
	note          TEXT    NOT NULL,
	error         TEXT    NOT NULL
);
CREATE INDEX ledger_decisions_project ON ledger_decisions(project, direction, at_ms);
CREATE INDEX ledger_decisions_at ON ledger_decisions(at_ms);
`)
}

// LedgerEntry is one project's decision in one round and direction: the
// inputs the limiter saw, the quota it planned, what became of it, and why.
// Rates are bytes/s per broker. NaN is stored as NULL and read back as NaN.
type LedgerEntry struct {
	At        time.Time
	Round     int64
	Group     string
	Direction string
	Project   string
	// Entity is the Kafka client-quota entity, e.g. "user=a,client-id=b".
	Entity string
	// Mode is shadow or enforce.
	Mode string
	// Outcome is what happened to the planned quota: written, unchanged,
	// shadow, deferred (write budget), failed, held.
	Outcome string
	// Before is the quota in force, After the planned quota, Ideal the
	// allocation before hysteresis, Target what the project asked for.
	Before, After, Ideal, Target, Share float64
	// Inputs, at the project's hottest broker.
	Observed, Rate, Demand, Forecast, ThrottleMs float64
	HotBroker                                    int32
	Reasons                                      []string
	BorrowedFrom, LentTo                         []LedgerTransfer
	Note                                         string
	// Error is the Kafka error when the write failed.
	Error string
}

// LedgerTransfer is an amount lent or borrowed, bytes/s per broker.
type LedgerTransfer struct {
	Project string  `json:"project"`
	Bytes   float64 `json:"bytes"`
}

// RecordDecisions stores one round's entries in one transaction: a round
// is recorded whole or not at all.
func (s *DB) RecordDecisions(ctx context.Context, es []LedgerEntry) error {
	tx, err := s.sql.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("record decisions: %w", err)
	}
	defer tx.Rollback()
	origin := newOrigin()
	if err := insertDecisions(ctx, tx, es, origin); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("record decisions: commit: %w", err)
	}
	if len(es) > 0 {
		s.emit(ctx, ledgerChangeOf(es, origin))
	}
	return nil
}

// insertDecisions inserts a round's entries under origin, their batch's
// identity across replicas.
func insertDecisions(ctx context.Context, tx *sql.Tx, es []LedgerEntry, origin string) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO ledger_batches(origin) VALUES (?)`, origin); err != nil {
		return fmt.Errorf("record decisions: %w", err)
	}
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO ledger_decisions
		(at, at_ms, round, grp, direction, project, entity, mode, outcome,
		 quota_before, quota_after, ideal, target, share, observed, rate, demand, forecast, throttle_ms,
		 hot_broker, reasons, borrowed_from, lent_to, note, error)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return fmt.Errorf("record decisions: %w", err)
	}
	defer stmt.Close()
	for _, e := range es {
		if e.Project == "" || e.At.IsZero() {
			return fmt.Errorf("record decision: entry without project or time (project %q, round %d)", e.Project, e.Round)
		}
		reasons, err := json.Marshal(nonNil(e.Reasons))
		if err != nil {
			return fmt.Errorf("record decision %s: %w", e.Project, err)
		}
		from, err := marshalTransfers(e.BorrowedFrom)
		if err != nil {
			return fmt.Errorf("record decision %s: borrowed_from: %w", e.Project, err)
		}
		to, err := marshalTransfers(e.LentTo)
		if err != nil {
			return fmt.Errorf("record decision %s: lent_to: %w", e.Project, err)
		}
		if _, err := stmt.ExecContext(ctx, e.At.UTC().Format(timeFormat), e.At.UnixMilli(), e.Round, e.Group, e.Direction,
			e.Project, e.Entity, e.Mode, e.Outcome,
			num(e.Before), num(e.After), num(e.Ideal), num(e.Target), num(e.Share),
			num(e.Observed), num(e.Rate), num(e.Demand), num(e.Forecast), num(e.ThrottleMs),
			e.HotBroker, string(reasons), from, to, e.Note, e.Error); err != nil {
			return fmt.Errorf("record decision %s round %d: %w", e.Project, e.Round, err)
		}
	}
	return nil
}

const ledgerColumns = `at, round, grp, direction, project, entity, mode, outcome,
	quota_before, quota_after, ideal, target, share, observed, rate, demand, forecast, throttle_ms,
	hot_broker, reasons, borrowed_from, lent_to, note, error`

// DecisionAt returns the project's latest decision in direction at or
// before at: the one that set the quota it had then. It wraps ErrNotFound
// when there is none.
func (s *DB) DecisionAt(ctx context.Context, project, direction string, at time.Time) (LedgerEntry, error) {
	row := s.queryRow(ctx, `SELECT `+ledgerColumns+` FROM ledger_decisions
		WHERE project = ? AND direction = ? AND at_ms <= ?
		ORDER BY at_ms DESC, id DESC LIMIT 1`, project, direction, at.UnixMilli())
	e, err := scanEntry(row)
	if errors.Is(err, sql.ErrNoRows) {
		return LedgerEntry{}, fmt.Errorf("decision for %s (%s) at %s: %w", project, direction, at.UTC().Format(time.RFC3339), ErrNotFound)
	}
	if err != nil {
		return LedgerEntry{}, fmt.Errorf("decision for %s (%s) at %s: %w", project, direction, at.UTC().Format(time.RFC3339), err)
	}
	return e, nil
}

// DecisionHistory returns the project's decisions in [from, to], oldest
// first, at most limit of them (the newest when there are more). An empty
// direction means both.
func (s *DB) DecisionHistory(ctx context.Context, project, direction string, from, to time.Time, limit int) ([]LedgerEntry, error) {
	if limit <= 0 {
		limit = 1000
	}
	// Both forms name the direction, so that the (project, direction,
	// at_ms) index bounds the time range; "(? = '' OR direction = ?)"
	// would make SQLite scan every decision the project ever had.
	dirs := []any{direction}
	if direction == "" {
		dirs = []any{"fetch", "produce"}
	}
	rows, err := s.query(ctx, historyQuery(len(dirs)),
		append(append([]any{project}, dirs...), from.UnixMilli(), to.UnixMilli(), limit)...)
	if err != nil {
		return nil, fmt.Errorf("decision history for %s: %w", project, err)
	}
	defer rows.Close()
	var out []LedgerEntry
	for rows.Next() {
		e, err := scanEntry(rows)
		if err != nil {
			return nil, fmt.Errorf("decision history for %s: %w", project, err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("decision history for %s: %w", project, err)
	}
	return out, nil
}

// historyQuery is DecisionHistory's query for n directions.
func historyQuery(n int) string {
	in := "?"
	if n == 2 {
		in = "?, ?"
	}
	return `SELECT ` + ledgerColumns + ` FROM (
		SELECT * FROM ledger_decisions
		WHERE project = ? AND direction IN (` + in + `) AND at_ms BETWEEN ? AND ?
		ORDER BY at_ms DESC, id DESC LIMIT ?) ORDER BY at_ms, id`
}

// PruneLedger deletes decisions older than before and returns how many
// went: the ledger's retention.
func (s *DB) PruneLedger(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.sql.ExecContext(ctx, `DELETE FROM ledger_decisions WHERE at_ms < ?`, before.UnixMilli())
	if err != nil {
		return 0, fmt.Errorf("prune ledger before %s: %w", before.UTC().Format(time.RFC3339), err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("prune ledger: %w", err)
	}
	return n, nil
}

type scanner interface{ Scan(dest ...any) error }

func scanEntry(r scanner) (LedgerEntry, error) {
	var (
		e                                 LedgerEntry
		at, reasons, from, to             string
		before, after, ideal, target, sh  sql.NullFloat64
		obs, rate, demand, fc, throttleMs sql.NullFloat64
	)
	if err := r.Scan(&at, &e.Round, &e.Group, &e.Direction, &e.Project, &e.Entity, &e.Mode, &e.Outcome,
		&before, &after, &ideal, &target, &sh, &obs, &rate, &demand, &fc, &throttleMs,
		&e.HotBroker, &reasons, &from, &to, &e.Note, &e.Error); err != nil {
		return LedgerEntry{}, err
	}
	t, err := time.Parse(timeFormat, at)
	if err != nil {
		return LedgerEntry{}, fmt.Errorf("ledger time %q: %w", at, err)
	}
	e.At = t
	for _, f := range []struct {
		dst *float64
		src sql.NullFloat64
	}{{&e.Before, before}, {&e.After, after}, {&e.Ideal, ideal}, {&e.Target, target}, {&e.Share, sh},
		{&e.Observed, obs}, {&e.Rate, rate}, {&e.Demand, demand}, {&e.Forecast, fc}, {&e.ThrottleMs, throttleMs}} {
		*f.dst = math.NaN()
		if f.src.Valid {
			*f.dst = f.src.Float64
		}
	}
	if err := json.Unmarshal([]byte(reasons), &e.Reasons); err != nil {
		return LedgerEntry{}, fmt.Errorf("ledger reasons of %s: %w", e.Project, err)
	}
	if err := json.Unmarshal([]byte(from), &e.BorrowedFrom); err != nil {
		return LedgerEntry{}, fmt.Errorf("ledger borrowed_from of %s: %w", e.Project, err)
	}
	if err := json.Unmarshal([]byte(to), &e.LentTo); err != nil {
		return LedgerEntry{}, fmt.Errorf("ledger lent_to of %s: %w", e.Project, err)
	}
	return e, nil
}

// num stores NaN and infinities as NULL: SQLite has no NaN.
func num(x float64) any {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return nil
	}
	return x
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func marshalTransfers(ts []LedgerTransfer) (string, error) {
	if ts == nil {
		ts = []LedgerTransfer{}
	}
	for _, t := range ts {
		if math.IsNaN(t.Bytes) || math.IsInf(t.Bytes, 0) {
			return "", fmt.Errorf("transfer with %s: amount %v is not a number", t.Project, t.Bytes)
		}
	}
	b, err := json.Marshal(ts)
	return string(b), err
}
