package store

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"
)

func signal(at time.Time, project, direction string, rate float64) SignalEntry {
	return SignalEntry{At: at, Project: project, Direction: direction,
		Rate: rate, Expected: rate * 1.1, Upper: rate * 1.5, Score: 0.25, State: "normal"}
}

func TestSignalsRoundTripAndFilter(t *testing.T) {
	ctx := context.Background()
	db := openTemp(t)
	t0 := time.Date(2026, 11, 23, 3, 0, 0, 0, time.UTC)
	for r := range 5 {
		at := t0.Add(time.Duration(r) * 15 * time.Second)
		if err := db.RecordSignals(ctx, []SignalEntry{
			signal(at, "a", "produce", float64(100+r)),
			signal(at, "a", "fetch", float64(200+r)),
			signal(at, "b", "produce", float64(300+r)),
		}); err != nil {
			t.Fatal(err)
		}
	}
	all := t0.Add(time.Hour)
	cases := []struct {
		name               string
		project, direction string
		from, to           time.Time
		limit              int
		wantN              int
		wantFirstRate      float64
	}{
		{"one project one direction", "a", "produce", t0, all, 0, 5, 100},
		{"one project both directions", "a", "", t0, all, 0, 10, 100},
		{"every project", "", "produce", t0, all, 0, 10, 100},
		{"everything", "", "", t0, all, 0, 15, 100},
		{"time range", "a", "produce", t0.Add(15 * time.Second), t0.Add(45 * time.Second), 0, 3, 101},
		{"limit keeps the newest", "a", "produce", t0, all, 2, 2, 103},
		{"unknown project", "zz", "", t0, all, 0, 0, 0},
		{"before the first", "a", "", t0.Add(-time.Hour), t0.Add(-time.Second), 0, 0, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := db.Signals(ctx, tc.project, tc.direction, tc.from, tc.to, tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tc.wantN {
				t.Fatalf("%d signals, want %d: %+v", len(got), tc.wantN, got)
			}
			if tc.wantN == 0 {
				return
			}
			if got[0].Rate != tc.wantFirstRate {
				t.Errorf("first rate %v, want %v", got[0].Rate, tc.wantFirstRate)
			}
			for i := 1; i < len(got); i++ {
				if got[i].At.Before(got[i-1].At) {
					t.Fatalf("not oldest first at %d: %v after %v", i, got[i].At, got[i-1].At)
				}
			}
			for _, e := range got {
				if tc.project != "" && e.Project != tc.project || tc.direction != "" && e.Direction != tc.direction {
					t.Fatalf("filter leaked %s/%s", e.Project, e.Direction)
				}
				if e.Expected != e.Rate*1.1 || e.Upper != e.Rate*1.5 || e.Score != 0.25 || e.State != "normal" {
					t.Fatalf("fields lost: %+v", e)
				}
			}
		})
	}
}

func TestSignalsKeepNaNAsNaN(t *testing.T) {
	ctx := context.Background()
	db := openTemp(t)
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	in := SignalEntry{At: at, Project: "p", Direction: "fetch", Rate: math.NaN(), Expected: math.Inf(1), Upper: 7, Score: math.NaN(), State: "warming"}
	if err := db.RecordSignals(ctx, []SignalEntry{in}); err != nil {
		t.Fatal(err)
	}
	got, err := db.Signals(ctx, "p", "fetch", at, at, 0)
	if err != nil || len(got) != 1 {
		t.Fatalf("%d signals, %v", len(got), err)
	}
	e := got[0]
	if !math.IsNaN(e.Rate) || !math.IsNaN(e.Expected) || !math.IsNaN(e.Score) || e.Upper != 7 || e.State != "warming" || !e.At.Equal(at) {
		t.Fatalf("read back %+v", e)
	}
}

func TestRecordSignalsRejectsBadEntriesWhole(t *testing.T) {
	ctx := context.Background()
	db := openTemp(t)
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		bad  SignalEntry
		want string
	}{
		{"no project", SignalEntry{At: at, Direction: "produce"}, "without project"},
		{"no time", SignalEntry{Project: "p", Direction: "produce"}, "without project or time"},
		{"bad direction", SignalEntry{At: at, Project: "p", Direction: "sideways"}, `direction "sideways"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := db.RecordSignals(ctx, []SignalEntry{signal(at, "good", "produce", 1), tc.bad})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want it to say %q", err, tc.want)
			}
			got, err := db.Signals(ctx, "", "", at.Add(-time.Hour), at.Add(time.Hour), 0)
			if err != nil || len(got) != 0 {
				t.Fatalf("a rejected round left %d signals (%v)", len(got), err)
			}
		})
	}
}

// Signals are recorded for every project and direction each round and
// kept as long as the ledger; a query must seek its time range in an index.
func TestSignalsUseAnIndex(t *testing.T) {
	db := openTemp(t)
	for _, tc := range []struct {
		byProject bool
		n         int
		want      string
	}{
		{true, 1, "USING INDEX detector_signals_project (project=? AND direction=? AND at_ms>? AND at_ms<?)"},
		{true, 2, "USING INDEX detector_signals_project (project=? AND direction=? AND at_ms>? AND at_ms<?)"},
		{false, 1, "USING INDEX detector_signals_at (at_ms>? AND at_ms<?)"},
		{false, 2, "USING INDEX detector_signals_at (at_ms>? AND at_ms<?)"},
	} {
		args := []any{}
		if tc.byProject {
			args = append(args, "p")
		}
		args = append(args, []any{"produce", "fetch"}[:tc.n]...)
		args = append(args, 0, 1, 10)
		if joined := queryPlan(t, db, signalsQuery(tc.byProject, tc.n), args...); !strings.Contains(joined, tc.want) {
			t.Errorf("project %v, %d direction(s): plan lacks %q:\n%s", tc.byProject, tc.n, tc.want, joined)
		}
	}
}
