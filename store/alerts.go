package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

func init() {
	registerMigration("alerts_001_notifications", `
CREATE TABLE alert_notifications (
	key           TEXT PRIMARY KEY,
	group_key     TEXT NOT NULL,
	receiver      TEXT NOT NULL,
	fingerprint   TEXT NOT NULL,
	status        TEXT NOT NULL CHECK (status IN ('firing', 'resolved')),
	alertname     TEXT NOT NULL,
	labels        TEXT NOT NULL,
	annotations   TEXT NOT NULL,
	starts_at     TEXT NOT NULL,
	ends_at       TEXT NOT NULL,
	generator_url TEXT NOT NULL,
	received_at   TEXT NOT NULL,
	deliveries    INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX alert_notifications_fingerprint ON alert_notifications(fingerprint, starts_at);
`)
}

// AlertNotification is one alert state received from Alertmanager.
type AlertNotification struct {
	// Key is the idempotency key; a second notification with the same key
	// is a duplicate.
	Key          string
	GroupKey     string
	Receiver     string
	Fingerprint  string
	Status       string
	AlertName    string
	Labels       map[string]string
	Annotations  map[string]string
	StartsAt     time.Time
	EndsAt       time.Time
	GeneratorURL string
	ReceivedAt   time.Time
	// Deliveries counts how often this state arrived (duplicates included).
	Deliveries int
}

const timeFormat = time.RFC3339Nano

// RecordAlertNotifications stores notifications in one transaction and
// returns the indexes of those it had not seen before. Duplicates only bump
// their delivery count. When it returns nil, everything is committed.
func (s *DB) RecordAlertNotifications(ctx context.Context, ns []AlertNotification) (fresh []int, err error) {
	tx, err := s.sql.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("record alert notifications: %w", err)
	}
	defer tx.Rollback()
	for i, n := range ns {
		labels, err := json.Marshal(n.Labels)
		if err != nil {
			return nil, fmt.Errorf("record alert notification %s: labels: %w", n.Key, err)
		}
		ann, err := json.Marshal(n.Annotations)
		if err != nil {
			return nil, fmt.Errorf("record alert notification %s: annotations: %w", n.Key, err)
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO alert_notifications
			(key, group_key, receiver, fingerprint, status, alertname, labels, annotations, starts_at, ends_at, generator_url, received_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT(key) DO UPDATE SET deliveries = deliveries + 1`,
			n.Key, n.GroupKey, n.Receiver, n.Fingerprint, n.Status, n.AlertName, string(labels), string(ann),
			n.StartsAt.UTC().Format(timeFormat), n.EndsAt.UTC().Format(timeFormat), n.GeneratorURL, n.ReceivedAt.UTC().Format(timeFormat))
		if err != nil {
			return nil, fmt.Errorf("record alert notification %s: %w", n.Key, err)
		}
		// An insert and a conflict update both change one row; the delivery
		// count tells them apart.
		var deliveries int
		if err := tx.QueryRowContext(ctx, `SELECT deliveries FROM alert_notifications WHERE key = ?`, n.Key).Scan(&deliveries); err != nil {
			return nil, fmt.Errorf("record alert notification %s: %w", n.Key, err)
		}
		if deliveries == 1 {
			fresh = append(fresh, i)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("record alert notifications: commit: %w", err)
	}
	return fresh, nil
}

// AlertNotifications returns the recorded notifications for a fingerprint,
// oldest first; an empty fingerprint returns all of them.
func (s *DB) AlertNotifications(ctx context.Context, fingerprint string) ([]AlertNotification, error) {
	if fingerprint != "" {
		return s.alertNotifications(ctx, ` WHERE fingerprint = ? ORDER BY received_at, key`, fingerprint)
	}
	return s.alertNotifications(ctx, ` ORDER BY received_at, key`)
}

func (s *DB) alertNotifications(ctx context.Context, where string, args ...any) ([]AlertNotification, error) {
	q := `SELECT key, group_key, receiver, fingerprint, status, alertname, labels, annotations,
		starts_at, ends_at, generator_url, received_at, deliveries FROM alert_notifications` + where
	rows, err := s.query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("query alert notifications: %w", err)
	}
	defer rows.Close()
	var out []AlertNotification
	for rows.Next() {
		var n AlertNotification
		var labels, ann, starts, ends, received string
		if err := rows.Scan(&n.Key, &n.GroupKey, &n.Receiver, &n.Fingerprint, &n.Status, &n.AlertName, &labels, &ann,
			&starts, &ends, &n.GeneratorURL, &received, &n.Deliveries); err != nil {
			return nil, fmt.Errorf("scan alert notification: %w", err)
		}
		if err := json.Unmarshal([]byte(labels), &n.Labels); err != nil {
			return nil, fmt.Errorf("alert notification %s: labels: %w", n.Key, err)
		}
		if err := json.Unmarshal([]byte(ann), &n.Annotations); err != nil {
			return nil, fmt.Errorf("alert notification %s: annotations: %w", n.Key, err)
		}
		for _, p := range []struct {
			s string
			t *time.Time
		}{{starts, &n.StartsAt}, {ends, &n.EndsAt}, {received, &n.ReceivedAt}} {
			if *p.t, err = time.Parse(timeFormat, p.s); err != nil {
				return nil, fmt.Errorf("alert notification %s: time %q: %w", n.Key, p.s, err)
			}
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("query alert notifications: %w", err)
	}
	return out, nil
}
