package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"testing"
	"time"
)

func TestIncidentIDIsSharedAndSafe(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	a := IncidentID("fp1", t0)
	if b := IncidentID("fp1", t0.In(time.FixedZone("x", 3600))); a != b {
		t.Errorf("one instant in two zones gives ids %d and %d", a, b)
	}
	for _, tc := range []struct {
		name string
		fp   string
		at   time.Time
	}{{"another fingerprint", "fp2", t0}, {"a later start", "fp1", t0.Add(time.Millisecond)}} {
		t.Run(tc.name, func(t *testing.T) {
			if IncidentID(tc.fp, tc.at) == a {
				t.Errorf("same id %d as fp1 at %s", a, t0)
			}
		})
	}
	for i := range 1000 {
		id := IncidentID("fp", t0.Add(time.Duration(i)*time.Second))
		if id < 1<<52 || id >= 1<<53 {
			t.Fatalf("id %d outside [2^52, 2^53)", id)
		}
	}
}

// writeLifecycle opens two incidents on w and moves one through three
// steps, returning the changes w handed to its sink.
func writeLifecycle(t *testing.T, w *DB) []Change {
	t.Helper()
	ctx := context.Background()
	cs := capture(w)
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	a, err := w.OpenIncident(ctx, Incident{Fingerprint: "fa", AlertName: "GroupSaturated", Labels: map[string]string{"group": "g"},
		State: "firing", OpenedAt: t0, StartsAt: t0.Add(-time.Minute)}, IncidentStep{At: t0, From: "detected", To: "firing", Actor: "alertmanager", Action: "opened"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.OpenIncident(ctx, Incident{Fingerprint: "fb", AlertName: "ProjectThrottled", State: "firing", OpenedAt: t0, StartsAt: t0},
		IncidentStep{At: t0, From: "detected", To: "firing", Actor: "alertmanager", Action: "opened"}); err != nil {
		t.Fatal(err)
	}
	a.Data = json.RawMessage(`{"pending_approval":true}`)
	if a, err = w.UpdateIncident(ctx, a, IncidentStep{At: t0.Add(time.Second), From: "firing", To: "firing", Actor: "headroom", Action: "approval_requested"}); err != nil {
		t.Fatal(err)
	}
	a.State, a.Data = "acknowledged", json.RawMessage(`{}`)
	if _, err := w.UpdateIncident(ctx, a, IncidentStep{At: t0.Add(2 * time.Second), From: "firing", To: "acknowledged", Actor: "ops", Action: "acknowledged", Origin: "req-1"}); err != nil {
		t.Fatal(err)
	}
	return *cs
}

// lifecycle is what a store holds of the incidents, without local ids.
func lifecycle(t *testing.T, db *DB) map[int64][]any {
	t.Helper()
	ctx := context.Background()
	ins, err := db.Incidents(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	out := map[int64][]any{}
	for _, in := range ins {
		sts, err := db.IncidentSteps(ctx, in.ID)
		if err != nil {
			t.Fatal(err)
		}
		for i := range sts {
			sts[i].ID = 0
		}
		in.UpdatedAt = in.UpdatedAt.UTC()
		out[in.ID] = []any{in, sts}
	}
	return out
}

func TestIncidentChangesReplayInAnyOrder(t *testing.T) {
	w := openTemp(t)
	cs := writeLifecycle(t, w)
	// 4 writes, each an incident change and a step change.
	if len(cs) != 8 {
		t.Fatalf("%d changes, want 8", len(cs))
	}
	want := lifecycle(t, w)
	var state, events []Change
	for _, c := range cs {
		if ChangeTopicKind(c) == "state" {
			state = append(state, c)
		} else {
			events = append(events, c)
		}
	}
	if len(state) != 4 || len(events) != 4 {
		t.Fatalf("%d state and %d events changes, want 4 and 4", len(state), len(events))
	}
	reversed := append([]Change(nil), cs...)
	for i, j := 0, len(reversed)-1; i < j; i, j = i+1, j-1 {
		reversed[i], reversed[j] = reversed[j], reversed[i]
	}
	for _, tc := range []struct {
		name string
		cs   []Change
	}{
		{"once", cs},
		{"twice", append(append([]Change(nil), cs...), cs...)},
		{"newest first", reversed},
		{"events topic, then state topic", append(append([]Change(nil), events...), state...)},
		{"state topic, then events topic, then state again", append(append(append([]Change(nil), state...), events...), state...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := openTemp(t)
			rcs := capture(r)
			for _, c := range tc.cs {
				if err := r.ApplyChange(context.Background(), c); err != nil {
					t.Fatal(err)
				}
			}
			if len(*rcs) != 0 {
				t.Errorf("applying emitted %d changes", len(*rcs))
			}
			if got := lifecycle(t, r); !reflect.DeepEqual(got, want) {
				t.Errorf("replica holds\n%+v\nwant the writer's\n%+v", got, want)
			}
			if ok, err := r.HasStepFrom(context.Background(), "req-1"); err != nil || !ok {
				t.Errorf("step of req-1 recorded: %v (%v), want true", ok, err)
			}
		})
	}
}

// Only the compacted state topic survives (retention ended the events):
// each incident is there at its last version with its last step.
func TestIncidentFromStateTopicAlone(t *testing.T) {
	w := openTemp(t)
	cs := writeLifecycle(t, w)
	last := map[string]Change{}
	for _, c := range cs {
		if c.Kind == ChangeIncident {
			last[c.Key] = c
		}
	}
	r := openTemp(t)
	for _, c := range last {
		if err := r.ApplyChange(context.Background(), c); err != nil {
			t.Fatal(err)
		}
	}
	want, got := lifecycle(t, w), lifecycle(t, r)
	for id, w := range want {
		g, ok := got[id]
		if !ok {
			t.Fatalf("incident %d missing", id)
		}
		if !reflect.DeepEqual(g[0], w[0]) {
			t.Errorf("incident %d is %+v, want %+v", id, g[0], w[0])
		}
		ws, gs := w[1].([]IncidentStep), g[1].([]IncidentStep)
		if len(gs) != 1 || !reflect.DeepEqual(gs[0], ws[len(ws)-1]) {
			t.Errorf("incident %d steps %+v, want its last step %+v", id, gs, ws[len(ws)-1])
		}
	}
}

func TestOpenIncidentTwiceIsRefused(t *testing.T) {
	db := openTemp(t)
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	in := Incident{Fingerprint: "f", AlertName: "A", State: "firing", OpenedAt: t0, StartsAt: t0}
	st := IncidentStep{At: t0, To: "firing", Actor: "am", Action: "opened"}
	first, err := db.OpenIncident(context.Background(), in, st)
	if err != nil {
		t.Fatal(err)
	}
	if first.ID != IncidentID("f", t0) {
		t.Errorf("id %d, want IncidentID(f, start) = %d", first.ID, IncidentID("f", t0))
	}
	if _, err := db.OpenIncident(context.Background(), in, st); !errors.Is(err, ErrExists) {
		t.Errorf("second open: %v, want ErrExists", err)
	}
}

func TestNotificationAndRequestChangesReplay(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	n := AlertNotification{Key: "k1", GroupKey: "g", Receiver: "headroom", Fingerprint: "f", Status: "firing", AlertName: "A",
		Labels: map[string]string{"alertname": "A"}, Annotations: map[string]string{}, StartsAt: t0, EndsAt: t0.Add(time.Hour), ReceivedAt: t0}
	w := openTemp(t)
	cs := capture(w)
	recv := NotificationChange(n, false)
	if err := w.ApplyChange(ctx, recv); err != nil {
		t.Fatal(err)
	}
	un, err := w.UnhandledNotifications(ctx, 10)
	if err != nil || len(un) != 1 || un[0].Key != "k1" {
		t.Fatalf("unhandled %+v (%v), want k1", un, err)
	}
	if err := w.MarkNotificationsHandled(ctx, un); err != nil {
		t.Fatal(err)
	}
	req := AlertRequest{ID: "r1", IncidentID: 1 << 52, Action: "approve", Actor: "ops", At: t0}
	if err := w.ApplyChange(ctx, AlertRequestChange(req)); err != nil {
		t.Fatal(err)
	}
	if p, err := w.PendingAlertRequests(ctx); err != nil || len(p) != 1 || p[0] != req {
		t.Fatalf("pending %+v (%v), want r1", p, err)
	}
	if err := w.AnswerAlertRequest(ctx, req, "not pending"); err != nil {
		t.Fatal(err)
	}
	if len(*cs) != 2 {
		t.Fatalf("%d changes emitted, want the handled mark and the answer", len(*cs))
	}
	all := []Change{recv, (*cs)[0], AlertRequestChange(req), (*cs)[1]}
	for _, tc := range []struct {
		name string
		cs   []Change
	}{
		{"once", all},
		{"twice", append(append([]Change(nil), all...), all...)},
		{"received and asked again after handled and answered", append(append([]Change(nil), all...), recv, AlertRequestChange(req))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := openTemp(t)
			for _, c := range tc.cs {
				if err := r.ApplyChange(ctx, c); err != nil {
					t.Fatal(err)
				}
			}
			if un, err := r.UnhandledNotifications(ctx, 10); err != nil || len(un) != 0 {
				t.Errorf("unhandled %+v (%v), want none", un, err)
			}
			ns, err := r.AlertNotifications(ctx, "")
			if err != nil || len(ns) != 1 {
				t.Fatalf("notifications %+v (%v), want one", ns, err)
			}
			if p, err := r.PendingAlertRequests(ctx); err != nil || len(p) != 0 {
				t.Errorf("pending %+v (%v), want none", p, err)
			}
			ok, msg, err := r.AlertRequestAnswer(ctx, "r1")
			if err != nil || !ok || msg != "not pending" {
				t.Errorf("answer %v %q (%v), want answered with the error", ok, msg, err)
			}
		})
	}
}

// A file written before replication (sequential incident ids, steps
// without seq) opens with its history intact, numbered by seq, and new
// incidents take derived ids beside the old ones.
func TestMigrateOldLifecycleSchema(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	raw, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	old := &DB{sql: raw}
	if _, err := raw.ExecContext(ctx, `CREATE TABLE schema_migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL DEFAULT '')`); err != nil {
		t.Fatal(err)
	}
	ms := append([]migration(nil), migrations...)
	sort.Slice(ms, func(i, j int) bool { return ms[i].name < ms[j].name })
	for _, m := range ms {
		if m.name >= "ha_003" {
			continue
		}
		if err := old.apply(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	t0 := "2026-01-01T00:00:00Z"
	for _, q := range []string{
		`INSERT INTO alert_incidents (fingerprint, alertname, labels, annotations, state, opened_at, updated_at, version, data)
			VALUES ('fa', 'A', '{}', '{}', 'acknowledged', '` + t0 + `', '` + t0 + `', 3, '{}')`,
		`INSERT INTO alert_incidents (fingerprint, alertname, labels, annotations, state, opened_at, updated_at, version, data)
			VALUES ('fb', 'B', '{}', '{}', 'firing', '` + t0 + `', '` + t0 + `', 1, '{}')`,
		`INSERT INTO alert_steps (incident_id, at, from_state, to_state, actor, action, result) VALUES (1, '` + t0 + `', 'detected', 'firing', 'am', 'opened', '')`,
		`INSERT INTO alert_steps (incident_id, at, from_state, to_state, actor, action, result) VALUES (2, '` + t0 + `', 'detected', 'firing', 'am', 'opened', '')`,
		`INSERT INTO alert_steps (incident_id, at, from_state, to_state, actor, action, result) VALUES (1, '` + t0 + `', 'firing', 'firing', 'headroom', 'no_playbook', '')`,
		`INSERT INTO alert_steps (incident_id, at, from_state, to_state, actor, action, result) VALUES (1, '` + t0 + `', 'firing', 'acknowledged', 'ops', 'acknowledged', '')`,
		`INSERT INTO alert_notifications (key, group_key, receiver, fingerprint, status, alertname, labels, annotations, starts_at, ends_at, generator_url, received_at)
			VALUES ('k', 'g', 'r', 'fa', 'firing', 'A', '{}', '{}', '` + t0 + `', '` + t0 + `', '', '` + t0 + `')`,
	} {
		if _, err := raw.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	raw.Close()

	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	steps, err := db.IncidentSteps(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range steps {
		got = append(got, s.Action+"@"+strconv.Itoa(s.Seq))
	}
	if want := []string{"opened@1", "no_playbook@2", "acknowledged@3"}; !reflect.DeepEqual(got, want) {
		t.Errorf("incident 1 steps %v, want %v", got, want)
	}
	in, err := db.Incident(ctx, 1)
	if err != nil || in.Version != 3 || !in.StartsAt.IsZero() {
		t.Fatalf("incident 1: %+v (%v)", in, err)
	}
	// The next step continues the numbering; a new incident gets a
	// derived id.
	in.State = "resolved"
	if _, err := db.UpdateIncident(ctx, in, IncidentStep{At: time.Now(), From: "acknowledged", To: "resolved", Actor: "am", Action: "resolved"}); err != nil {
		t.Fatal(err)
	}
	if steps, _ := db.IncidentSteps(ctx, 1); len(steps) != 4 || steps[3].Seq != 4 {
		t.Errorf("after an update: %+v, want a 4th step numbered 4", steps)
	}
	t1 := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	n, err := db.OpenIncident(ctx, Incident{Fingerprint: "fc", AlertName: "C", State: "firing", OpenedAt: t1, StartsAt: t1},
		IncidentStep{At: t1, To: "firing", Actor: "am", Action: "opened"})
	if err != nil || n.ID != IncidentID("fc", t1) {
		t.Errorf("new incident id %d (%v), want %d", n.ID, err, IncidentID("fc", t1))
	}
	// Notifications of the old file were handled by the replica that
	// received them: a first leader must not handle them again.
	if un, err := db.UnhandledNotifications(ctx, 10); err != nil || len(un) != 0 {
		t.Errorf("unhandled %+v (%v), want none", un, err)
	}
}
