package store

import (
	"context"
	"database/sql"
	"fmt"
)

// NextRound is the index the next control round records: one past the
// highest in the ledger, or 0 for an empty ledger.
func (s *DB) NextRound(ctx context.Context) (int64, error) {
	var last sql.NullInt64
	if err := s.sql.QueryRowContext(ctx, `SELECT MAX(round) FROM ledger_decisions`).Scan(&last); err != nil {
		return 0, fmt.Errorf("read last round: %w", err)
	}
	if !last.Valid {
		return 0, nil
	}
	return last.Int64 + 1, nil
}
