package store

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func openTemp(t *testing.T) *DB {
	t.Helper()
	db, err := Open(context.Background(), filepath.Join(t.TempDir(), "sub", "headroom.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// queryPlan is SQLite's plan for query with args, one step a line.
func queryPlan(t *testing.T, db *DB, query string, args ...any) string {
	t.Helper()
	rows, err := db.SQL().Query("EXPLAIN QUERY PLAN "+query, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(plan, "\n")
}

// TestRetentionAndReopen: for each table kept for a retention period, ten
// daily rows (the d-th carrying d+1) pruned before day 7 leave days 7 to 9,
// and they are there after the store is closed and opened again.
func TestRetentionAndReopen(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	day := func(d int) time.Time { return t0.Add(time.Duration(d) * 24 * time.Hour) }
	for _, tc := range []struct {
		name   string
		record func(ctx context.Context, db *DB) error
		prune  func(db *DB, ctx context.Context, before time.Time) (int64, error)
		// read returns the rows left in days 0 to 30, and the first one's value.
		read func(ctx context.Context, db *DB) (int, float64, error)
	}{
		{"ledger", func(ctx context.Context, db *DB) error {
			var es []LedgerEntry
			for d := range 10 {
				es = append(es, ledgerEntry(day(d), int64(d), "p", float64(d+1)))
			}
			return db.RecordDecisions(ctx, es)
		}, (*DB).PruneLedger, func(ctx context.Context, db *DB) (int, float64, error) {
			hist, err := db.DecisionHistory(ctx, "p", "produce", t0, day(30), 0)
			if err != nil || len(hist) == 0 {
				return len(hist), 0, err
			}
			return len(hist), hist[0].After, nil
		}},
		{"signals", func(ctx context.Context, db *DB) error {
			var es []SignalEntry
			for d := range 10 {
				es = append(es, signal(day(d), "p", "produce", float64(d+1)))
			}
			return db.RecordSignals(ctx, es)
		}, (*DB).PruneSignals, func(ctx context.Context, db *DB) (int, float64, error) {
			got, err := db.Signals(ctx, "p", "produce", t0, day(30), 0)
			if err != nil || len(got) == 0 {
				return len(got), 0, err
			}
			return len(got), got[0].Rate, nil
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			path := filepath.Join(t.TempDir(), "h.db")
			db, err := Open(ctx, path)
			if err != nil {
				t.Fatal(err)
			}
			if err := tc.record(ctx, db); err != nil {
				t.Fatal(err)
			}
			n, err := tc.prune(db, ctx, day(7))
			if err != nil || n != 7 {
				t.Fatalf("pruned %d, %v; want 7", n, err)
			}
			db.Close()
			db, err = Open(ctx, path)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if left, first, err := tc.read(ctx, db); err != nil || left != 3 || first != 8 {
				t.Fatalf("after reopen: %d rows, the first %v (%v); want 3, the first 8", left, first, err)
			}
		})
	}
}

func TestOpenIsIdempotent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "h.db")
	for i := range 2 {
		db, err := Open(context.Background(), path)
		if err != nil {
			t.Fatalf("open #%d: %v", i, err)
		}
		var n int
		if err := db.SQL().QueryRow(`SELECT count(*) FROM schema_migrations`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != len(migrations) {
			t.Fatalf("open #%d: %d migrations recorded, want %d", i, n, len(migrations))
		}
		var mode string
		if err := db.SQL().QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
			t.Fatalf("journal mode %q, %v", mode, err)
		}
		db.Close()
	}
}

func TestOpenFailsClearly(t *testing.T) {
	if _, err := Open(context.Background(), ""); err == nil {
		t.Fatal("empty path accepted")
	}
	// A directory where the file should be.
	dir := t.TempDir()
	if _, err := Open(context.Background(), dir); err == nil {
		t.Fatal("opened a directory as a store")
	}
}

func TestRecordAlertNotificationsIsIdempotentAndDurable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "h.db")
	db, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 23, 2, 0, 0, 0, time.UTC)
	n := func(key, status string) AlertNotification {
		return AlertNotification{
			Key: key, GroupKey: "{}:{alertname=\"X\"}", Receiver: "headroom", Fingerprint: "fp1", Status: status,
			AlertName: "X", Labels: map[string]string{"alertname": "X", "project": "a"}, Annotations: map[string]string{"summary": "s"},
			StartsAt: t0, EndsAt: t0.Add(time.Hour), GeneratorURL: "http://h/x", ReceivedAt: t0.Add(time.Second),
		}
	}
	ctx := context.Background()
	fresh, err := db.RecordAlertNotifications(ctx, []AlertNotification{n("k1", "firing"), n("k2", "resolved")})
	if err != nil || len(fresh) != 2 {
		t.Fatalf("first record: fresh %v err %v", fresh, err)
	}
	fresh, err = db.RecordAlertNotifications(ctx, []AlertNotification{n("k1", "firing"), n("k3", "firing")})
	if err != nil || len(fresh) != 1 || fresh[0] != 1 {
		t.Fatalf("second record: fresh %v err %v", fresh, err)
	}
	db.Close()

	// Everything survives a reopen.
	db = openAt(t, path)
	got, err := db.AlertNotifications(ctx, "fp1")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("got %d notifications, want 3", len(got))
	}
	byKey := map[string]AlertNotification{}
	for _, g := range got {
		byKey[g.Key] = g
	}
	if byKey["k1"].Deliveries != 2 || byKey["k2"].Deliveries != 1 {
		t.Fatalf("deliveries k1=%d k2=%d", byKey["k1"].Deliveries, byKey["k2"].Deliveries)
	}
	if g := byKey["k1"]; !g.StartsAt.Equal(t0) || g.Labels["project"] != "a" || g.Annotations["summary"] != "s" {
		t.Fatalf("round trip lost data: %+v", g)
	}
}

func TestRecordRollsBackOnError(t *testing.T) {
	db := openTemp(t)
	ctx := context.Background()
	good := AlertNotification{Key: "ok", Status: "firing", Fingerprint: "f"}
	bad := AlertNotification{Key: "bad", Status: "pending", Fingerprint: "f"} // violates the CHECK
	if _, err := db.RecordAlertNotifications(ctx, []AlertNotification{good, bad}); err == nil {
		t.Fatal("invalid status accepted")
	}
	got, err := db.AlertNotifications(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Fatalf("partial batch committed: %+v", got)
	}
}

func openAt(t *testing.T, path string) *DB {
	t.Helper()
	db, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
