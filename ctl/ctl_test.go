package ctl

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/headroomhq/headroom/api"
	"github.com/headroomhq/headroom/config"
	"github.com/headroomhq/headroom/store"
)

// headroomAPI serves the real API on a real store over loopback.
func headroomAPI(t *testing.T) string {
	t.Helper()
	cfg, err := config.LoadFile("../examples/headroom.yml")
	if err != nil {
		t.Fatal(err)
	}
	cfg.API.Tokens = []config.APIToken{{Name: "otto", Role: config.RoleOperator, SHA256: api.HashToken("op")}}
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "h.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.RecordDecisions(context.Background(), []store.LedgerEntry{{At: time.Now().Add(-time.Minute), Group: "events",
		Direction: "produce", Project: "checkout", Outcome: "written", After: 40 << 20, Share: 30 << 20, Demand: 38 << 20,
		BorrowedFrom: []store.LedgerTransfer{{Project: "search", Bytes: 10 << 20}}}}); err != nil {
		t.Fatal(err)
	}
	a, err := api.New(api.Options{Config: func() *config.Config { return cfg }, Store: db})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestOperations(t *testing.T) {
	url := headroomAPI(t)
	ctx := context.Background()
	var out bytes.Buffer
	c := &Client{URL: url, Token: "op", Out: &out}
	tests := []struct {
		name string
		run  func() error
		want []string
	}{
		{"list projects", func() error { return c.List(ctx, "projects") }, []string{"NAME", "checkout", "30MiB/s", "user=search,client-id=indexer"}},
		{"list groups", func() error { return c.List(ctx, "groups") }, []string{"events", "100MiB/s", "0.85"}},
		{"show project", func() error { return c.Show(ctx, "project", "audit-log") }, []string{"audit-log", "batch", "10MiB/s"}},
		{"quotas", func() error { return c.List(ctx, "quotas") }, []string{"checkout", "40MiB/s", "written"}},
		{"override", func() error {
			return c.Override(ctx, "project", "checkout", map[string]any{"produce": map[string]any{"weight": 3}})
		}, []string{"checkout", "1", "otto"}},
		{"override again uses the ETag", func() error {
			return c.Override(ctx, "project", "checkout", map[string]any{"produce": map[string]any{"weight": 4}})
		}, []string{"checkout", "2"}},
		{"explain", func() error { return c.Explain(ctx, "checkout", "produce", time.Time{}) }, []string{"borrowed 10MiB/s from search"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out.Reset()
			if err := tt.run(); err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(out.String(), w) {
					t.Fatalf("output lacks %q:\n%s", w, out.String())
				}
			}
		})
	}
}

func TestJSONOutputAndErrors(t *testing.T) {
	url := headroomAPI(t)
	ctx := context.Background()
	var out bytes.Buffer
	c := &Client{URL: url, Token: "op", Out: &out, JSON: true}
	if err := c.List(ctx, "groups"); err != nil {
		t.Fatal(err)
	}
	var groups []map[string]any
	if err := json.Unmarshal(out.Bytes(), &groups); err != nil || len(groups) != 2 {
		t.Fatalf("JSON output: %v %s", err, out.String())
	}
	err := c.Override(ctx, "project", "checkout", map[string]any{"produce": map[string]any{"floor": 100 << 20}})
	if err == nil || !strings.Contains(err.Error(), "422") || !strings.Contains(err.Error(), "produce.floor") {
		t.Fatalf("validation error not shown with its path: %v", err)
	}
	if err := (&Client{URL: url, Token: "wrong", Out: &out}).List(ctx, "projects"); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("bad token: %v", err)
	}
	if err := c.List(ctx, "brokers"); err == nil {
		t.Fatal("listing an unknown collection succeeded")
	}
	if err := c.Alert(ctx, "acknowledge", 42, ""); err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("alerts without the alert loop: %v", err)
	}
}
