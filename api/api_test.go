package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/headroomhq/headroom/alerting"
	"github.com/headroomhq/headroom/alerting/alertingtest"
	"github.com/headroomhq/headroom/alerting/webhook"
	"github.com/headroomhq/headroom/config"
	"github.com/headroomhq/headroom/limiter/overrides/overridestest"
	"github.com/headroomhq/headroom/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	viewerToken   = "viewer-secret-token"
	operatorToken = "operator-secret-token"
	adminToken    = "admin-secret-token"
	expiredToken  = "expired-admin-token"
	proxyToken    = "grafana-proxy-token"
)

type env struct {
	api   *API
	db    *store.DB
	path  string
	cfg   *config.Config
	now   time.Time
	logs  *bytes.Buffer
	alert *alerting.Engine
}

// tokenExpiry is before every test's clock.
var tokenExpiry = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

func loadConfig(t testing.TB) *config.Config {
	t.Helper()
	c := overridestest.ExampleConfig(t)
	c.API.Tokens = []config.APIToken{
		{Name: "vera", Role: config.RoleViewer, SHA256: HashToken(viewerToken)},
		{Name: "otto", Role: config.RoleOperator, SHA256: HashToken(operatorToken)},
		{Name: "ada", Role: config.RoleAdmin, SHA256: HashToken(adminToken)},
		{Name: "old", Role: config.RoleAdmin, SHA256: HashToken(expiredToken), Expires: &tokenExpiry},
		{Name: "grafana", Role: config.RoleOperator, SHA256: HashToken(proxyToken), Proxy: true},
	}
	c.API.RateLimit, c.API.RateBurst = 1e6, 1e6
	return c
}

