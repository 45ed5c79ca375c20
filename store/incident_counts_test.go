package store

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

func TestIncidentCounts(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "h.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if c, err := db.IncidentCounts(ctx); err != nil || len(c) != 0 {
		t.Fatalf("empty store: %v %v", c, err)
	}
	now := time.Unix(1_700_000_000, 0)
	for i, state := range []string{"firing", "firing", "resolved"} {
		in := Incident{Fingerprint: string(rune('a' + i)), AlertName: "GroupSaturated", State: state, OpenedAt: now, UpdatedAt: now}
		if _, err := db.OpenIncident(ctx, in, IncidentStep{At: now, To: state, Actor: "test", Action: "open"}); err != nil {
			t.Fatal(err)
		}
	}
	c, err := db.IncidentCounts(ctx)
	if err != nil || c["firing"] != 2 || c["resolved"] != 1 || len(c) != 2 {
		t.Fatalf("counts %v %v, want firing 2, resolved 1", c, err)
	}
}
