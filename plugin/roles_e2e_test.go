package plugin

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/backend/grpcplugin"
	"github.com/grafana/grafana-plugin-sdk-go/genproto/pluginv2"
)

// resourceCall is one plugin resource call, written here by hand (not
// taken from the plugin's proxy table) with whether it changes anything.
type resourceCall struct {
	method, path, body string
	ifMatch            string
	write              bool
	ok                 int // the answer for a user allowed to make it
	// afterRefused is a read's answer when the writes before it were
	// refused; 0 means ok.
	afterRefused int
}

// everyResource lists every resource the plugin proxies, in an order in
// which each write succeeds once for an allowed user: the override is
// created then removed; the incident is acknowledged, approved, and a
// later rejection is refused by the alert loop (409), not by roles.
func everyResource(incident int64) []resourceCall {
	a := fmt.Sprintf("alerts/%d", incident)
	return []resourceCall{
		{method: "GET", path: "projects", ok: 200},
		{method: "GET", path: "groups", ok: 200},
		{method: "GET", path: "quotas", ok: 200},
		{method: "GET", path: "overrides", ok: 200},
		{method: "GET", path: "explain?project=checkout&direction=produce", ok: 200},
		{method: "GET", path: "ledger?project=checkout&direction=produce", ok: 200},
		{method: "GET", path: "alerts", ok: 200},
		{method: "GET", path: a, ok: 200},
		{method: "POST", path: "whatif", body: `{"kind": "project", "name": "checkout", "spec": {"produce": {"weight": 2}}, "window": "1h"}`, ok: 200},
		{method: "PUT", path: "overrides/project/checkout", body: `{"produce": {"weight": 2}, "reason": "roles"}`, write: true, ok: 200},
		{method: "GET", path: "overrides/project/checkout", ok: 200, afterRefused: 404},
		{method: "DELETE", path: "overrides/project/checkout", ifMatch: `"v1"`, write: true, ok: 204},
		{method: "POST", path: a + "/acknowledge", write: true, ok: 200},
		{method: "POST", path: a + "/approve", write: true, ok: 200},
		{method: "POST", path: a + "/reject", body: `{"reason": "too late"}`, write: true, ok: 409},
	}
}

// TestGrafanaRolesOverGoPlugin runs the plugin binary as Grafana does and
// calls every resource as a Grafana Viewer, Editor and Admin, and with no
// user, against Headroom's real API whose token for the datasource is an
// operator token marked proxy. Viewers and calls without a user only read:
// the plugin refuses their writes with 403 and nothing changes; Editors
// and Admins write, and the audit names them next to the token. A
// datasource that maps the operator role to Admin refuses Editors.
func TestGrafanaRolesOverGoPlugin(t *testing.T) {
	rpc := launch(t)
	res := dispense[grpcplugin.ResourceClient](t, rpc, "resource")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	call := func(t *testing.T, pc backend.PluginContext, c resourceCall) (int, string) {
		t.Helper()
		hdr := map[string]*pluginv2.StringList{"Content-Type": {Values: []string{"application/json"}}}
		if c.ifMatch != "" {
			hdr["If-Match"] = &pluginv2.StringList{Values: []string{c.ifMatch}}
		}
		s, err := res.CallResource(ctx, &pluginv2.CallResourceRequest{PluginContext: backend.ToProto().PluginContext(pc),
			Method: c.method, Path: strings.Split(c.path, "?")[0], Url: "/api/plugins/" + ID + "/resources/" + c.path, Body: []byte(c.body), Headers: hdr})
		if err != nil {
			t.Fatal(err)
		}
		r, err := s.Recv()
		if err != nil {
			t.Fatal(err)
		}
		return int(r.Code), string(r.Body)
	}
	users := []struct {
		name   string
		user   *backend.User
		writes bool
	}{
		{"Viewer", &backend.User{Login: "vic", Role: "Viewer"}, false},
		{"Editor", &backend.User{Login: "erin", Role: "Editor"}, true},
		{"Admin", &backend.User{Login: "ada", Email: "ada@example.com", Role: "Admin"}, true},
		{"no user", nil, false},
		{"no login", &backend.User{Role: "Admin"}, false},
	}
	for _, u := range users {
		t.Run(u.name, func(t *testing.T) {
			h := newHeadroom(t)
			id := h.openIncident(t)
			pc := pctx(settings(h.srv.URL, operatorToken))
			pc.User = u.user
			for _, c := range everyResource(id) {
				code, body := call(t, pc, c)
				switch {
				case !c.write && !u.writes && c.afterRefused != 0:
					if code != c.afterRefused {
						t.Fatalf("%s %s after refused writes: %d %s, want %d", c.method, c.path, code, body, c.afterRefused)
					}
				case !c.write || u.writes:
					if code != c.ok {
						t.Fatalf("%s %s: %d %s, want %d", c.method, c.path, code, body, c.ok)
					}
				default:
					if code != 403 || !strings.Contains(body, "needs the Editor role or higher") {
						t.Fatalf("%s %s: %d %s, want the plugin's 403", c.method, c.path, code, body)
					}
				}
			}
			audit, err := h.db.Audit(context.Background(), 100)
			if err != nil {
				t.Fatal(err)
			}
			var actors []string
			for _, r := range audit {
				actors = append(actors, r.Actor)
			}
			if !u.writes {
				if len(actors) != 0 {
					t.Fatalf("a refused user changed something: audit %v", actors)
				}
				in, err := h.db.Incident(context.Background(), id)
				if err != nil || in.State != "firing" {
					t.Fatalf("the incident moved without an allowed user: %+v %v", in, err)
				}
				return
			}
			want := "grafana-ops (user " + u.user.Login + ")"
			if len(actors) != 4 || slices.ContainsFunc(actors, func(a string) bool { return a != want }) {
				t.Fatalf("audit actors %v, want 4 records by %q", actors, want)
			}
		})
	}
	t.Run("operator role mapped to Admin", func(t *testing.T) {
		h := newHeadroom(t)
		s := settings(h.srv.URL, operatorToken)
		var js map[string]any
		if err := json.Unmarshal(s.JSONData, &js); err != nil {
			t.Fatal(err)
		}
		js["operatorRole"] = "Admin"
		s.JSONData, _ = json.Marshal(js)
		s.ID += 1000 // its own instance
		put := resourceCall{method: "PUT", path: "overrides/project/search", body: `{"produce": {"weight": 2}}`, write: true}
		for _, tt := range []struct {
			role string
			want int
		}{{"Editor", 403}, {"Admin", 200}} {
			pc := pctx(s)
			pc.User = &backend.User{Login: strings.ToLower(tt.role), Role: tt.role}
			if code, body := call(t, pc, put); code != tt.want {
				t.Fatalf("%s: %d %s, want %d", tt.role, code, body, tt.want)
			}
		}
	})
	t.Run("a token not marked proxy cannot write for a user", func(t *testing.T) {
		h := newHeadroom(t)
		pc := pctx(settings(h.srv.URL, viewerToken))
		pc.User = &backend.User{Login: "erin", Role: "Editor"}
		code, body := call(t, pc, resourceCall{method: "PUT", path: "overrides/project/search", body: `{"produce": {"weight": 2}}`})
		if code != 403 || !strings.Contains(body, "proxy: true") {
			t.Fatalf("%d %s, want the API's 403 for a non-proxy token", code, body)
		}
	})
}
