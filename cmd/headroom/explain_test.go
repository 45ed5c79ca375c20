package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/headroomhq/headroom/store"
)

func TestExplain(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "headroom.db")
	db, err := store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 23, 3, 0, 0, 0, time.UTC)
	err = db.RecordDecisions(ctx, []store.LedgerEntry{{
		At: t0, Round: 9, Group: "g1", Direction: "produce", Project: "orders", Entity: "user=orders", Mode: "enforce",
		Outcome: "written", Before: 10 << 20, After: 30 << 20, Share: 20 << 20, Demand: 28 << 20, Target: 30 << 20,
		Reasons: []string{"borrowed_from"}, BorrowedFrom: []store.LedgerTransfer{{Project: "billing", Bytes: 10 << 20}},
	}})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	now := func() time.Time { return t0.Add(time.Minute) }
	cases := []struct {
		name     string
		args     explainArgs
		code     int
		contains string
	}{
		{"now, both directions", explainArgs{project: "orders", storePath: path, direction: "both"}, 0, "It borrowed 10.0 MiB/s: billing 10.0 MiB/s"},
		{"at a time before any decision", explainArgs{project: "orders", storePath: path, direction: "produce", at: "2026-11-23T02:00:00Z"}, 1, "No produce decision recorded"},
		{"unknown project", explainArgs{project: "nobody", storePath: path, direction: "both"}, 1, "No fetch decision recorded for project nobody"},
		{"bad time", explainArgs{project: "orders", storePath: path, direction: "both", at: "yesterday"}, 2, `--at "yesterday"`},
		{"missing store", explainArgs{project: "orders", storePath: filepath.Join(t.TempDir(), "none.db"), direction: "both"}, 2, "none.db"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := runExplain(ctx, &out, &errOut, tc.args, now)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, out.String(), errOut.String())
			}
			if all := out.String() + errOut.String(); !strings.Contains(all, tc.contains) {
				t.Fatalf("output lacks %q:\n%s", tc.contains, all)
			}
		})
	}
}
