package store

import (
	"context"
	"math"
	"testing"
	"time"
)

func TestDamageSumsPruneAndRefuses(t *testing.T) {
	ctx := context.Background()
	db := openTemp(t)
	t0 := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	for r := range 4 {
		at := t0.Add(time.Duration(r) * 15 * time.Second)
		if err := db.RecordDamage(ctx, []DamageEntry{
			{At: at, Project: "a", Direction: "produce", HeadroomBytes: 10, StaticBytes: 100},
			{At: at, Project: "b", Direction: "fetch", HeadroomBytes: 0, StaticBytes: float64(r)},
		}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := db.Damage(ctx, t0, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	want := []DamageTotal{{"a", "produce", 40, 400, 4}, {"b", "fetch", 0, 6, 4}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("Damage = %+v, want %+v", got, want)
	}
	// Only the span asked for: the last two rounds.
	got, _ = db.Damage(ctx, t0.Add(30*time.Second), t0.Add(time.Hour))
	if len(got) != 2 || got[0].HeadroomBytes != 20 || got[0].Rounds != 2 {
		t.Fatalf("later span: %+v", got)
	}
	for _, bad := range []DamageEntry{
		{At: t0, Project: "a", Direction: "produce", HeadroomBytes: -1},
		{At: t0, Project: "a", Direction: "produce", StaticBytes: math.NaN()},
		{At: t0, Project: "a", Direction: "sideways"},
		{Project: "a", Direction: "produce"},
	} {
		// A round with one bad entry stores nothing.
		if err := db.RecordDamage(ctx, []DamageEntry{{At: t0, Project: "c", Direction: "produce", HeadroomBytes: 1}, bad}); err == nil {
			t.Fatalf("%+v accepted", bad)
		}
	}
	if got, _ := db.Damage(ctx, t0, t0.Add(time.Hour)); len(got) != 2 {
		t.Fatalf("a refused round left rows: %+v", got)
	}
	n, err := db.PruneDamage(ctx, t0.Add(30*time.Second))
	if err != nil || n != 4 {
		t.Fatalf("pruned %d (%v), want the 4 rows of the first two rounds", n, err)
	}
}
