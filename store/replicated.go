package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"
)

// Replicated state. When several replicas run, every change to the shared
// state (overrides, audit, component state, the ledger, the alert
// lifecycle) is handed to the change sink
// after it commits; the replicas publish it to internal topics and every
// replica, the writer included, feeds it back through ApplyChange. Applying
// a change twice, or an older change after a newer one, leaves the store as
// it was: a replica may replay its topics from any offset.

func init() {
	registerMigration("ha_001_audit_origin", `
ALTER TABLE audit ADD COLUMN origin TEXT;
CREATE UNIQUE INDEX audit_origin ON audit(origin);
`)
	registerMigration("ha_002_ledger_batches", `
CREATE TABLE ledger_batches (origin TEXT PRIMARY KEY);
`)
}

// Change kinds.
const (
	ChangeOverride = "override"
	ChangeAudit    = "audit"
	ChangeState    = "state"
	ChangeLedger   = "ledger"
	// An incident at a version, with the step that made it: keyed by
	// incident on the state topic (its current state), and keyed by step
	// on the events topic (its history).
	ChangeIncident     = "incident"
	ChangeIncidentStep = "incident_step"
	// An alert state received from Alertmanager by any replica, and its
	// being handled by the active one.
	ChangeNotification = "notification"
	// A lifecycle action asked for through a replica's API, and the
	// active replica's answer.
	ChangeAlertRequest = "alert_request"
	ChangeAlertAnswer  = "alert_answer"
)

// Change is one committed change of the shared state. Key is unique per
// keyed item (compaction keeps the last value per key); audit records have
// a key of their own each.
type Change struct {
	Kind  string          `json:"kind"`
	Key   string          `json:"key"`
	Value json.RawMessage `json:"value"`
}

// overrideChange is an override's value in a change; Deleted marks a
// deletion at Version (kept, not a tombstone, so that an older put
// replayed after it does not bring the override back).
type overrideChange struct {
	Override
	Deleted bool `json:"deleted,omitempty"`
}

type auditChange struct {
	AuditRecord
	Origin string `json:"origin"`
}

type stateChange struct {
	Name      string `json:"name"`
	Value     []byte `json:"value"`
	UpdatedMs int64  `json:"updated_ms"`
}

// SetChangeSink sets the function that receives every change of the shared
// state after it commits (nil: none), the changes of one write together.
// It is called synchronously, so a caller whose write returned knows the
// sink has seen it.
func (s *DB) SetChangeSink(f func(context.Context, []Change)) {
	s.sinkMu.Lock()
	s.sink = f
	s.sinkMu.Unlock()
}

func (s *DB) emit(ctx context.Context, cs ...Change) {
	s.sinkMu.Lock()
	f := s.sink
	s.sinkMu.Unlock()
	if f == nil || len(cs) == 0 {
		return
	}
	f(ctx, cs)
}

func overrideKey(kind, name string) string { return "override/" + kind + "/" + name }

func newOrigin() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func auditChangeOf(a AuditRecord, origin string) Change {
	return Change{Kind: ChangeAudit, Key: "audit/" + origin, Value: mustJSON(auditChange{AuditRecord: a, Origin: origin})}
}

// ApplyChange applies a change another replica (or this one) published.
// It is idempotent, and an override or state older than the one stored is
// ignored. It does not call the change sink.
func (s *DB) ApplyChange(ctx context.Context, c Change) error {
	return s.ApplyChanges(ctx, []Change{c})
}

// ApplyChanges applies changes in one transaction (one write to disk for a
// batch of records). A change that does not apply is left out and
// reported; the others are applied.
func (s *DB) ApplyChanges(ctx context.Context, cs []Change) error {
	tx, err := s.sql.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("apply %d changes: %w", len(cs), err)
	}
	defer tx.Rollback()
	var errs []error
	for _, c := range cs {
		if _, err := tx.ExecContext(ctx, `SAVEPOINT change`); err != nil {
			return fmt.Errorf("apply change %s: %w", c.Key, err)
		}
		if err := s.applyChange(ctx, tx, c); err != nil {
			errs = append(errs, err)
			if _, err := tx.ExecContext(ctx, `ROLLBACK TO change`); err != nil {
				return errors.Join(append(errs, fmt.Errorf("apply change %s: %w", c.Key, err))...)
			}
		}
		if _, err := tx.ExecContext(ctx, `RELEASE change`); err != nil {
			return errors.Join(append(errs, fmt.Errorf("apply change %s: %w", c.Key, err))...)
		}
	}
	if err := tx.Commit(); err != nil {
		return errors.Join(append(errs, fmt.Errorf("apply %d changes: commit: %w", len(cs), err))...)
	}
	return errors.Join(errs...)
}