func newEnv(t testing.TB, path string, mutate func(*config.Config)) *env {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "headroom.db")
	}
	db := overridestest.OpenStore(t, path)
	e := &env{db: db, path: path, cfg: loadConfig(t), now: overridestest.Start, logs: &bytes.Buffer{}}
	if mutate != nil {
		mutate(e.cfg)
	}
	var err error
	e.alert, err = alerting.NewEngine(alerting.Options{Store: db, Config: e.cfg.Alerting, Overrides: alertingtest.NoOverrides{}, Conditions: alertingtest.Conditions(false), Now: func() time.Time { return e.now }})
	if err != nil {
		t.Fatal(err)
	}
	e.api, err = New(Options{
		Config: func() *config.Config { return e.cfg }, Store: db, Alerts: e.alert,
		Now:    func() time.Time { return e.now },
		Logger: slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

type resp struct {
	code int
	body string
	hdr  http.Header
}

func (e *env) do(t *testing.T, method, path, token, body string, hdr ...string) resp {
	t.Helper()
	var r *http.Request
	if body != "" {
		r = httptest.NewRequest(method, path, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
	} else {
		r = httptest.NewRequest(method, path, nil)
	}
	return e.serve(r, token, hdr...)
}

// serve answers r with the bearer token, when not empty, and the extra
// headers (name, value, ...; a repeated name adds a value).
func (e *env) serve(r *http.Request, token string, hdr ...string) resp {
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Add(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	e.api.ServeHTTP(w, r)
	return resp{w.Code, w.Body.String(), w.Header()}
}

func (e *env) openIncident(t testing.TB) int64 {
	t.Helper()
	n := webhook.Notification{Fingerprint: "fp", Status: "firing", AlertName: "GroupSaturated",
		Labels: map[string]string{"alertname": "GroupSaturated", "group": "events"}, StartsAt: e.now}
	if err := e.alert.Notify(context.Background(), []webhook.Notification{n}); err != nil {
		t.Fatal(err)
	}
	ins, err := e.db.Incidents(context.Background(), "")
	if err != nil || len(ins) == 0 {
		t.Fatalf("no incident: %v", err)
	}
	return ins[0].ID
}

// concrete fills a route's parameters with values that exist.
func concrete(path string, incident int64) string {
	switch path {
	case "/api/v1/ledger", "/api/v1/signals":
		return path + "?project=checkout"
	case "/api/v1/explain":
		return path + "?project=checkout&direction=produce"
	}
	return strings.NewReplacer(":kind/:name", "project/checkout", ":name", "events", ":id", fmt.Sprint(incident)).Replace(
		strings.Replace(path, "/projects/:name", "/projects/checkout", 1))
}

func bodyFor(r route) string {
	switch r.body {
	case "OverrideSpec":
		return `{"produce": {"share": "35MiB/s"}, "reason": "test"}`
	case "Reject":
		return `{"reason": "not now"}`
	case "WhatIf":
		return `{"kind": "project", "name": "checkout", "spec": {"produce": {"weight": 2}}, "window": "1h"}`
	}
	return ""
}

// routeRoles reads testdata/route_roles.txt: "METHOD PATH ROLE" per line.
func routeRoles(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile("testdata/route_roles.txt")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for i, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		if len(f) != 3 {
			t.Fatalf("route_roles.txt line %d: want METHOD PATH ROLE, got %q", i+1, l)
		}
		role := f[2]
		if role == "public" {
			role = ""
		}
		out[f[0]+" "+f[1]] = role
	}
	return out
}

// The served routes are exactly those of the fixture, and each answers
// every kind of caller as the fixture's role says: no token, a malformed
// one, a well-formed unknown one and an expired one get 401; a role below
// the fixture's gets 403; the rest get the route's success.
func TestEveryRouteWithEveryRole(t *testing.T) {
	want := routeRoles(t)
	table := map[string]route{}
	for _, r := range (&API{}).routes() {
		table[r.method+" "+r.path] = r
	}
	var served []string
	for _, ri := range newEnv(t, "", nil).api.engine().Routes() {
		served = append(served, ri.Method+" "+ri.Path)
	}
	slices.Sort(served)
	if fixture := slices.Sorted(maps.Keys(want)); !slices.Equal(served, fixture) {
		t.Fatalf("served routes differ from testdata/route_roles.txt\nserved:  %v\nfixture: %v", served, fixture)
	}
	tokens := map[string]string{"none": "", "bad": "not-a-token", "unknown": strings.Repeat("f", 43), "expired": expiredToken,
		config.RoleViewer: viewerToken, config.RoleOperator: operatorToken, config.RoleAdmin: adminToken}
	for _, key := range served {
		r, wantRole := table[key], want[key]
		for who, tok := range tokens {
			t.Run(r.method+" "+r.path+" as "+who, func(t *testing.T) {
				e := newEnv(t, "", func(c *config.Config) {
					c.Alerting.Playbooks = []config.PlaybookConfig{{Alert: "GroupSaturated", Action: config.ActionRaiseMargin, Mode: config.ModeApprove,
						Margin: 0.95, Cooldown: config.DefaultPlaybookCooldown, MaxTargets: 1, VerifyWindow: config.DefaultPlaybookVerifyWindow, Duration: config.DefaultPlaybookDuration}}
				})
				id := e.openIncident(t)
				// An override and a decision exist, so that every route
				// has something to show; writes need If-Match.
				if got := e.do(t, "PUT", "/api/v1/overrides/project/checkout", adminToken, `{"produce": {"weight": 2}}`); got.code != 200 {
					t.Fatalf("seed override: %d %s", got.code, got.body)
				}
				if err := e.db.RecordDecisions(context.Background(), []store.LedgerEntry{{At: e.now.Add(-2 * time.Minute), Group: "events",
					Direction: "produce", Project: "checkout", Outcome: "written", After: 1 << 20, Demand: 1 << 20}, {At: e.now.Add(-time.Minute), Group: "events",
					Direction: "produce", Project: "checkout", Outcome: "written", After: 1 << 20, Demand: 1 << 20}}); err != nil {
					t.Fatal(err)
				}
				if err := e.db.RecordSignals(context.Background(), []store.SignalEntry{{At: e.now.Add(-time.Minute), Project: "checkout",
					Direction: "produce", Rate: 1 << 20, Expected: 1 << 20, Upper: 2 << 20, Score: 0.1, State: "normal"}}); err != nil {
					t.Fatal(err)
				}
				var hdr []string
				if r.method == "DELETE" || r.method == "PUT" {
					hdr = []string{"If-Match", `"v1"`}
				}
				got := e.do(t, r.method, concrete(r.path, id), tok, bodyFor(r), hdr...)
				rank := map[string]int{config.RoleViewer: 1, config.RoleOperator: 2, config.RoleAdmin: 3}
				anonymous := rank[who] == 0
				allowed := wantRole == "" || (!anonymous && rank[who] >= rank[wantRole])
				switch {
				case allowed && got.code != r.ok:
					t.Fatalf("allowed: want %d, got %d %s", r.ok, got.code, got.body)
				case !allowed && anonymous && got.code != http.StatusUnauthorized:
					t.Fatalf("no valid token: want 401, got %d", got.code)
				case !allowed && !anonymous && got.code != http.StatusForbidden:
					t.Fatalf("role %s: want 403, got %d", who, got.code)
				}
				if got.code >= 400 && got.hdr.Get("Content-Type") != "application/problem+json" {
					t.Fatalf("error without problem+json: %s", got.hdr.Get("Content-Type"))
				}
			})
		}
	}
}

func TestBadOverrides(t *testing.T) {
	e := newEnv(t, "", func(c *config.Config) { c.API.MaxBodyBytes = 2048 })
	past := e.now.Add(-time.Hour).Format(time.RFC3339)
	tests := []struct {
		name, path, body string
		code             int
		field            string
	}{
		{"unknown field", "/api/v1/overrides/project/checkout", `{"produce": {"shares": 1}}`, 400, "produce.shares"},
		{"negative rate", "/api/v1/overrides/project/checkout", `{"produce": {"share": -5}}`, 400, "produce.share"},
		{"bad unit", "/api/v1/overrides/project/checkout", `{"fetch": {"ceiling": "9 parsecs"}}`, 400, "fetch.ceiling"},
		{"wrong type", "/api/v1/overrides/project/checkout", `{"produce": {"weight": "heavy"}}`, 400, "produce.weight"},
		{"floor above ceiling", "/api/v1/overrides/project/checkout", `{"produce": {"floor": "50MiB/s", "ceiling": "40MiB/s"}}`, 422, "produce.floor"},
		{"ceiling above safe capacity", "/api/v1/overrides/project/checkout", `{"produce": {"ceiling": "95MiB/s"}}`, 422, "produce.ceiling"},
		{"expired", "/api/v1/overrides/project/checkout", `{"produce": {"weight": 2}, "expires_at": "` + past + `"}`, 422, "expires_at"},
		{"empty", "/api/v1/overrides/project/checkout", `{}`, 422, ""},
		{"group fields on a project", "/api/v1/overrides/project/checkout", `{"freeze": true}`, 422, "freeze"},
		{"bad margin", "/api/v1/overrides/group/events", `{"margin": 1.5}`, 422, "margin"},
		{"unknown project", "/api/v1/overrides/project/nope", `{"produce": {"weight": 2}}`, 404, ""},
		{"unknown kind", "/api/v1/overrides/broker/1", `{"margin": 0.5}`, 422, ""},
		{"two values", "/api/v1/overrides/group/events", `{"freeze": true} {"freeze": false}`, 400, ""},
		{"oversized", "/api/v1/overrides/project/checkout", `{"reason": "` + strings.Repeat("x", 4096) + `"}`, 413, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := e.do(t, "PUT", tt.path, operatorToken, tt.body)
			if got.code != tt.code {
				t.Fatalf("code %d, want %d: %s", got.code, tt.code, got.body)
			}
			var p Problem
			if err := json.Unmarshal([]byte(got.body), &p); err != nil || p.Status != tt.code {
				t.Fatalf("not a problem document: %s", got.body)
			}
			if tt.field != "" {
				var paths []string
				for _, fe := range p.Errors {
					paths = append(paths, fe.Path)
				}
				if !slices.Contains(paths, tt.field) {
					t.Fatalf("errors %v lack path %q", p.Errors, tt.field)
				}
			}
		})
	}
	// Nothing was stored, and nothing audited.
	if ovs, _ := e.db.Overrides(context.Background(), e.now); len(ovs) != 0 {
		t.Fatalf("bad input stored overrides: %+v", ovs)
	}
}

func TestOverrideLifecycleAndConcurrency(t *testing.T) {
	e := newEnv(t, "", nil)
	put := func(body string, hdr ...string) resp {
		return e.do(t, "PUT", "/api/v1/overrides/project/search", operatorToken, body, hdr...)
	}
	r := put(`{"produce": {"share": "35MiB/s", "pin": "20MiB/s"}, "reason": "launch"}`)
	if r.code != 200 || r.hdr.Get("ETag") != `"v1"` {
		t.Fatalf("create: %d %s %s", r.code, r.hdr.Get("ETag"), r.body)
	}
	if r := put(`{"produce": {"weight": 3}}`); r.code != http.StatusPreconditionRequired {
		t.Fatalf("replace without If-Match: %d", r.code)
	}
	// The effective project shows the override.
	var p ProjectView
	if r := e.do(t, "GET", "/api/v1/projects/search", viewerToken, ""); r.code != 200 || json.Unmarshal([]byte(r.body), &p) != nil {
		t.Fatalf("get project: %d %s", r.code, r.body)
	}
	if p.Produce.Share != 35<<20 || p.Produce.Pin == nil || *p.Produce.Pin != 20<<20 || p.Fetch.Share != 60<<20 {
		t.Fatalf("effective project %+v", p)
	}

	// Two operators replace it at once from the same version: one wins.
	var wg sync.WaitGroup
	codes := make([]int, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i] = put(fmt.Sprintf(`{"produce": {"weight": %d}}`, i+2), "If-Match", `"v1"`).code
		}()
	}
	wg.Wait()
	sort.Ints(codes)
	if codes[0] != 200 || codes[1] != http.StatusPreconditionFailed {
		t.Fatalf("concurrent updates answered %v, want one 200 and one 412", codes)
	}
	if r := e.do(t, "DELETE", "/api/v1/overrides/project/search", operatorToken, "", "If-Match", `"v1"`); r.code != http.StatusPreconditionFailed {
		t.Fatalf("stale delete: %d", r.code)
	}

	// A restart keeps the override and the audit trail: the first process's
	// store is closed, and the same SQLite file is opened afresh.
	if err := e.db.Close(); err != nil {
		t.Fatal(err)
	}
	e2 := newEnv(t, e.path, nil)
	r = e2.do(t, "GET", "/api/v1/overrides/project/search", viewerToken, "")
	if r.code != 200 || r.hdr.Get("ETag") != `"v2"` {
		t.Fatalf("after restart: %d %s", r.code, r.hdr.Get("ETag"))
	}
	var audit []store.AuditRecord
	r = e2.do(t, "GET", "/api/v1/audit", adminToken, "")
	if r.code != 200 || json.Unmarshal([]byte(r.body), &audit) != nil || len(audit) != 2 {
		t.Fatalf("audit after restart: %d %s", r.code, r.body)
	}
	// Newest first: the winning replace (v1 -> v2), then the create.
	if audit[0].Actor != "otto" || audit[0].Action != "put_override" || audit[0].Target != "project/search" {
		t.Fatalf("audit records %+v", audit)
	}
	if string(audit[1].Before) != "null" {
		t.Fatalf("create has a before: %s", audit[1].Before)
	}
	var before, after store.Override
	if json.Unmarshal(audit[0].Before, &before) != nil || json.Unmarshal(audit[0].After, &after) != nil {
		t.Fatalf("audit before/after are not overrides: %s / %s", audit[0].Before, audit[0].After)
	}
	if before.Version != 1 || after.Version != 2 || !strings.Contains(string(before.Spec), "pin") || strings.Contains(string(after.Spec), "pin") {
		t.Fatalf("audit before %+v after %+v", before, after)
	}
	if r := e2.do(t, "DELETE", "/api/v1/overrides/project/search", operatorToken, "", "If-Match", `"v2"`); r.code != 204 {
		t.Fatalf("delete: %d %s", r.code, r.body)
	}
	if r := e2.do(t, "GET", "/api/v1/overrides/project/search", viewerToken, ""); r.code != 404 {
		t.Fatalf("after delete: %d", r.code)
	}
}

