package store

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"testing"
	"time"
)

// capture records the changes a store hands to its sink.
func capture(db *DB) *[]Change {
	var cs []Change
	db.SetChangeSink(func(_ context.Context, c []Change) { cs = append(cs, c...) })
	return &cs
}

func TestChangesReplayIdempotently(t *testing.T) {
	ctx := context.Background()
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	writer := openTemp(t)
	cs := capture(writer)
	a := AuditRecord{At: at, Actor: "ops", Action: "put", Target: "project/alpha"}
	o1, err := writer.PutOverride(ctx, Override{Kind: "project", Name: "alpha", Spec: json.RawMessage(`{"reason":"one"}`), UpdatedBy: "ops", UpdatedAt: at}, 0, a)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := writer.PutOverride(ctx, Override{Kind: "project", Name: "alpha", Spec: json.RawMessage(`{"reason":"two"}`), UpdatedBy: "ops", UpdatedAt: at}, o1.Version, a); err != nil {
		t.Fatal(err)
	}
	if _, err := writer.PutOverride(ctx, Override{Kind: "group", Name: "g", Spec: json.RawMessage(`{"freeze":true}`), UpdatedBy: "ops", UpdatedAt: at}, 0, a); err != nil {
		t.Fatal(err)
	}
	if err := writer.DeleteOverride(ctx, "group", "g", 1, a); err != nil {
		t.Fatal(err)
	}
	if err := writer.RecordAudit(ctx, AuditRecord{At: at, Actor: "am", Action: "ack", Target: "incident/1"}); err != nil {
		t.Fatal(err)
	}
	if err := writer.PutState(ctx, "detector", []byte("learnt"), at); err != nil {
		t.Fatal(err)
	}
	if err := writer.RecordDecisions(ctx, []LedgerEntry{
		{At: at, Round: 7, Group: "g", Direction: "produce", Project: "alpha", Entity: "client-id=alpha", Mode: "enforce", Outcome: "written",
			Before: math.NaN(), After: 1000, Ideal: 1000, Target: 900, Share: 800, Observed: 700, Rate: 700, Demand: 900, Forecast: 950, ThrottleMs: math.NaN(),
			Reasons: []string{"borrow"}, BorrowedFrom: []LedgerTransfer{{Project: "beta", Bytes: 200}}},
	}); err != nil {
		t.Fatal(err)
	}
	// 4 override changes with their 4 audit records, 1 audit, 1 state, 1
	// ledger batch.
	if len(*cs) != 11 {
		t.Fatalf("%d changes, want 11: %+v", len(*cs), *cs)
	}

	for _, tc := range []struct {
		name  string
		order func([]Change) []Change
	}{
		{"once", func(c []Change) []Change { return c }},
		{"twice", func(c []Change) []Change { return append(append([]Change(nil), c...), c...) }},
		{"older after newer", func(c []Change) []Change {
			out := append([]Change(nil), c...)
			return append(out, c[0], c[2]) // alpha v1 and its audit, again
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := openTemp(t)
			rcs := capture(r)
			for _, c := range tc.order(*cs) {
				if err := r.ApplyChange(ctx, c); err != nil {
					t.Fatal(err)
				}
			}
			if len(*rcs) != 0 {
				t.Errorf("applying changes emitted %d changes of its own", len(*rcs))
			}
			got, err := r.GetOverride(ctx, "project", "alpha")
			if err != nil {
				t.Fatal(err)
			}
			if got.Version != 2 || string(got.Spec) != `{"reason":"two"}` {
				t.Errorf("alpha is %d %s, want version 2 {\"reason\":\"two\"}", got.Version, got.Spec)
			}
			if _, err := r.GetOverride(ctx, "group", "g"); !errors.Is(err, ErrNotFound) {
				t.Errorf("deleted group override: err %v, want ErrNotFound", err)
			}
			audit, err := r.Audit(ctx, 100)
			if err != nil {
				t.Fatal(err)
			}
			if len(audit) != 5 {
				t.Errorf("%d audit records, want the writer's 5", len(audit))
			}
			hist, err := r.DecisionHistory(ctx, "alpha", "produce", at.Add(-time.Hour), at.Add(time.Hour), 100)
			if err != nil {
				t.Fatal(err)
			}
			if len(hist) != 1 {
				t.Fatalf("%d ledger entries, want the writer's 1", len(hist))
			}
			if e := hist[0]; e.Round != 7 || !math.IsNaN(e.Before) || e.After != 1000 || !math.IsNaN(e.ThrottleMs) || len(e.BorrowedFrom) != 1 || e.BorrowedFrom[0].Bytes != 200 {
				t.Errorf("ledger entry %+v does not match the writer's", e)
			}
			if next, err := r.NextRound(ctx); err != nil || next != 8 {
				t.Errorf("next round %d (%v), want 8: the ledger's numbering continues", next, err)
			}
			v, when, err := r.State(ctx, "detector")
			if err != nil || string(v) != "learnt" || !when.Equal(at) {
				t.Errorf("state %q at %s (%v), want learnt at %s", v, when, err, at)
			}
		})
	}
}

func TestOlderStateDoesNotReplaceNewer(t *testing.T) {
	ctx := context.Background()
	w := openTemp(t)
	cs := capture(w)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, v := range []string{"old", "new"} {
		if err := w.PutState(ctx, "detector", []byte(v), t0.Add(time.Duration(i)*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	r := openTemp(t)
	for _, c := range []Change{(*cs)[1], (*cs)[0]} {
		if err := r.ApplyChange(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if v, _, _ := r.State(ctx, "detector"); string(v) != "new" {
		t.Errorf("state %q, want new", v)
	}
}
