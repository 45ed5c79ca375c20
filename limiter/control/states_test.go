package control

import (
	"testing"
	"time"

	"github.com/headroomhq/headroom/config"
	"github.com/headroomhq/headroom/limiter"
)

func TestSkeletonFromExampleConfig(t *testing.T) {
	c, err := config.LoadFile("../../examples/headroom.yml")
	if err != nil {
		t.Fatal(err)
	}
	sk, err := NewSkeleton(c)
	if err != nil {
		t.Fatal(err)
	}
	if len(sk.States) != 2*len(c.ResourceGroups) {
		t.Fatalf("%d states for %d groups", len(sk.States), len(c.ResourceGroups))
	}
	projects := 0
	for _, s := range sk.States {
		if s.Direction == config.Produce {
			projects += len(s.Projects)
		}
		for _, p := range s.Projects {
			if !(p.Share > 0 && p.Floor > 0 && p.Ceiling >= p.Share && p.Weight > 0) {
				t.Fatalf("%s %s: share %v floor %v ceiling %v weight %v", s.Group, p.Name, p.Share, p.Floor, p.Ceiling, p.Weight)
			}
		}
		if !(s.Margin > 0 && s.Margin <= 1) || len(s.Brokers) == 0 || s.Options.ThrottleWindow != 11*time.Second {
			t.Fatalf("group %s: margin %v, %d brokers, options %+v", s.Group, s.Margin, len(s.Brokers), s.Options)
		}
		for i, b := range s.Brokers {
			if sk.BrokerIndex[s.Group][b.ID] != i {
				t.Fatalf("broker %d of %s not indexed", b.ID, s.Group)
			}
		}
	}
	// The example gives checkout the critical tier and reporting the
	// best-effort one; the others carry none.
	wantTier := map[string]limiter.Tier{"checkout": limiter.Critical, "reporting": limiter.BestEffort}
	for _, s := range sk.States {
		for _, p := range s.Projects {
			if p.Tier != wantTier[p.Name] {
				t.Errorf("%s %s: tier %v, want %v", s.Group, p.Name, p.Tier, wantTier[p.Name])
			}
		}
	}
	if projects != len(c.Projects) || len(sk.Entities) != len(c.Projects) {
		t.Fatalf("%d projects placed, %d entities, %d configured", projects, len(sk.Entities), len(c.Projects))
	}
	for _, p := range c.Projects {
		if e := sk.Entities[p.Name]; e != (config.Entity{User: p.Entity.User, ClientID: p.Entity.ClientID}) {
			t.Fatalf("%s: entity %+v", p.Name, e)
		}
	}
	if ac := ApplierConfig(c.Limiter); ac.Shadow != (c.Limiter.Mode == config.ModeShadow) || ac.WriteBudget != c.Limiter.WriteBudget {
		t.Fatalf("applier config %+v from %+v", ac, c.Limiter)
	}
}
