package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

func init() {
	registerMigration("state_001_components", `
CREATE TABLE component_state (
	name       TEXT PRIMARY KEY,
	value      BLOB    NOT NULL,
	updated_ms INTEGER NOT NULL
);
`)
}

// ErrNoState is returned by State when nothing was saved under a name.
var ErrNoState = errors.New("no saved state")

// PutState saves a component's state under name, replacing what was there,
// so that a restarted process resumes instead of relearning (the detector's
// baselines, for one).
func (s *DB) PutState(ctx context.Context, name string, value []byte, at time.Time) error {
	if _, err := s.sql.ExecContext(ctx, `INSERT INTO component_state(name, value, updated_ms) VALUES (?, ?, ?)
ON CONFLICT(name) DO UPDATE SET value = excluded.value, updated_ms = excluded.updated_ms`, name, value, at.UnixMilli()); err != nil {
		return fmt.Errorf("save state %s: %w", name, err)
	}
	s.emit(ctx, stateChangeOf(name, value, at))
	return nil
}

// State returns the state saved under name and when it was saved, or
// ErrNoState.
func (s *DB) State(ctx context.Context, name string) ([]byte, time.Time, error) {
	var v []byte
	var ms int64
	err := s.sql.QueryRowContext(ctx, `SELECT value, updated_ms FROM component_state WHERE name = ?`, name).Scan(&v, &ms)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, time.Time{}, fmt.Errorf("read state %s: %w", name, ErrNoState)
	}
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("read state %s: %w", name, err)
	}
	return v, time.UnixMilli(ms), nil
}