func (s *DB) applyChange(ctx context.Context, tx *sql.Tx, c Change) error {
	switch c.Kind {
	case ChangeOverride:
		var oc overrideChange
		if err := json.Unmarshal(c.Value, &oc); err != nil {
			return fmt.Errorf("apply change %s: %w", c.Key, err)
		}
		return s.applyOverride(ctx, tx, oc)
	case ChangeAudit:
		var ac auditChange
		if err := json.Unmarshal(c.Value, &ac); err != nil {
			return fmt.Errorf("apply change %s: %w", c.Key, err)
		}
		if ac.Origin == "" {
			return fmt.Errorf("apply change %s: audit record without origin", c.Key)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO audit (at, actor, action, target, before, after, origin) VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT(origin) DO NOTHING`,
			ac.At.UTC().Format(timeFormat), ac.Actor, ac.Action, ac.Target, nullJSON(ac.Before), nullJSON(ac.After), ac.Origin); err != nil {
			return fmt.Errorf("apply change %s: %w", c.Key, err)
		}
		return nil
	case ChangeLedger:
		var lc ledgerChange
		if err := json.Unmarshal(c.Value, &lc); err != nil {
			return fmt.Errorf("apply change %s: %w", c.Key, err)
		}
		return s.applyLedger(ctx, tx, lc)
	case ChangeState:
		var sc stateChange
		if err := json.Unmarshal(c.Value, &sc); err != nil {
			return fmt.Errorf("apply change %s: %w", c.Key, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO component_state(name, value, updated_ms) VALUES (?, ?, ?)
			ON CONFLICT(name) DO UPDATE SET value = excluded.value, updated_ms = excluded.updated_ms
			WHERE excluded.updated_ms >= component_state.updated_ms`, sc.Name, sc.Value, sc.UpdatedMs); err != nil {
			return fmt.Errorf("apply change %s: %w", c.Key, err)
		}
		return nil
	case ChangeIncident, ChangeIncidentStep:
		var ic incidentChange
		if err := json.Unmarshal(c.Value, &ic); err != nil {
			return fmt.Errorf("apply change %s: %w", c.Key, err)
		}
		return s.applyIncident(ctx, tx, ic)
	case ChangeNotification:
		var nc notificationChange
		if err := json.Unmarshal(c.Value, &nc); err != nil {
			return fmt.Errorf("apply change %s: %w", c.Key, err)
		}
		return s.applyNotification(ctx, tx, nc)
	case ChangeAlertRequest:
		var r AlertRequest
		if err := json.Unmarshal(c.Value, &r); err != nil {
			return fmt.Errorf("apply change %s: %w", c.Key, err)
		}
		return s.applyAlertRequest(ctx, tx, r)
	case ChangeAlertAnswer:
		var a alertAnswer
		if err := json.Unmarshal(c.Value, &a); err != nil {
			return fmt.Errorf("apply change %s: %w", c.Key, err)
		}
		return s.applyAlertAnswer(ctx, tx, a)
	default:
		return fmt.Errorf("apply change %s: unknown kind %q", c.Key, c.Kind)
	}
}

// applyOverride stores a replicated override unless the store already has
// a newer version. Equal versions are applied, so that two replicas that
// both wrote one version converge on the one last in the topic.
func (s *DB) applyOverride(ctx context.Context, tx *sql.Tx, oc overrideChange) error {
	o := oc.Override
	cur, err := overrideTx(ctx, tx, o.Kind, o.Name)
	exists := err == nil
	if err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	if exists && cur.Version > o.Version {
		return nil
	}
	if oc.Deleted {
		if exists {
			if _, err := tx.ExecContext(ctx, `DELETE FROM overrides WHERE kind = ? AND name = ?`, o.Kind, o.Name); err != nil {
				return fmt.Errorf("apply override %s/%s: %w", o.Kind, o.Name, err)
			}
		}
		return nil
	}
	if err := upsertOverrideTx(ctx, tx, o); err != nil {
		return fmt.Errorf("apply override %s/%s: %w", o.Kind, o.Name, err)
	}
	return nil
}

