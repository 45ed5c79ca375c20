package alerting

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/headroomhq/headroom/config"
	"github.com/headroomhq/headroom/limiter/overrides"
	"github.com/headroomhq/headroom/limiter/overrides/overridestest"
	"github.com/headroomhq/headroom/store"
)

// storeOverridesFixture is ServiceOverrides over the override service on a
// real store, with the rounds it forced (replans included) recorded.
type storeOverridesFixture struct {
	*overridestest.Fixture
	so     *ServiceOverrides
	forced []string
}

func newStoreOverrides(t *testing.T) *storeOverridesFixture {
	t.Helper()
	f := &storeOverridesFixture{Fixture: overridestest.New(t)}
	force := func(_ context.Context, group string, burst bool) error {
		f.forced = append(f.forced, group+map[bool]string{true: "/burst", false: ""}[burst])
		return nil
	}
	f.Service.Replan = func(ctx context.Context, group string) { _ = force(ctx, group, false) }
	f.so = &ServiceOverrides{Force: force, Service: f.Service}
	return f
}

// planned is the configuration the next round plans with: the overrides in
// the store applied, as the round loop applies them.
func (f *storeOverridesFixture) planned(t *testing.T) overrides.Effective {
	t.Helper()
	ovs, err := f.DB.Overrides(context.Background(), f.Now)
	if err != nil {
		t.Fatal(err)
	}
	eff, errs := overrides.Apply(f.Config, ovs, f.Now)
	if len(errs) > 0 {
		t.Fatalf("apply: %v", errs)
	}
	return eff
}

func TestStoreOverridesRaiseMarginAndLift(t *testing.T) {
	f := newStoreOverrides(t)
	ctx := withPlaybook(context.Background(), AlertGroupSaturated)
	until := f.Now.Add(30 * time.Minute)
	ref, err := f.so.RaiseMargin(ctx, "events", 0.97, until)
	if err != nil {
		t.Fatal(err)
	}
	if ref.ID != "group/events" || ref.Version != 1 || ref.Value != 0.97 || !ref.Until.Equal(until) {
		t.Fatalf("ref %+v", ref)
	}
	g, _ := f.planned(t).Config.Group("events")
	if g.Margin != 0.97 {
		t.Fatalf("next round plans events with margin %v, want 0.97", g.Margin)
	}
	o, err := f.DB.GetOverride(context.Background(), overrides.KindGroup, "events")
	if err != nil || o.UpdatedBy != "playbook:GroupSaturated" || o.ExpiresAt == nil || !o.ExpiresAt.Equal(until) {
		t.Fatalf("stored %+v, %v", o, err)
	}
	audit, err := f.DB.Audit(context.Background(), 10)
	if err != nil || len(audit) != 1 || audit[0].Actor != "playbook:GroupSaturated" || audit[0].Action != "put_override" || audit[0].Target != "group/events" {
		t.Fatalf("audit %+v, %v", audit, err)
	}
	// After the cap's own end the override no longer plans.
	f.Now = until.Add(time.Second)
	if g, _ := f.planned(t).Config.Group("events"); g.Margin != 0.9 {
		t.Fatalf("expired override still plans: margin %v", g.Margin)
	}
	f.Now = until.Add(-time.Minute)

	if err := f.so.Lift(ctx, ref); err != nil {
		t.Fatal(err)
	}
	if _, err := f.DB.GetOverride(context.Background(), overrides.KindGroup, "events"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("override still stored after lift: %v", err)
	}
	if g, _ := f.planned(t).Config.Group("events"); g.Margin != 0.9 {
		t.Fatalf("lifted override still plans: margin %v", g.Margin)
	}
	if err := f.so.Lift(ctx, ref); err != nil {
		t.Fatalf("lifting what is gone: %v", err)
	}
	audit, _ = f.DB.Audit(context.Background(), 10)
	if len(audit) != 2 || audit[0].Action != "delete_override" || audit[0].Actor != "playbook:GroupSaturated" {
		t.Fatalf("audit after lift %+v", audit)
	}
	if want := "events events"; strings.Join(f.forced, " ") != want {
		t.Fatalf("rounds asked for %v, want %s (one after the put, one after the lift)", f.forced, want)
	}
}

