package store

import (
	"context"
	"fmt"
)

// IncidentCounts returns how many incidents are in each lifecycle state.
func (s *DB) IncidentCounts(ctx context.Context) (map[string]int, error) {
	rows, err := s.sql.QueryContext(ctx, `SELECT state, COUNT(*) FROM alert_incidents GROUP BY state`)
	if err != nil {
		return nil, fmt.Errorf("count incidents: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var state string
		var n int
		if err := rows.Scan(&state, &n); err != nil {
			return nil, fmt.Errorf("count incidents: %w", err)
		}
		out[state] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count incidents: %w", err)
	}
	return out, nil
}