// ChangeTopicKind says which internal topic a change belongs to: "state"
// (compacted, keyed) or "events" (append-only).
func ChangeTopicKind(c Change) string {
	switch c.Kind {
	case ChangeAudit, ChangeLedger, ChangeIncidentStep, ChangeNotification, ChangeAlertRequest, ChangeAlertAnswer:
		return "events"
	}
	return "state"
}

func stateChangeOf(name string, value []byte, at time.Time) Change {
	return Change{Kind: ChangeState, Key: "state/" + name, Value: mustJSON(stateChange{Name: name, Value: value, UpdatedMs: at.UnixMilli()})}
}

// ledgerChange is one round's entries; NaN travels as null.
type ledgerChange struct {
	Origin  string       `json:"origin"`
	Entries []ledgerWire `json:"entries"`
}

type ledgerWire struct {
	At                                           time.Time        `json:"at"`
	Round                                        int64            `json:"round"`
	Group, Direction, Project, Entity            string           `json:",omitempty"`
	Mode, Outcome                                string           `json:",omitempty"`
	Before, After, Ideal, Target, Share          *float64         `json:",omitempty"`
	Observed, Rate, Demand, Forecast, ThrottleMs *float64         `json:",omitempty"`
	HotBroker                                    int32            `json:",omitempty"`
	Reasons                                      []string         `json:",omitempty"`
	BorrowedFrom, LentTo                         []LedgerTransfer `json:",omitempty"`
	Note, Error                                  string           `json:",omitempty"`
}

func wireNum(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

func fromWire(p *float64) float64 {
	if p == nil {
		return math.NaN()
	}
	return *p
}

func ledgerChangeOf(es []LedgerEntry, origin string) Change {
	lc := ledgerChange{Origin: origin}
	for _, e := range es {
		lc.Entries = append(lc.Entries, ledgerWire{At: e.At, Round: e.Round, Group: e.Group, Direction: e.Direction, Project: e.Project,
			Entity: e.Entity, Mode: e.Mode, Outcome: e.Outcome,
			Before: wireNum(e.Before), After: wireNum(e.After), Ideal: wireNum(e.Ideal), Target: wireNum(e.Target), Share: wireNum(e.Share),
			Observed: wireNum(e.Observed), Rate: wireNum(e.Rate), Demand: wireNum(e.Demand), Forecast: wireNum(e.Forecast), ThrottleMs: wireNum(e.ThrottleMs),
			HotBroker: e.HotBroker, Reasons: e.Reasons, BorrowedFrom: e.BorrowedFrom, LentTo: e.LentTo, Note: e.Note, Error: e.Error})
	}
	return Change{Kind: ChangeLedger, Key: "ledger/" + origin, Value: mustJSON(lc)}
}

// applyLedger inserts a round's entries unless their batch is already in.
func (s *DB) applyLedger(ctx context.Context, tx *sql.Tx, lc ledgerChange) error {
	if lc.Origin == "" {
		return errors.New("apply ledger batch: no origin")
	}
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM ledger_batches WHERE origin = ?`, lc.Origin).Scan(&n); err != nil {
		return fmt.Errorf("apply ledger batch %s: %w", lc.Origin, err)
	}
	if n > 0 {
		return nil
	}
	es := make([]LedgerEntry, 0, len(lc.Entries))
	for _, w := range lc.Entries {
		es = append(es, LedgerEntry{At: w.At, Round: w.Round, Group: w.Group, Direction: w.Direction, Project: w.Project,
			Entity: w.Entity, Mode: w.Mode, Outcome: w.Outcome,
			Before: fromWire(w.Before), After: fromWire(w.After), Ideal: fromWire(w.Ideal), Target: fromWire(w.Target), Share: fromWire(w.Share),
			Observed: fromWire(w.Observed), Rate: fromWire(w.Rate), Demand: fromWire(w.Demand), Forecast: fromWire(w.Forecast), ThrottleMs: fromWire(w.ThrottleMs),
			HotBroker: w.HotBroker, Reasons: w.Reasons, BorrowedFrom: w.BorrowedFrom, LentTo: w.LentTo, Note: w.Note, Error: w.Error})
	}
	return insertDecisions(ctx, tx, es, lc.Origin)
}
