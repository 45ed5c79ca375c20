package ctl

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/headroomhq/headroom/alerting"
	"github.com/headroomhq/headroom/alerting/alertingtest"
	"github.com/headroomhq/headroom/alerting/webhook"
	"github.com/headroomhq/headroom/api"
	"github.com/headroomhq/headroom/api/apitest"
	"github.com/headroomhq/headroom/config"
	"github.com/headroomhq/headroom/store"
)

// headroomAPI serves the real API on a real store over loopback.
func headroomAPI(t *testing.T) string { return apitest.Serve(t).URL }

func TestOperations(t *testing.T) {
	url := headroomAPI(t)
	ctx := context.Background()
	var out bytes.Buffer
	c := &Client{URL: url, Token: "op", Out: &out}
	tests := []struct {
		name string
		run  func() error
		want []string
	}{
		{"list projects", func() error { return c.List(ctx, "projects") }, []string{"NAME", "checkout", "30MiB/s", "user=search,client-id=indexer"}},
		{"list groups", func() error { return c.List(ctx, "groups") }, []string{"events", "100MiB/s", "0.85"}},
		{"show project", func() error { return c.Show(ctx, "project", "audit-log") }, []string{"audit-log", "batch", "10MiB/s"}},
		{"quotas", func() error { return c.List(ctx, "quotas") }, []string{"checkout", "40MiB/s", "written"}},
		{"override", func() error {
			return c.Override(ctx, "project", "checkout", map[string]any{"produce": map[string]any{"weight": 3}})
		}, []string{"checkout", "1", "otto"}},
		{"override again uses the ETag", func() error {
			return c.Override(ctx, "project", "checkout", map[string]any{"produce": map[string]any{"weight": 4}})
		}, []string{"checkout", "2"}},
		{"explain", func() error { return c.Explain(ctx, "checkout", "produce", time.Time{}) }, []string{"borrowed 10MiB/s from search"}},
		{"damage", func() error { return c.Damage(ctx, time.Time{}, time.Time{}) }, []string{"THROTTLED (STATIC)", "checkout", "1MiB", "100MiB", "99MiB (99.0%)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out.Reset()
			if err := tt.run(); err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(out.String(), w) {
					t.Fatalf("output lacks %q:\n%s", w, out.String())
				}
			}
		})
	}
}

func TestJSONOutputAndErrors(t *testing.T) {
	url := headroomAPI(t)
	ctx := context.Background()
	var out bytes.Buffer
	c := &Client{URL: url, Token: "op", Out: &out, JSON: true}
	if err := c.List(ctx, "groups"); err != nil {
		t.Fatal(err)
	}
	var groups []map[string]any
	if err := json.Unmarshal(out.Bytes(), &groups); err != nil || len(groups) != 2 {
		t.Fatalf("JSON output: %v %s", err, out.String())
	}
	err := c.Override(ctx, "project", "checkout", map[string]any{"produce": map[string]any{"floor": 100 << 20}})
	if err == nil || !strings.Contains(err.Error(), "422") || !strings.Contains(err.Error(), "produce.floor") {
		t.Fatalf("validation error not shown with its path: %v", err)
	}
	if err := (&Client{URL: url, Token: "wrong", Out: &out}).List(ctx, "projects"); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("bad token: %v", err)
	}
	if err := c.List(ctx, "brokers"); err == nil {
		t.Fatal("listing an unknown collection succeeded")
	}
	if err := c.Alert(ctx, "acknowledge", 42, ""); err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("alerts without the alert loop: %v", err)
	}
}

func TestAlertLifecycle(t *testing.T) {
	cfg := apitest.Example(t)
	cfg.Alerting.Playbooks = []config.PlaybookConfig{{Alert: "GroupSaturated", Action: config.ActionRaiseMargin, Mode: config.ModeApprove,
		Margin: 0.95, Cooldown: config.DefaultPlaybookCooldown, MaxTargets: 1, VerifyWindow: config.DefaultPlaybookVerifyWindow, Duration: config.DefaultPlaybookDuration}}
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "h.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Now()
	engine, err := alerting.NewEngine(alerting.Options{Store: db, Config: cfg.Alerting, Overrides: alertingtest.NoOverrides{}, Conditions: alertingtest.Conditions(true), Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	var ns []webhook.Notification
	for _, g := range []string{"events", "batch", "other"} {
		ns = append(ns, webhook.Notification{Fingerprint: "fp-" + g, Status: "firing", AlertName: "GroupSaturated",
			Labels: map[string]string{"alertname": "GroupSaturated", "group": g}, StartsAt: now})
	}
	if err := engine.Notify(ctx, ns); err != nil {
		t.Fatal(err)
	}
	ins, err := db.Incidents(ctx, "")
	if err != nil || len(ins) != 3 {
		t.Fatalf("incidents: %v %v", ins, err)
	}
	a, err := api.New(api.Options{Config: func() *config.Config { return cfg }, Store: db, Alerts: engine})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a)
	defer srv.Close()
	var out bytes.Buffer
	c := &Client{URL: srv.URL, Token: "op", Out: &out}
	state := func(id int64) string {
		in, err := db.Incident(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return in.State
	}
	tests := []struct {
		name   string
		id     int64
		action string
		want   string
	}{
		{"ack", ins[0].ID, "acknowledge", "acknowledged"},
		{"approve", ins[1].ID, "approve", "handling"},
		// A rejection leaves the incident firing, with nothing pending.
		{"reject", ins[2].ID, "reject", "firing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out.Reset()
			before := state(tt.id)
			if err := c.Alert(ctx, tt.action, tt.id, "not during the freeze"); err != nil {
				t.Fatalf("%s in state %s: %v", tt.action, before, err)
			}
			if got := state(tt.id); got != tt.want {
				t.Fatalf("state after %s: %s (was %s), want %s", tt.action, got, before, tt.want)
			}
			if !strings.Contains(out.String(), tt.want) || !strings.Contains(out.String(), fmt.Sprint(tt.id)) {
				t.Fatalf("table lacks the new state:\n%s", out.String())
			}
		})
	}
	out.Reset()
	if err := c.List(ctx, "alerts"); err != nil || !strings.Contains(out.String(), "GroupSaturated") {
		t.Fatalf("list alerts: %v\n%s", err, out.String())
	}
	for _, tt := range []struct {
		id   int64
		want []string
	}{{ins[1].ID, []string{`"otto"`, "raise_margin"}}, {ins[2].ID, []string{`"otto"`, "rejected", "not during the freeze"}}} {
		out.Reset()
		if err := c.Show(ctx, "alert", fmt.Sprint(tt.id)); err != nil {
			t.Fatal(err)
		}
		for _, w := range tt.want {
			if !strings.Contains(out.String(), w) {
				t.Errorf("show alert %d lacks %q:\n%s", tt.id, w, out.String())
			}
		}
	}
	// Acting twice on what is no longer pending is refused.
	if err := c.Alert(ctx, "approve", ins[2].ID, ""); err == nil || !strings.Contains(err.Error(), "409") {
		t.Fatalf("approve after reject: %v", err)
	}
}
