package store

import (
	"context"
	"errors"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func ledgerEntry(at time.Time, round int64, project string, after float64) LedgerEntry {
	return LedgerEntry{
		At: at, Round: round, Group: "g1", Direction: "produce", Project: project, Entity: "user=" + project,
		Mode: "enforce", Outcome: "written", Before: 100, After: after, Ideal: after, Target: after, Share: 100,
		Observed: 90, Rate: 91, Demand: 120, Forecast: 130, ThrottleMs: 2200, HotBroker: 3,
		Reasons:      []string{"borrowed_from", "demand_from_throttle"},
		BorrowedFrom: []LedgerTransfer{{"lender", 15}, {"(unreserved)", 5}},
	}
}

func TestLedgerAnswersWhyAtTime(t *testing.T) {
	ctx := context.Background()
	db := openTemp(t)
	t0 := time.Date(2026, 11, 23, 3, 0, 0, 0, time.UTC)
	for r := range int64(5) {
		at := t0.Add(time.Duration(r) * 15 * time.Second)
		lender := ledgerEntry(at, r, "lender", 80)
		lender.Reasons, lender.BorrowedFrom = []string{"lent_to"}, nil
		lender.LentTo = []LedgerTransfer{{"borrower", 20}}
		if err := db.RecordDecisions(ctx, []LedgerEntry{ledgerEntry(at, r, "borrower", 100+float64(r)*10), lender}); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name      string
		at        time.Time
		wantRound int64
		wantAfter float64
		wantErr   error
	}{
		{"exactly at a round", t0.Add(30 * time.Second), 2, 120, nil},
		{"between rounds", t0.Add(40 * time.Second), 2, 120, nil},
		{"after the last", t0.Add(time.Hour), 4, 140, nil},
		{"before the first", t0.Add(-time.Second), 0, 0, ErrNotFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e, err := db.DecisionAt(ctx, "borrower", "produce", tc.at)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if e.Round != tc.wantRound || e.After != tc.wantAfter {
				t.Fatalf("round %d after %v, want round %d after %v", e.Round, e.After, tc.wantRound, tc.wantAfter)
			}
			if !slices.Equal(e.Reasons, []string{"borrowed_from", "demand_from_throttle"}) {
				t.Fatalf("reasons %v", e.Reasons)
			}
			if len(e.BorrowedFrom) != 2 || e.BorrowedFrom[0] != (LedgerTransfer{"lender", 15}) {
				t.Fatalf("borrowed from %v", e.BorrowedFrom)
			}
			if e.ThrottleMs != 2200 || e.HotBroker != 3 || e.Entity != "user=borrower" || !e.At.Equal(t0.Add(time.Duration(tc.wantRound)*15*time.Second)) {
				t.Fatalf("inputs not kept: %+v", e)
			}
		})
	}
	if _, err := db.DecisionAt(ctx, "borrower", "fetch", t0.Add(time.Hour)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("fetch direction: err %v, want not found", err)
	}
	l, err := db.DecisionAt(ctx, "lender", "produce", t0.Add(time.Hour))
	if err != nil || len(l.LentTo) != 1 || l.LentTo[0].Project != "borrower" {
		t.Fatalf("lender: %+v, %v", l, err)
	}

	hist, err := db.DecisionHistory(ctx, "borrower", "", t0, t0.Add(time.Hour), 3)
	if err != nil {
		t.Fatal(err)
	}
	var rounds []int64
	for _, e := range hist {
		rounds = append(rounds, e.Round)
	}
	if !slices.Equal(rounds, []int64{2, 3, 4}) {
		t.Fatalf("history rounds %v, want the newest three oldest first", rounds)
	}
}

func TestLedgerKeepsNaNAsNaN(t *testing.T) {
	ctx := context.Background()
	db := openTemp(t)
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	e := ledgerEntry(at, 1, "p", 10)
	e.Demand, e.Forecast = math.NaN(), math.Inf(1)
	e.Outcome, e.Reasons = "held", []string{"held_bad_input"}
	if err := db.RecordDecisions(ctx, []LedgerEntry{e}); err != nil {
		t.Fatal(err)
	}
	got, err := db.DecisionAt(ctx, "p", "produce", at)
	if err != nil {
		t.Fatal(err)
	}
	if !math.IsNaN(got.Demand) || !math.IsNaN(got.Forecast) || got.After != 10 {
		t.Fatalf("demand %v forecast %v after %v", got.Demand, got.Forecast, got.After)
	}
}

func TestLedgerRoundIsAtomic(t *testing.T) {
	ctx := context.Background()
	db := openTemp(t)
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	bad := ledgerEntry(at, 1, "b", 10)
	bad.BorrowedFrom = []LedgerTransfer{{"x", math.NaN()}}
	err := db.RecordDecisions(ctx, []LedgerEntry{ledgerEntry(at, 1, "a", 10), bad})
	if err == nil {
		t.Fatal("a transfer of NaN bytes was recorded")
	}
	if _, err := db.DecisionAt(ctx, "a", "produce", at); !errors.Is(err, ErrNotFound) {
		t.Fatalf("half a round was recorded: %v", err)
	}
	if err := db.RecordDecisions(ctx, []LedgerEntry{{At: at}}); err == nil {
		t.Fatal("an entry without a project was recorded")
	}
}

// The ledger grows by every project and direction each round and is kept
// for weeks; a history query must seek its time range in the index, not
// scan the project's whole past.
func TestDecisionHistoryUsesTheTimeIndex(t *testing.T) {
	db, err := Open(context.Background(), filepath.Join(t.TempDir(), "h.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, n := range []int{1, 2} {
		args := []any{"p", "produce", "fetch"}[:1+n]
		args = append(args, 0, 1, 10)
		joined := queryPlan(t, db, historyQuery(n), args...)
		if !strings.Contains(joined, "USING INDEX ledger_decisions_project (project=? AND direction=? AND at_ms>? AND at_ms<?)") {
			t.Errorf("%d direction(s): the query does not seek the time range:\n%s", n, joined)
		}
	}
}
