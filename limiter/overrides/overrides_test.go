package overrides

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/headroomhq/headroom/config"
	"github.com/headroomhq/headroom/store"
)

func rate(s string) *config.Rate {
	r, err := config.ParseRate(s)
	if err != nil {
		panic(err)
	}
	return &r
}

func TestApply(t *testing.T) {
	cfg, err := config.LoadFile("../../examples/headroom.yml")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 23, 3, 0, 0, 0, time.UTC)
	past, future := now.Add(-time.Minute), now.Add(time.Hour)
	freeze, margin, w := true, 0.95, 3.0
	mk := func(kind, name string, s Spec, exp *time.Time) store.Override {
		b, _ := json.Marshal(s)
		return store.Override{Kind: kind, Name: name, Spec: b, ExpiresAt: exp}
	}
	ovs := []store.Override{
		mk(KindProject, "checkout", Spec{Produce: &Quota{Share: rate("35MiB/s"), Weight: &w, Pin: rate("20MiB/s")}}, &future),
		mk(KindProject, "search", Spec{Produce: &Quota{Share: rate("1MiB/s")}}, &past), // expired
		mk(KindGroup, "batch", Spec{Freeze: &freeze, Margin: &margin}, nil),
		mk(KindProject, "gone", Spec{Produce: &Quota{Weight: &w}}, nil), // project removed from config
	}
	eff, errs := Apply(cfg, ovs, now)
	if len(errs) != 1 {
		t.Fatalf("want one error for the removed project, got %v", errs)
	}
	byName := map[string]config.ProjectConfig{}
	for _, p := range eff.Config.Projects {
		byName[p.Name] = p
	}
	if byName["checkout"].Produce.Share != 35<<20 || byName["checkout"].Produce.Weight != 3 || eff.Pins["checkout"]["produce"] != 20<<20 {
		t.Errorf("checkout: %+v pins %v", byName["checkout"].Produce, eff.Pins)
	}
	if byName["search"].Produce.Share != 30<<20 {
		t.Errorf("expired override applied: %v", byName["search"].Produce.Share)
	}
	g, _ := eff.Config.Group("batch")
	if !eff.Frozen["batch"] || g.Margin != 0.95 {
		t.Errorf("group override: frozen %v margin %v", eff.Frozen, g.Margin)
	}
	// A raised margin reaches the projects bounded only by the default
	// ceiling (the old safe capacity, 0.85 × 80MiB/s); a ceiling set below
	// it stays.
	if got, want := byName["reporting"].Produce.Ceiling, config.Rate(0.95*80*(1<<20)); got != want {
		t.Errorf("reporting's default ceiling %v under the raised margin, want %v", got, want)
	}
	if got := byName["ml-features"].Produce.Ceiling; got != 50<<20 {
		t.Errorf("ml-features' own ceiling moved to %v", got)
	}
	// The input configuration is untouched.
	if cfg.Projects[0].Produce.Share != 30<<20 || cfg.ResourceGroups[1].Margin != 0.85 || cfg.Projects[3].Produce.Ceiling != config.Rate(0.85*80*(1<<20)) {
		t.Error("Apply modified its input")
	}
}

func TestValidate(t *testing.T) {
	cfg, err := config.LoadFile("../../examples/headroom.yml")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	bad, zero := -1.0, 0.0
	tests := []struct {
		name, kind, target string
		spec               Spec
		paths              []string
	}{
		{"ok", KindProject, "checkout", Spec{Fetch: &Quota{Ceiling: rate("100MiB/s")}}, nil},
		{"share over ceiling", KindProject, "checkout", Spec{Produce: &Quota{Share: rate("70MiB/s")}}, []string{"produce.ceiling"}},
		{"bad weight and pin", KindProject, "checkout", Spec{Produce: &Quota{Weight: &bad, Pin: rate("200MiB/s")}}, []string{"produce.weight", "produce.pin"}},
		{"zero margin", KindGroup, "events", Spec{Margin: &zero}, []string{"margin"}},
		{"unknown group", KindGroup, "nope", Spec{Margin: &zero}, []string{""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := Validate(cfg, tt.kind, tt.target, tt.spec, now)
			var got []string
			for _, e := range errs {
				got = append(got, e.Path)
			}
			if len(got) != len(tt.paths) {
				t.Fatalf("errors %v, want paths %v", errs, tt.paths)
			}
			for i := range got {
				if got[i] != tt.paths[i] {
					t.Fatalf("errors %v, want paths %v", errs, tt.paths)
				}
			}
		})
	}
}

func FuzzSpecDecode(f *testing.F) {
	f.Add([]byte(`{"produce": {"share": "35MiB/s", "pin": 1000}, "expires_at": "2030-01-01T00:00:00Z"}`))
	f.Add([]byte(`{"margin": 0.5, "freeze": true}`))
	cfg, err := config.LoadFile("../../examples/headroom.yml")
	if err != nil {
		f.Fatal(err)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, b []byte) {
		var s Spec
		if json.Unmarshal(b, &s) != nil {
			return
		}
		for _, kind := range []string{KindProject, KindGroup} {
			name := map[string]string{KindProject: "checkout", KindGroup: "events"}[kind]
			if len(Validate(cfg, kind, name, s, now)) > 0 {
				continue
			}
			raw, _ := json.Marshal(s)
			eff, errs := Apply(cfg, []store.Override{{Kind: kind, Name: name, Spec: raw}}, now)
			if len(errs) > 0 {
				t.Fatalf("a valid spec did not apply: %v", errs)
			}
			for _, p := range eff.Config.Projects {
				for _, q := range []config.QuotaConfig{p.Produce, p.Fetch} {
					if q.Floor > q.Share || q.Share > q.Ceiling {
						t.Fatalf("valid spec broke floor <= share <= ceiling: %+v", q)
					}
				}
			}
		}
	})
}
