package api

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/headroomhq/headroom/store"
)

func TestDamage(t *testing.T) {
	e := newEnv(t, "", nil)
	ctx := context.Background()
	for i := range 3 {
		at := e.now.Add(time.Duration(i-3) * time.Minute)
		if err := e.db.RecordDamage(ctx, []store.DamageEntry{
			{At: at, Project: "checkout", Direction: "produce", HeadroomBytes: 10, StaticBytes: 1000},
			{At: at, Project: "search", Direction: "fetch", HeadroomBytes: 0, StaticBytes: 0},
		}); err != nil {
			t.Fatal(err)
		}
	}
	r := e.do(t, "GET", "/api/v1/damage", viewerToken, "")
	var got DamageAnswer
	if r.code != 200 || json.Unmarshal([]byte(r.body), &got) != nil {
		t.Fatalf("%d %s", r.code, r.body)
	}
	if len(got.Projects) != 2 || got.Projects[0].Project != "checkout" || got.Projects[0].AvoidedBytes != 2970 || got.Projects[0].Rounds != 3 {
		t.Fatalf("projects %+v", got.Projects)
	}
	if got.Total.HeadroomBytes != 30 || got.Total.StaticBytes != 3000 || got.AvoidedRatio == nil || *got.AvoidedRatio != 0.99 {
		t.Fatalf("total %+v ratio %v, want 30 of 3000: 99%% avoided", got.Total, got.AvoidedRatio)
	}
	// A span before anything was recorded: nothing, and no ratio.
	r = e.do(t, "GET", "/api/v1/damage?to="+e.now.Add(-time.Hour).Format(time.RFC3339), viewerToken, "")
	got = DamageAnswer{}
	if r.code != 200 || json.Unmarshal([]byte(r.body), &got) != nil || len(got.Projects) != 0 || got.AvoidedRatio != nil {
		t.Fatalf("%d %s", r.code, r.body)
	}
	for _, q := range []string{"?from=yesterday", "?from=" + e.now.Format(time.RFC3339) + "&to=" + e.now.Add(-time.Hour).Format(time.RFC3339)} {
		if r := e.do(t, "GET", "/api/v1/damage"+q, viewerToken, ""); r.code != 400 {
			t.Fatalf("%s: %d %s", q, r.code, r.body)
		}
	}
	if r := e.do(t, "GET", "/api/v1/damage", "", ""); r.code != 401 {
		t.Fatalf("no token: %d", r.code)
	}
}
