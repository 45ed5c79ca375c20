package alerting

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/headroomhq/headroom/alerting/webhook"
	"github.com/headroomhq/headroom/config"
	"github.com/headroomhq/headroom/store"
)

// With several replicas a notification may be handled again: after a
// failover (the previous leader handled it but did not say so), or
// because it reached the cluster through two replicas. Handling it again
// changes nothing, and an incident whose playbook did not run gets it.
func TestNotifyAgainChangesNothing(t *testing.T) {
	pb := config.PlaybookConfig{Alert: "ProjectThrottled", Action: config.ActionReallocateNow, Mode: config.ModeAuto}
	n := firing("ProjectThrottled", "fp1", map[string]string{"group": "events", "project": "checkout"})
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, f *fixture)
	}{
		{"handled before", func(t *testing.T, f *fixture) {
			if err := f.eng.Notify(context.Background(), []webhook.Notification{n}); err != nil {
				t.Fatal(err)
			}
		}},
		{"opened before, stopped before its playbook", func(t *testing.T, f *fixture) {
			now := f.clock.Now()
			if _, err := f.db.OpenIncident(context.Background(), store.Incident{ID: store.IncidentID(n.Fingerprint, n.StartsAt),
				Fingerprint: n.Fingerprint, AlertName: n.AlertName, Labels: n.Labels, State: StateFiring, OpenedAt: now, StartsAt: n.StartsAt},
				store.IncidentStep{At: now, From: StateDetected, To: StateFiring, Actor: "alertmanager", Action: "opened"}); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, playbooks(pb), Options{})
			tc.setup(t, f)
			for range 3 {
				if err := f.eng.Notify(context.Background(), []webhook.Notification{n}); err != nil {
					t.Fatal(err)
				}
			}
			in := f.only(t)
			if in.ID != store.IncidentID("fp1", n.StartsAt) {
				t.Errorf("incident id %d, want the one derived from fingerprint and start", in.ID)
			}
			want := []string{"opened:firing:alertmanager", "reallocate_now:handling:headroom"}
			if got := f.actions(t, in.ID); !slices.Equal(got, want) {
				t.Errorf("steps %v, want %v", got, want)
			}
			if !slices.Equal(f.lim.calls, []string{"force_round events"}) {
				t.Errorf("limiter calls %v, want one forced round", f.lim.calls)
			}
		})
	}
}

// A resolution replayed after the alert fired again (a later start) does
// not resolve the later incident; the resolution of that start does.
func TestLateResolutionKeepsTheLaterIncident(t *testing.T) {
	f := newFixture(t, playbooks(), Options{})
	ctx := context.Background()
	first := firing("GroupSaturated", "fp", nil)
	resolved := first
	resolved.Status = "resolved"
	again := first
	again.StartsAt = first.StartsAt.Add(10 * time.Minute)
	for _, n := range []webhook.Notification{first, resolved, again, resolved} {
		if err := f.eng.Notify(ctx, []webhook.Notification{n}); err != nil {
			t.Fatal(err)
		}
	}
	ins, err := f.db.Incidents(ctx, "fp")
	if err != nil {
		t.Fatal(err)
	}
	states := map[int64]string{}
	for _, in := range ins {
		states[in.ID] = in.State
	}
	want := map[int64]string{store.IncidentID("fp", first.StartsAt): StateResolved, store.IncidentID("fp", again.StartsAt): StateFiring}
	if len(states) != 2 || states[store.IncidentID("fp", first.StartsAt)] != want[store.IncidentID("fp", first.StartsAt)] ||
		states[store.IncidentID("fp", again.StartsAt)] != StateFiring {
		t.Errorf("incidents %v, want %v", states, want)
	}
}
