package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/headroomhq/headroom/api/apitest"
	"github.com/headroomhq/headroom/api/client"
	"github.com/headroomhq/headroom/config"
)

// headroom serves the real API and returns a client for its operator
// token.
func headroom(t *testing.T) (*client.Client, *config.Config) {
	env := apitest.Serve(t)
	return &client.Client{URL: env.URL, Token: apitest.Token}, env.Config
}

func TestReads(t *testing.T) {
	c, cfg := headroom(t)
	ctx := context.Background()
	tests := []struct {
		name  string
		check func(t *testing.T) error
	}{
		{"health", func(t *testing.T) error {
			h, err := c.Health(ctx)
			if err == nil && h.Status != "ok" {
				t.Errorf("health %+v", h)
			}
			return err
		}},
		{"groups", func(t *testing.T) error {
			gs, err := c.Groups(ctx)
			if err == nil && len(gs) != len(cfg.ResourceGroups) {
				t.Errorf("%d groups, the configuration has %d", len(gs), len(cfg.ResourceGroups))
			}
			return err
		}},
		{"one group", func(t *testing.T) error {
			g, err := c.Group(ctx, "events")
			want, _ := cfg.Group("events")
			if err == nil && (g.Margin != want.Margin || g.Capacity.Produce != float64(want.Capacity.Produce)) {
				t.Errorf("group %+v, configured %+v", g, want)
			}
			return err
		}},
		{"projects", func(t *testing.T) error {
			ps, err := c.Projects(ctx)
			if err == nil && (len(ps) != len(cfg.Projects) || ps[0].Name != cfg.Projects[0].Name || ps[0].Produce.Share != float64(cfg.Projects[0].Produce.Share)) {
				t.Errorf("projects %+v", ps)
			}
			return err
		}},
		{"ledger", func(t *testing.T) error {
			es, err := c.Ledger(ctx, client.Span{Project: "checkout", Direction: "produce", From: time.Now().Add(-time.Hour), Limit: 10})
			if err == nil && (len(es) != 1 || es[0].After == nil || *es[0].After != 40<<20 || len(es[0].BorrowedFrom) != 1 || es[0].BorrowedFrom[0].Project != "search") {
				t.Errorf("ledger %+v", es)
			}
			return err
		}},
		{"explain", func(t *testing.T) error {
			ex, err := c.Explain(ctx, "checkout", "produce", time.Time{})
			if err == nil && (ex.Project != "checkout" || ex.Summary == "") {
				t.Errorf("explanation %+v", ex)
			}
			return err
		}},
		{"quotas", func(t *testing.T) error {
			qs, err := c.Quotas(ctx)
			if err == nil && len(qs) != 2*len(cfg.Projects) {
				t.Errorf("%d quota rows, want one per project and direction (%d)", len(qs), 2*len(cfg.Projects))
			}
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.check(t); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestOverrides(t *testing.T) {
	c, _ := headroom(t)
	ctx := context.Background()
	spec := map[string]any{"produce": map[string]any{"weight": 3}, "reason": "launch"}
	o, err := c.SetOverride(ctx, "project", "checkout", spec)
	if err != nil || o.Version != 1 || o.UpdatedBy != apitest.Actor {
		t.Fatalf("create: %+v, %v", o, err)
	}
	var s struct {
		Produce struct{ Weight float64 }
		Reason  string
	}
	if err := json.Unmarshal(o.Spec, &s); err != nil || s.Produce.Weight != 3 || s.Reason != "launch" {
		t.Fatalf("spec %s: %v", o.Spec, err)
	}
	// SetOverride reads the ETag first, so a second set replaces.
	if o, err = c.SetOverride(ctx, "project", "checkout", spec); err != nil || o.Version != 2 {
		t.Fatalf("replace: %+v, %v", o, err)
	}
	_, tag, err := c.Override(ctx, "project", "checkout")
	if err != nil || tag != `"v2"` {
		t.Fatalf("get: ETag %q, %v", tag, err)
	}
	// A stale ETag is refused, as is a create over an existing one.
	if _, _, err := c.PutOverride(ctx, "project", "checkout", spec, `"v1"`); !client.IsStatus(err, http.StatusPreconditionFailed) {
		t.Fatalf("stale ETag: %v", err)
	}
	if _, _, err := c.PutOverride(ctx, "project", "checkout", spec, ""); !client.IsStatus(err, http.StatusPreconditionRequired) {
		t.Fatalf("create over an existing one: %v", err)
	}
	ovs, err := c.Overrides(ctx)
	if err != nil || len(ovs) != 1 || ovs[0].Name != "checkout" {
		t.Fatalf("list: %+v, %v", ovs, err)
	}
	if err := c.DeleteOverride(ctx, "project", "checkout", tag); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Override(ctx, "project", "checkout"); !client.IsStatus(err, http.StatusNotFound) {
		t.Fatalf("after delete: %v", err)
	}
}

func TestErrors(t *testing.T) {
	c, _ := headroom(t)
	ctx := context.Background()
	notJSON := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte("<html>a proxy's page</html>"))
	}))
	defer notJSON.Close()
	tests := []struct {
		name   string
		call   func() error
		status int    // the *Error's status; 0 for another error
		field  string // the first field error's path
	}{
		{"invalid override names the field", func() error {
			_, err := c.SetOverride(ctx, "project", "checkout", map[string]any{"produce": map[string]any{"floor": 100 << 20}})
			return err
		}, http.StatusUnprocessableEntity, "produce.floor"},
		{"unknown project", func() error { _, err := c.Project(ctx, "nope"); return err }, http.StatusNotFound, ""},
		{"bad token", func() error {
			_, err := (&client.Client{URL: c.URL, Token: "wrong"}).Groups(ctx)
			return err
		}, http.StatusUnauthorized, ""},
		{"alerts without the alert loop", func() error { _, err := c.AlertAction(ctx, "acknowledge", 1, ""); return err }, http.StatusServiceUnavailable, ""},
		{"not the API's JSON", func() error { _, err := (&client.Client{URL: notJSON.URL}).Health(ctx); return err }, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			var e *client.Error
			var ce *client.ContentError
			switch {
			case tt.status == 0 && !errors.As(err, &ce):
				t.Fatalf("err %v, want a *ContentError", err)
			case tt.status == 0:
			case !errors.As(err, &e) || e.Status != tt.status:
				t.Fatalf("err %v, want an *Error with status %d", err, tt.status)
			case tt.field != "" && (len(e.Fields) == 0 || e.Fields[0].Path != tt.field):
				t.Fatalf("fields %+v, want %s first", e.Fields, tt.field)
			case e.Title == "":
				t.Fatalf("no title: %v", err)
			}
		})
	}
}
