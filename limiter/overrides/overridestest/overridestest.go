// Package overridestest is the override service over a real SQLite store
// in a test's temporary directory, with examples/headroom.yml as the
// configuration and a fixed clock, for the tests of the service and of
// its callers (the API and the playbooks). Only tests import this package.
//
// It must not import the API, alerting, the round or daemon: its callers
// import it.
package overridestest

import (
	"context"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/headroomhq/headroom/config"
	"github.com/headroomhq/headroom/limiter/overrides"
	"github.com/headroomhq/headroom/store"
)

// Start is the fixtures' clock when a test begins: 2026-11-23 03:00 UTC.
var Start = time.Date(2026, 11, 23, 3, 0, 0, 0, time.UTC)

// Fixture is an override Service over a real store.
type Fixture struct {
	DB     *store.DB
	Config *config.Config
	// Service reads Config and Now. Its Replan records into Replans; a
	// test may replace it.
	Service *overrides.Service
	// Now is the service's clock; tests move it.
	Now time.Time
	// Replans are the groups the service asked to replan, in order.
	Replans []string
}

// New returns a Fixture over a new store, at Start.
func New(t testing.TB) *Fixture {
	t.Helper()
	f := &Fixture{DB: OpenStore(t, ""), Config: ExampleConfig(t), Now: Start}
	f.Service = &overrides.Service{Store: f.DB, Config: func() *config.Config { return f.Config }, Now: func() time.Time { return f.Now },
		Replan: func(_ context.Context, group string) { f.Replans = append(f.Replans, group) }}
	return f
}

// Seed writes an override of kind and name by actor straight to the store,
// with its audit record, and returns its version: the service is not
// involved, so a test can set up what an operator or a playbook left.
func (f *Fixture) Seed(t testing.TB, kind, name, actor string, spec []byte, version int) int {
	t.Helper()
	o, err := f.DB.PutOverride(context.Background(), store.Override{Kind: kind, Name: name, Spec: spec, UpdatedBy: actor, UpdatedAt: f.Now},
		version, store.AuditRecord{At: f.Now, Actor: actor, Action: overrides.ActionPut, Target: kind + "/" + name})
	if err != nil {
		t.Fatal(err)
	}
	return o.Version
}

// OpenStore opens the store at path, a new one in the test's temporary
// directory when path is empty, and closes it when the test ends.
func OpenStore(t testing.TB, path string) *store.DB {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "headroom.db")
	}
	db, err := store.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// ExampleConfig loads examples/headroom.yml.
func ExampleConfig(t testing.TB) *config.Config {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	cfg, err := config.LoadFile(filepath.Join(filepath.Dir(file), "..", "..", "..", "examples", "headroom.yml"))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}
