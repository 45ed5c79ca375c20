// Package apitest serves the real API on a real SQLite store over
// loopback, for the tests of the API's clients (api/client, ctl). The
// configuration is examples/headroom.yml with one operator token, and the
// store holds one recorded decision and one damage entry, so that every
// read route has something to answer. Only tests import this package.
//
// It must not import the collector, the detector, the limiter's round or
// daemon: it stands up the API alone.
package apitest

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/headroomhq/headroom/api"
	"github.com/headroomhq/headroom/config"
	"github.com/headroomhq/headroom/store"
)

// The operator token the API accepts, and the name it audits it under.
const (
	Token = "op"
	Actor = "otto"
)

// Env is a served API.
type Env struct {
	URL    string
	Config *config.Config
	Store  *store.DB
}

// Example loads examples/headroom.yml with the operator token added.
func Example(t testing.TB) *config.Config {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	cfg, err := config.LoadFile(filepath.Join(filepath.Dir(file), "..", "..", "examples", "headroom.yml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.API.Tokens = []config.APIToken{{Name: Actor, Role: config.RoleOperator, SHA256: api.HashToken(Token)}}
	return cfg
}

// Serve serves the API over a new store with one decision a minute before
// now (checkout's produce quota at 40 MiB/s against a 30 MiB/s share, 10
// MiB/s borrowed from search) and one damage entry (checkout: 1 MiB
// throttled under Headroom, 100 MiB under static shares). Everything stops
// when the test ends.
func Serve(t testing.TB) *Env {
	t.Helper()
	cfg := Example(t)
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "h.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	at := time.Now().Add(-time.Minute).UTC().Truncate(time.Second)
	if err := db.RecordDecisions(context.Background(), []store.LedgerEntry{{At: at, Group: "events",
		Direction: "produce", Project: "checkout", Outcome: "written", After: 40 << 20, Share: 30 << 20, Demand: 38 << 20,
		BorrowedFrom: []store.LedgerTransfer{{Project: "search", Bytes: 10 << 20}}}}); err != nil {
		t.Fatal(err)
	}
	if err := db.RecordDamage(context.Background(), []store.DamageEntry{
		{At: at, Project: "checkout", Direction: "produce", HeadroomBytes: 1 << 20, StaticBytes: 100 << 20}}); err != nil {
		t.Fatal(err)
	}
	a, err := api.New(api.Options{Config: func() *config.Config { return cfg }, Store: db})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	return &Env{URL: srv.URL, Config: cfg, Store: db}
}