func TestStoreOverridesCapProject(t *testing.T) {
	f := newStoreOverrides(t)
	ctx := withPlaybook(context.Background(), AlertBrokerOverloaded)
	const capRate = 20 << 20 // below checkout's 30MiB/s produce share
	ref, err := f.so.CapProject(ctx, "checkout", capRate, f.Now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if ref.Project != "checkout" || ref.Group != "events" || ref.ID != "project/checkout" {
		t.Fatalf("ref %+v", ref)
	}
	var p config.ProjectConfig
	for _, x := range f.planned(t).Config.Projects {
		if x.Name == "checkout" {
			p = x
		}
	}
	if p.Produce.Ceiling != capRate || p.Produce.Share != capRate || p.Produce.Floor != 5<<20 || p.Fetch.Ceiling != capRate || p.Fetch.Share != capRate {
		t.Fatalf("planned checkout produce %+v fetch %+v", p.Produce, p.Fetch)
	}
}

func TestStoreOverridesRefuse(t *testing.T) {
	tests := []struct {
		name string
		do   func(f *storeOverridesFixture, ctx context.Context) error
		want string
	}{
		{"margin outside (0, 1]", func(f *storeOverridesFixture, ctx context.Context) error {
			_, err := f.so.RaiseMargin(ctx, "events", 1.5, f.Now.Add(time.Hour))
			return err
		}, "margin: must be in (0, 1]"},
		{"unknown group", func(f *storeOverridesFixture, ctx context.Context) error {
			_, err := f.so.RaiseMargin(ctx, "nope", 0.95, f.Now.Add(time.Hour))
			return err
		}, `unknown resource group "nope"`},
		{"expiry in the past", func(f *storeOverridesFixture, ctx context.Context) error {
			_, err := f.so.RaiseMargin(ctx, "events", 0.95, f.Now.Add(-time.Second))
			return err
		}, "expires_at: is in the past"},
		{"unknown project", func(f *storeOverridesFixture, ctx context.Context) error {
			_, err := f.so.CapProject(ctx, "nope", 1<<20, f.Now.Add(time.Hour))
			return err
		}, `unknown project`},
		{"cap above the safe capacity", func(f *storeOverridesFixture, ctx context.Context) error {
			_, err := f.so.CapProject(ctx, "checkout", 1<<30, f.Now.Add(time.Hour))
			return err
		}, "exceeds the group's safe capacity"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newStoreOverrides(t)
			err := tt.do(f, withPlaybook(context.Background(), "X"))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %v, want it to say %q", err, tt.want)
			}
			if ovs, _ := f.DB.Overrides(context.Background(), f.Now); len(ovs) != 0 {
				t.Fatalf("a refused action stored %+v", ovs)
			}
			if len(f.forced) != 0 {
				t.Fatalf("a refused action asked for rounds %v", f.forced)
			}
		})
	}
}

func TestStoreOverridesLeaveOperatorsAlone(t *testing.T) {
	f := newStoreOverrides(t)
	ctx := withPlaybook(context.Background(), AlertGroupSaturated)
	m := 0.8
	spec, _ := json.Marshal(overrides.Spec{Margin: &m})
	f.Seed(t, "group", "events", "olga", spec, 0)
	if _, err := f.so.RaiseMargin(ctx, "events", 0.97, f.Now.Add(time.Hour)); err == nil || !strings.Contains(err.Error(), "olga set one") {
		t.Fatalf("replaced an operator's override: %v", err)
	}
	if g, _ := f.planned(t).Config.Group("events"); g.Margin != 0.8 {
		t.Fatalf("operator's margin changed to %v", g.Margin)
	}

	// A playbook's own earlier override is replaced; one an operator
	// changed since is not lifted.
	ref, err := f.so.RaiseMargin(ctx, "batch", 0.9, f.Now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	ref2, err := f.so.RaiseMargin(ctx, "batch", 0.95, f.Now.Add(time.Hour))
	if err != nil || ref2.Version != ref.Version+1 {
		t.Fatalf("replace the playbook's own: %+v, %v", ref2, err)
	}
	m2 := 0.86
	spec2, _ := json.Marshal(overrides.Spec{Margin: &m2})
	f.Seed(t, "group", "batch", "olga", spec2, ref2.Version)
	if err := f.so.Lift(ctx, ref2); err == nil || !strings.Contains(err.Error(), "left in place") {
		t.Fatalf("lift over an operator's change: %v", err)
	}
	if g, _ := f.planned(t).Config.Group("batch"); g.Margin != 0.86 {
		t.Fatalf("operator's later margin lost: %v", g.Margin)
	}
}