func TestExpiredOverridesStopApplying(t *testing.T) {
	e := newEnv(t, "", nil)
	until := e.now.Add(time.Hour).Format(time.RFC3339)
	if r := e.do(t, "PUT", "/api/v1/overrides/group/events", operatorToken, `{"freeze": true, "margin": 0.95, "expires_at": "`+until+`"}`); r.code != 200 {
		t.Fatalf("%d %s", r.code, r.body)
	}
	group := func() GroupView {
		var g GroupView
		r := e.do(t, "GET", "/api/v1/groups/events", viewerToken, "")
		if r.code != 200 || json.Unmarshal([]byte(r.body), &g) != nil {
			t.Fatalf("%d %s", r.code, r.body)
		}
		return g
	}
	if g := group(); !g.Frozen || g.Margin != 0.95 {
		t.Fatalf("override not applied: %+v", g)
	}
	e.now = e.now.Add(2 * time.Hour)
	if g := group(); g.Frozen || g.Margin != 0.9 {
		t.Fatalf("expired override still applied: %+v", g)
	}
}

func TestLedgerAndExplain(t *testing.T) {
	e := newEnv(t, "", nil)
	at := e.now.Add(-10 * time.Minute)
	err := e.db.RecordDecisions(context.Background(), []store.LedgerEntry{{
		At: at, Round: 7, Group: "events", Direction: "produce", Project: "checkout", Entity: "user=checkout", Mode: "enforce",
		Outcome: "written", Before: 30 << 20, After: 40 << 20, Share: 30 << 20, Demand: 38 << 20,
		Reasons: []string{"borrowed_from"}, BorrowedFrom: []store.LedgerTransfer{{Project: "search", Bytes: 10 << 20}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	r := e.do(t, "GET", "/api/v1/explain?project=checkout&direction=produce&at="+e.now.Format(time.RFC3339), viewerToken, "")
	var ex Explanation
	if r.code != 200 || json.Unmarshal([]byte(r.body), &ex) != nil {
		t.Fatalf("%d %s", r.code, r.body)
	}
	if !strings.Contains(ex.Summary, "40MiB/s per broker") || !strings.Contains(ex.Summary, "borrowed 10MiB/s from search") {
		t.Fatalf("summary %q", ex.Summary)
	}
	if r := e.do(t, "GET", "/api/v1/explain?project=checkout&direction=produce&at="+at.Add(-time.Minute).Format(time.RFC3339), viewerToken, ""); r.code != 404 {
		t.Fatalf("explain before any decision: %d", r.code)
	}
	var es []store.LedgerEntry
	r = e.do(t, "GET", "/api/v1/ledger?project=checkout", viewerToken, "")
	if r.code != 200 || json.Unmarshal([]byte(r.body), &es) != nil || len(es) != 1 {
		t.Fatalf("ledger: %d %s", r.code, r.body)
	}
	var qs []QuotaState
	r = e.do(t, "GET", "/api/v1/quotas", viewerToken, "")
	if r.code != 200 || json.Unmarshal([]byte(r.body), &qs) != nil || len(qs) != 12 {
		t.Fatalf("quotas: %d %s", r.code, r.body)
	}
	if qs[0].Project != "checkout" || qs[0].Planned == nil || *qs[0].Planned != 40<<20 {
		t.Fatalf("quota state %+v", qs[0])
	}
	for _, bad := range []string{"/api/v1/ledger?project=nope", "/api/v1/ledger?project=checkout&direction=sideways", "/api/v1/explain?project=checkout&direction=produce&at=yesterday", "/api/v1/ledger?project=checkout&limit=0"} {
		if r := e.do(t, "GET", bad, viewerToken, ""); r.code != 400 || !strings.Contains(r.body, `"path"`) {
			t.Errorf("%s: %d %s", bad, r.code, r.body)
		}
	}
}

func TestAlertActions(t *testing.T) {
	e := newEnv(t, "", func(c *config.Config) {
		c.Alerting.Playbooks = []config.PlaybookConfig{{Alert: "GroupSaturated", Action: config.ActionRaiseMargin, Mode: config.ModeApprove,
			Margin: 0.95, Cooldown: config.DefaultPlaybookCooldown, MaxTargets: 1, VerifyWindow: config.DefaultPlaybookVerifyWindow, Duration: config.DefaultPlaybookDuration}}
	})
	id := e.openIncident(t)
	path := fmt.Sprintf("/api/v1/alerts/%d", id)
	if r := e.do(t, "POST", path+"/reject", operatorToken, `{}`); r.code != 422 {
		t.Fatalf("reject without reason: %d", r.code)
	}
	r := e.do(t, "POST", path+"/approve", operatorToken, "")
	var in IncidentView
	if r.code != 200 || json.Unmarshal([]byte(r.body), &in) != nil || in.State != "handling" {
		t.Fatalf("approve: %d %s", r.code, r.body)
	}
	if r := e.do(t, "POST", path+"/approve", operatorToken, ""); r.code != http.StatusConflict {
		t.Fatalf("second approve: %d", r.code)
	}
	r = e.do(t, "GET", path, viewerToken, "")
	if r.code != 200 || !strings.Contains(r.body, `"Actor":"otto"`) {
		t.Fatalf("steps do not name the approver: %s", r.body)
	}
	if r := e.do(t, "GET", "/api/v1/alerts?state=handling", viewerToken, ""); r.code != 200 || !strings.Contains(r.body, `"state":"handling"`) {
		t.Fatalf("list: %d %s", r.code, r.body)
	}
	if r := e.do(t, "GET", "/api/v1/alerts?state=sleepy", viewerToken, ""); r.code != 400 {
		t.Fatalf("bad state: %d", r.code)
	}
	if r := e.do(t, "POST", "/api/v1/alerts/999/acknowledge", operatorToken, ""); r.code != 404 {
		t.Fatalf("missing incident: %d", r.code)
	}
}

func TestRateLimit(t *testing.T) {
	e := newEnv(t, "", func(c *config.Config) { c.API.RateLimit, c.API.RateBurst = 1, 3 })
	for i := range 3 {
		if r := e.do(t, "GET", "/api/v1/groups", viewerToken, ""); r.code != 200 {
			t.Fatalf("request %d: %d", i, r.code)
		}
	}
	r := e.do(t, "GET", "/api/v1/groups", viewerToken, "")
	if r.code != http.StatusTooManyRequests || r.hdr.Get("Retry-After") != "1" {
		t.Fatalf("4th request: %d retry-after %q", r.code, r.hdr.Get("Retry-After"))
	}
	// Another client has its own bucket; time refills.
	if r := e.do(t, "GET", "/api/v1/groups", operatorToken, ""); r.code != 200 {
		t.Fatalf("other token: %d", r.code)
	}
	e.now = e.now.Add(time.Second)
	if r := e.do(t, "GET", "/api/v1/groups", viewerToken, ""); r.code != 200 {
		t.Fatalf("after refill: %d", r.code)
	}
	// Before a token, the caller's address is the key.
	for i := range 4 {
		want := 401
		if i == 3 {
			want = http.StatusTooManyRequests
		}
		if r := e.do(t, "GET", "/api/v1/groups", "", ""); r.code != want {
			t.Fatalf("anonymous request %d: %d, want %d", i, r.code, want)
		}
	}
	// A reloaded configuration's limits apply from the next request on:
	// the bucket refilled at 1/s until then (0.1 token after 100ms), and at
	// 10/s after, so 100ms later it holds more than one token.
	e.cfg.API.RateLimit = 10
	e.now = e.now.Add(100 * time.Millisecond)
	if r := e.do(t, "GET", "/api/v1/groups", viewerToken, ""); r.code != http.StatusTooManyRequests {
		t.Fatalf("at the reload, with 0.1 token: %d", r.code)
	}
	e.now = e.now.Add(100 * time.Millisecond)
	if r := e.do(t, "GET", "/api/v1/groups", viewerToken, ""); r.code != 200 {
		t.Fatalf("100ms after raising the rate to 10/s: %d", r.code)
	}
}

func TestSecretsNeverLogged(t *testing.T) {
	e := newEnv(t, "", nil)
	e.do(t, "GET", "/api/v1/groups", viewerToken, "")
	e.do(t, "PUT", "/api/v1/overrides/project/checkout", "wrong-"+adminToken, `{"produce": {"weight": 2}}`)
	logs := e.logs.String()
	if !strings.Contains(logs, "api request") {
		t.Fatalf("nothing logged: %q", logs)
	}
	for _, secret := range []string{viewerToken, adminToken, HashToken(viewerToken)} {
		if strings.Contains(logs, secret) {
			t.Fatalf("logs contain a secret: %s", logs)
		}
	}
}

func TestHealthAndUnknownRoute(t *testing.T) {
	e := newEnv(t, "", nil)
	if r := e.do(t, "GET", "/api/v1/health", "", ""); r.code != 200 {
		t.Fatalf("health: %d", r.code)
	}
	if r := e.do(t, "GET", "/api/v1/nope", viewerToken, ""); r.code != 404 || r.hdr.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("unknown route: %d", r.code)
	}
	if r := e.do(t, "PATCH", "/api/v1/groups", viewerToken, ""); r.code != 405 {
		t.Fatalf("wrong method: %d", r.code)
	}
}

func TestWhatIf(t *testing.T) {
	e := newEnv(t, "", nil)
	var es []store.LedgerEntry
	for i := range 120 {
		at := e.now.Add(-time.Hour + time.Duration(i)*30*time.Second)
		es = append(es,
			store.LedgerEntry{At: at, Group: "events", Direction: "produce", Project: "checkout", Outcome: "written", Demand: 60 << 20},
			store.LedgerEntry{At: at, Group: "events", Direction: "produce", Project: "search", Outcome: "written", Demand: 5 << 20})
	}
	if err := e.db.RecordDecisions(context.Background(), es); err != nil {
		t.Fatal(err)
	}
	r := e.do(t, "POST", "/api/v1/whatif", viewerToken, `{"kind": "project", "name": "checkout", "spec": {"produce": {"ceiling": "35MiB/s"}}, "window": "1h"}`)
	var ans struct {
		Current, Proposed struct {
			ThrottledBytes float64 `json:"throttled_bytes"`
			OverloadRounds int     `json:"overload_rounds"`
		}
	}
	if r.code != 200 || json.Unmarshal([]byte(r.body), &ans) != nil {
		t.Fatalf("%d %s", r.code, r.body)
	}
	if !(ans.Proposed.ThrottledBytes > ans.Current.ThrottledBytes) || ans.Current.OverloadRounds != 0 {
		t.Fatalf("what-if answer %+v", ans)
	}
	for _, tt := range []struct {
		body  string
		code  int
		field string
	}{
		{`{"kind": "project", "name": "checkout", "spec": {"produce": {"floor": "80MiB/s"}}}`, 422, "spec.produce.floor"},
		{`{"kind": "project", "name": "checkout", "spec": {"produce": {"weight": 2}}, "window": "soon"}`, 422, "window"},
		{`{"kind": "project", "name": "checkout", "spec": {"produce": {"weight": 2}}, "window": "-1h"}`, 422, "window"},
		{`{"kind": "project", "name": "checkout", "spec": {"produce": {"weight": 2}}, "window": "720h"}`, 422, "window"},
		{`{"kind": "group", "name": "batch", "spec": {"margin": 0.8}, "window": "1h"}`, 409, ""},
		{`{"kind": "project", "name": "checkout", "spec": {}, "extra": 1}`, 400, "extra"},
	} {
		r := e.do(t, "POST", "/api/v1/whatif", viewerToken, tt.body)
		if r.code != tt.code || (tt.field != "" && !strings.Contains(r.body, `"path":"`+tt.field+`"`)) {
			t.Errorf("%s: %d %s", tt.body, r.code, r.body)
		}
	}
}

// The limiter records NaN for what it did not know in a round (a failed
// read, stale demand); JSON has no NaN, so those come back as null, and
// the answer is never an empty 200.
func TestLedgerWithUnknownValues(t *testing.T) {
	e := newEnv(t, "", nil)
	if err := e.db.RecordDecisions(context.Background(), []store.LedgerEntry{{At: e.now.Add(-time.Minute), Group: "events", Direction: "produce",
		Project: "checkout", Outcome: "failed", Before: math.NaN(), After: 30 << 20, Share: 30 << 20, Demand: math.NaN(), Forecast: math.Inf(1)}}); err != nil {
		t.Fatal(err)
	}
	var es []map[string]any
	r := e.do(t, "GET", "/api/v1/ledger?project=checkout", viewerToken, "")
	if r.code != 200 || json.Unmarshal([]byte(r.body), &es) != nil || len(es) != 1 {
		t.Fatalf("ledger: %d %q", r.code, r.body)
	}
	for k, want := range map[string]any{"Before": nil, "Demand": nil, "Forecast": nil, "After": float64(30 << 20), "Outcome": "failed"} {
		if v, ok := es[0][k]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", k, v, ok, want)
		}
	}
	var ex Explanation
	r = e.do(t, "GET", "/api/v1/explain?project=checkout&direction=produce", viewerToken, "")
	if r.code != 200 || json.Unmarshal([]byte(r.body), &ex) != nil {
		t.Fatalf("explain: %d %q", r.code, r.body)
	}
	if ex.Decision.Before != nil || !strings.Contains(ex.Summary, "demand unknown") || !strings.Contains(ex.Summary, "quota of 30MiB/s per broker") {
		t.Fatalf("explanation %+v", ex)
	}
}

// Whatever the body, an override write answers 200 or a 4xx problem
// document, never a server error or an empty answer.
func FuzzPutOverride(f *testing.F) {
	for _, s := range []string{
		`{"produce": {"share": "35MiB/s"}, "reason": "test"}`,
		`{"produce": {"shares": 1}}`, `{"produce": {"share": -5}}`, `{"fetch": {"ceiling": "9 parsecs"}}`,
		`{"produce": {"floor": "50MiB/s", "ceiling": "40MiB/s"}}`, `{"freeze": true} {"freeze": false}`,
		`{"expires_at": "2000-01-01T00:00:00Z", "produce": {"pin": 1e400}}`, `[]`, `null`, ``,
	} {
		f.Add("project", "checkout", s)
		f.Add("group", "events", s)
	}
	e := newEnv(f, "", nil)
	f.Fuzz(func(t *testing.T, kind, name, body string) {
		r := httptest.NewRequest("PUT", "/api/v1/overrides/x/y", strings.NewReader(body))
		r.URL.Path = "/api/v1/overrides/" + kind + "/" + name
		r.Header.Set("Authorization", "Bearer "+operatorToken)
		w := httptest.NewRecorder()
		e.api.ServeHTTP(w, r)
		switch {
		case w.Code == 200:
			var v OverrideView
			if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil {
				t.Fatalf("200 without an override: %q", w.Body)
			}
		case w.Code >= 400 && w.Code < 500:
			var p Problem
			if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil || p.Status != w.Code || w.Header().Get("Content-Type") != "application/problem+json" {
				t.Fatalf("%d without a problem document: %q", w.Code, w.Body)
			}
		default:
			t.Fatalf("answered %d: %s", w.Code, w.Body)
		}
	})
}

func TestSignals(t *testing.T) {
	e := newEnv(t, "", nil)
	ctx := context.Background()
	var es []store.SignalEntry
	for i := range 4 {
		at := e.now.Add(time.Duration(i-4) * time.Minute)
		es = append(es,
			store.SignalEntry{At: at, Project: "checkout", Direction: "produce", Rate: float64(10+i) * (1 << 20), Expected: 10 << 20, Upper: 14 << 20, Score: float64(i) / 4, State: "normal"},
			store.SignalEntry{At: at, Project: "search", Direction: "fetch", Rate: 5 << 20, Expected: math.NaN(), Upper: math.NaN(), Score: math.NaN(), State: "warming"})
	}
	if err := e.db.RecordSignals(ctx, es); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		query    string
		wantN    int
		wantLast map[string]any
	}{
		{"?project=checkout&direction=produce", 4, map[string]any{"project": "checkout", "rate": float64(13 << 20), "expected": float64(10 << 20), "upper": float64(14 << 20), "score": 0.75, "state": "normal"}},
		{"?project=search", 4, map[string]any{"direction": "fetch", "expected": nil, "upper": nil, "score": nil, "state": "warming"}},
		{"", 8, map[string]any{"project": "search"}},
		{"?direction=produce&limit=2", 2, map[string]any{"project": "checkout", "score": 0.75}},
		{"?project=checkout&from=" + e.now.Add(-150*time.Second).Format(time.RFC3339), 2, map[string]any{"score": 0.75}},
		{"?project=checkout&to=" + e.now.Add(-4*time.Minute).Format(time.RFC3339), 1, map[string]any{"score": 0.0}},
		{"?project=checkout&direction=fetch", 0, nil},
	}
	for _, tc := range cases {
		t.Run(tc.query, func(t *testing.T) {
			r := e.do(t, "GET", "/api/v1/signals"+tc.query, viewerToken, "")
			var got []map[string]any
			if r.code != 200 || json.Unmarshal([]byte(r.body), &got) != nil {
				t.Fatalf("%d %s", r.code, r.body)
			}
			if len(got) != tc.wantN {
				t.Fatalf("%d signals, want %d: %s", len(got), tc.wantN, r.body)
			}
			if tc.wantN == 0 {
				if r.body != "[]" {
					t.Fatalf("empty answer %q, want []", r.body)
				}
				return
			}
			last := got[len(got)-1]
			for k, want := range tc.wantLast {
				if v, ok := last[k]; !ok || v != want {
					t.Errorf("%s = %v (present %v), want %v", k, v, ok, want)
				}
			}
		})
	}
	bad := []struct{ query, path string }{
		{"?project=nope", "project"},
		{"?direction=sideways", "direction"},
		{"?from=yesterday", "from"},
		{"?to=2026-13-01T00:00:00Z", "to"},
		{"?from=" + e.now.Format(time.RFC3339) + "&to=" + e.now.Add(-time.Hour).Format(time.RFC3339), "from"},
		{"?limit=0", "limit"},
		{"?limit=10001", "limit"},
		{"?limit=ten", "limit"},
	}
	for _, tc := range bad {
		t.Run("bad "+tc.query, func(t *testing.T) {
			r := e.do(t, "GET", "/api/v1/signals"+tc.query, viewerToken, "")
			var p Problem
			if r.code != 400 || r.hdr.Get("Content-Type") != "application/problem+json" || json.Unmarshal([]byte(r.body), &p) != nil {
				t.Fatalf("%d %s %s", r.code, r.hdr.Get("Content-Type"), r.body)
			}
			if len(p.Errors) != 1 || p.Errors[0].Path != tc.path {
				t.Fatalf("errors %+v, want one at %q", p.Errors, tc.path)
			}
		})
	}
}

// Whatever the query string, a signals read answers 200 with a JSON array
// or 400 with a problem document naming the parameter, never a 5xx.
func FuzzSignalsQuery(f *testing.F) {
	for _, s := range []string{
		"project=checkout&direction=produce", "", "direction=sideways", "from=yesterday", "limit=0", "limit=99999999999999999999",
		"from=2026-11-23T03:00:00Z&to=2026-11-23T02:00:00Z", "project=%00", "to=2026-11-23T03:00:00%2B14:00&limit=1", "project=checkout&project=nope",
	} {
		f.Add(s)
	}
	e := newEnv(f, "", nil)
	if err := e.db.RecordSignals(context.Background(), []store.SignalEntry{{At: e.now.Add(-time.Minute), Project: "checkout", Direction: "produce",
		Rate: 1, Expected: math.NaN(), Upper: 2, Score: 0.5, State: "normal"}}); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, query string) {
		r := httptest.NewRequest("GET", "/api/v1/signals", nil)
		r.URL.RawQuery = query
		r.Header.Set("Authorization", "Bearer "+viewerToken)
		w := httptest.NewRecorder()
		e.api.ServeHTTP(w, r)
		switch w.Code {
		case 200:
			var v []SignalView
			if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil {
				t.Fatalf("200 without signals: %q", w.Body)
			}
		case 400:
			var p Problem
			if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil || p.Status != 400 || len(p.Errors) != 1 || p.Errors[0].Path == "" {
				t.Fatalf("400 without a field path: %q", w.Body)
			}
		default:
			t.Fatalf("answered %d: %s", w.Code, w.Body)
		}
	})
}
