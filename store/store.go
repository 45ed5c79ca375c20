// Package store owns Headroom's persistence: one SQLite file (pure Go,
// modernc.org/sqlite) holding the decision ledger, policy overrides, the
// audit trail and the alert lifecycle.
//
// Each domain keeps its schema and queries in its own file and registers its
// migrations from init with registerMigration; Open applies the ones a file
// lacks, in name order, each in its own transaction. The package must not
// import the components that use it.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// migration is one schema change, applied once.
type migration struct {
	name string // unique; applied in name order, so prefix it with its domain and a number
	sql  string
}

var migrations []migration

// registerMigration adds a migration. Call it from init only.
func registerMigration(name, sql string) {
	for _, m := range migrations {
		if m.name == name {
			panic("store: duplicate migration " + name)
		}
	}
	migrations = append(migrations, migration{name: name, sql: sql})
}

// DB is an open store.
type DB struct {
	sql *sql.DB // the one writer connection
	// read is a pool of query-only connections for the store's reads: in
	// WAL mode they run beside each other and beside the writer, so one
	// long read does not queue every other request behind it.
	read *sql.DB
	path string

	mu    sync.Mutex // guards stmts
	stmts map[string]*sql.Stmt

	sinkMu sync.Mutex // guards sink
	sink   func(context.Context, []Change)
}

// Open opens (creating if needed) the store at path and brings its schema up
// to date. The file uses WAL so readers never block the writer.
func Open(ctx context.Context, path string) (*DB, error) {
	if path == "" {
		return nil, errors.New("open store: empty path")
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("open store %s: %w", path, err)
		}
	}
	dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=synchronous(FULL)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	// One writer at a time is SQLite's model; a single connection also keeps
	// transactions simple and avoids SQLITE_BUSY between our own goroutines.
	db.SetMaxOpenConns(1)
	s := &DB{sql: db, path: path, stmts: map[string]*sql.Stmt{}}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	read, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=query_only(1)")
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s for reading: %w", path, err)
	}
	read.SetMaxOpenConns(readConns)
	read.SetMaxIdleConns(readConns)
	if err := read.PingContext(ctx); err != nil {
		read.Close()
		db.Close()
		return nil, fmt.Errorf("open store %s for reading: %w", path, err)
	}
	s.read = read
	return s, nil
}

// Close closes the store.
func (s *DB) Close() error {
	s.mu.Lock()
	for q, st := range s.stmts {
		st.Close()
		delete(s.stmts, q)
	}
	s.mu.Unlock()
	return errors.Join(s.read.Close(), s.sql.Close())
}

// readConns bounds the read pool.
const readConns = 4

// prepared returns the statement for q, preparing it on first use. The
// API reads the same few queries many times a second; parsing each one
// again would cost more than running it.
func (s *DB) prepared(q string) (*sql.Stmt, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st, ok := s.stmts[q]; ok {
		return st, nil
	}
	// Not the caller's context: a cancelled request must not leave a
	// statement behind that later callers would find closed.
	st, err := s.read.PrepareContext(context.Background(), q)
	if err != nil {
		return nil, err
	}
	s.stmts[q] = st
	return st, nil
}

// query runs a read through a prepared statement on the read pool.
func (s *DB) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	st, err := s.prepared(q)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

// queryRow runs a one-row read through a prepared statement. A statement
// that does not prepare is run directly, which reports the same error
// through Scan.
func (s *DB) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	st, err := s.prepared(q)
	if err != nil {
		return s.read.QueryRowContext(ctx, q, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

// Path returns the file the store lives in.
func (s *DB) Path() string { return s.path }

// SQL returns the underlying handle, for packages that keep their own
// tables in this file.
func (s *DB) SQL() *sql.DB { return s.sql }

func (s *DB) migrate(ctx context.Context) error {
	if _, err := s.sql.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		name TEXT PRIMARY KEY,
		applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))
	)`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	ms := append([]migration(nil), migrations...)
	sort.Slice(ms, func(i, j int) bool { return ms[i].name < ms[j].name })
	for _, m := range ms {
		if err := s.apply(ctx, m); err != nil {
			return err
		}
	}
	return nil
}

func (s *DB) apply(ctx context.Context, m migration) error {
	tx, err := s.sql.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migration %s: %w", m.name, err)
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE name = ?`, m.name).Scan(&n); err != nil {
		return fmt.Errorf("migration %s: %w", m.name, err)
	}
	if n > 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return fmt.Errorf("migration %s: %w", m.name, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations(name) VALUES (?)`, m.name); err != nil {
		return fmt.Errorf("migration %s: %w", m.name, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migration %s: commit: %w", m.name, err)
	}
	return nil
}
