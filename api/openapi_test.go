package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/headroomhq/headroom/alerting/webhook"
	"github.com/headroomhq/headroom/config"
	"github.com/headroomhq/headroom/store"
)

func testDocument(t *testing.T) *openapi3.T {
	t.Helper()
	d, err := Document()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// The embedded document is a valid OpenAPI 3 document, and the one served
// at /api/v1/openapi.json loads and validates again as one.
func TestOpenAPIDocumentValidates(t *testing.T) {
	d := testDocument(t)
	if err := d.Validate(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(d.OpenAPI, "3.0.") {
		t.Fatalf("openapi %q", d.OpenAPI)
	}
	e := newEnv(t, "", nil)
	r := e.do(t, "GET", "/api/v1/openapi.json", "", "")
	if r.code != 200 || !strings.HasPrefix(r.hdr.Get("Content-Type"), "application/json") {
		t.Fatalf("GET /api/v1/openapi.json: %d %s", r.code, r.hdr.Get("Content-Type"))
	}
	l := openapi3.NewLoader()
	served, err := l.LoadFromData([]byte(r.body))
	if err != nil {
		t.Fatalf("the served document does not load: %v", err)
	}
	if err := served.Validate(l.Context); err != nil {
		t.Fatalf("the served document does not validate: %v", err)
	}
	if got, want := served.Paths.Len(), d.Paths.Len(); got != want || got < 15 {
		t.Fatalf("served document has %d paths, want %d", got, want)
	}
}

// A broken document is refused with the reason: the check that guards the
// served document is not a formality.
func TestOpenAPIValidationRefusesBrokenDocuments(t *testing.T) {
	for _, tt := range []struct {
		name, old, new, want string
	}{
		{"dangling reference", `{$ref: "#/components/schemas/Health"}`, `{$ref: "#/components/schemas/Nope"}`, "Nope"},
		{"unknown type", `{type: string, enum: [ok]}`, `{type: strin, enum: [ok]}`, "strin"},
		{"path parameter not declared", `/api/v1/groups/{name}:`, `/api/v1/groups/{group}:`, "group"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			text := string(openapiYAML)
			broken := strings.Replace(text, tt.old, tt.new, 1)
			if broken == text {
				t.Fatalf("%q is not in the document", tt.old)
			}
			l := openapi3.NewLoader()
			d, err := l.LoadFromData([]byte(broken))
			if err == nil {
				err = d.Validate(l.Context)
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

// Every route gin serves has an operation in the document and every
// operation is served; each operation agrees with the route table (summary,
// role, security, query parameters, request and success schemas), has a
// request schema when the route takes a body, and a schema for every
// response with a body.
func TestOpenAPIDocumentMatchesRoutes(t *testing.T) {
	d := testDocument(t)
	e := newEnv(t, "", nil)
	var inDoc, served []string
	for p, item := range d.Paths.Map() {
		for m := range item.Operations() {
			inDoc = append(inDoc, m+" "+p)
		}
	}
	for _, ri := range e.api.engine().Routes() {
		served = append(served, ri.Method+" "+openAPIPath(ri.Path))
	}
	sort.Strings(inDoc)
	sort.Strings(served)
	if !slices.Equal(inDoc, served) {
		t.Fatalf("document and routes differ\n doc: %v\nserved: %v", inDoc, served)
	}
	ref := func(s *openapi3.SchemaRef) string {
		if s == nil {
			return ""
		}
		return strings.TrimPrefix(s.Ref, "#/components/schemas/")
	}
	for _, r := range e.api.routes() {
		t.Run(r.method+" "+r.path, func(t *testing.T) {
			item := d.Paths.Find(openAPIPath(r.path))
			if item == nil {
				t.Fatal("no path item")
			}
			op := item.GetOperation(r.method)
			if op == nil {
				t.Fatal("no operation")
			}
			if op.Summary != r.summary {
				t.Errorf("summary %q, route table %q", op.Summary, r.summary)
			}
			if op.OperationID == "" {
				t.Error("no operationId")
			}
			role, _ := op.Extensions["x-headroom-role"].(string)
			if role != r.role {
				t.Errorf("x-headroom-role %q, route table %q", role, r.role)
			}
			secured := op.Security != nil && len(*op.Security) > 0
			if secured != (r.role != "") {
				t.Errorf("security %v for role %q", op.Security, r.role)
			}
			var query, user []string
			for _, p := range append(slices.Clone(item.Parameters), op.Parameters...) {
				switch {
				case p.Value.In == openapi3.ParameterInQuery:
					query = append(query, p.Value.Name)
				case p.Value.In == openapi3.ParameterInHeader && p.Value.Name == UserHeader:
					user = append(user, p.Value.Name)
				}
				if p.Value.Schema == nil {
					t.Errorf("parameter %s has no schema", p.Value.Name)
				}
			}
			sort.Strings(query)
			if want := slices.Sorted(slices.Values(r.query)); !slices.Equal(query, want) {
				t.Errorf("query parameters %v, route table %v", query, want)
			}
			if (len(user) == 1) != (r.role != "") {
				t.Errorf("%s parameter %v on a route of role %q", UserHeader, user, r.role)
			}
			switch {
			case r.body == "" && op.RequestBody != nil:
				t.Errorf("request body documented on a route without one")
			case r.body != "":
				if op.RequestBody == nil || !op.RequestBody.Value.Required {
					t.Fatalf("no required request body")
				}
				mt := op.RequestBody.Value.Content.Get("application/json")
				if mt == nil || mt.Schema == nil || ref(mt.Schema) != r.body {
					t.Errorf("request schema %v, route table %q", mt, r.body)
				}
			}
			ok := op.Responses.Status(r.ok)
			if ok == nil {
				t.Fatalf("no %d response", r.ok)
			}
			if r.resp != "" {
				mt := ok.Value.Content.Get("application/json")
				if mt == nil || ref(mt.Schema) != r.resp {
					t.Errorf("success schema %v, route table %q", mt, r.resp)
				}
			}
			for code, resp := range op.Responses.Map() {
				n, err := strconv.Atoi(code)
				if err != nil {
					t.Errorf("response %q: only explicit statuses are documented", code)
					continue
				}
				if n == http.StatusNoContent {
					if len(resp.Value.Content) > 0 {
						t.Errorf("204 with content")
					}
					continue
				}
				if len(resp.Value.Content) == 0 {
					t.Errorf("response %s has no content", code)
				}
				for ct, mt := range resp.Value.Content {
					if mt.Schema == nil {
						t.Errorf("response %s %s has no schema", code, ct)
					}
					if (n >= 400) != (ct == "application/problem+json") {
						t.Errorf("response %s is %s", code, ct)
					}
				}
			}
			for _, code := range []int{http.StatusTooManyRequests, http.StatusInternalServerError} {
				if op.Responses.Status(code) == nil {
					t.Errorf("no %d response", code)
				}
			}
			if r.role != "" {
				for _, code := range []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden} {
					if op.Responses.Status(code) == nil {
						t.Errorf("no %d response on an authenticated route", code)
					}
				}
			}
			if r.body != "" {
				for _, code := range []int{http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity} {
					if op.Responses.Status(code) == nil {
						t.Errorf("no %d response on a route with a body", code)
					}
				}
			}
		})
	}
}

// exchange is one request to the API and what it must answer. schemaBad
// marks a request the document's own schemas refuse, as the API does.
type exchange struct {
	method, path, token, body string
	hdr                       []string
	code                      int
	schemaBad                 bool
}

// validator checks real exchanges against the document: every response
// with openapi3filter.ValidateResponse (its status must be documented),
// every request the API accepts with ValidateRequest, and every request
// marked schemaBad must fail ValidateRequest.
type validator struct {
	t      *testing.T
	router routers.Router
	// covered records, per operation, the statuses validated.
	covered map[string]map[int]bool
}

func newValidator(t *testing.T) *validator {
	t.Helper()
	r, err := gorillamux.NewRouter(testDocument(t))
	if err != nil {
		t.Fatal(err)
	}
	return &validator{t: t, router: r, covered: map[string]map[int]bool{}}
}

// bearerPresent is the document's bearer scheme as a client sees it: an
// Authorization header with a Bearer credential. Whether the token is
// known is the API's business, which the exchange's status shows.
func bearerPresent(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	if in.SecuritySchemeName != "bearer" {
		return fmt.Errorf("unknown security scheme %q", in.SecuritySchemeName)
	}
	h := in.RequestValidationInput.Request.Header.Get("Authorization")
	if tok, ok := strings.CutPrefix(h, "Bearer "); !ok || tok == "" {
		return errors.New("no bearer token")
	}
	return nil
}

func (v *validator) request(x exchange) *http.Request {
	var body io.Reader
	if x.body != "" {
		body = strings.NewReader(x.body)
	}
	req := httptest.NewRequest(x.method, x.path, body)
	if x.body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if x.token != "" {
		req.Header.Set("Authorization", "Bearer "+x.token)
	}
	for i := 0; i+1 < len(x.hdr); i += 2 {
		req.Header.Set(x.hdr[i], x.hdr[i+1])
	}
	return req
}

// do sends x to the API, checks its status, and validates the exchange.
// It returns the response.
func (v *validator) do(e *env, x exchange) resp {
	t := v.t
	t.Helper()
	w := httptest.NewRecorder()
	e.api.ServeHTTP(w, v.request(x))
	got := resp{w.Code, w.Body.String(), w.Header()}
	name := x.method + " " + x.path
	if got.code != x.code {
		t.Errorf("%s: status %d, want %d: %s", name, got.code, x.code, got.body)
		return got
	}
	req := v.request(x)
	route, params, err := v.router.FindRoute(req)
	if err != nil {
		t.Errorf("%s: the document has no route for it: %v", name, err)
		return got
	}
	opts := &openapi3filter.Options{AuthenticationFunc: bearerPresent, IncludeResponseStatus: true, MultiError: true}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: opts}
	reqErr := openapi3filter.ValidateRequest(context.Background(), in)
	switch {
	case got.code < 300 && reqErr != nil:
		t.Errorf("%s: the API accepted a request the document refuses: %v", name, reqErr)
	case x.schemaBad && reqErr == nil:
		t.Errorf("%s: the document accepts a request the API refuses with %d", name, got.code)
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: got.code, Header: got.hdr, Options: opts}
	out.SetBodyBytes([]byte(got.body))
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		t.Errorf("%s: the %d response does not match the document: %v\nbody: %.400s", name, got.code, err, got.body)
	}
	key := route.Method + " " + route.Path
	if v.covered[key] == nil {
		v.covered[key] = map[int]bool{}
	}
	v.covered[key][got.code] = true
	return got
}

// Real responses of every route, successes and errors, validate against
// the document, and so do the requests the API accepts; requests the
// document's schemas refuse are refused by the API too. Every operation is
// exercised with at least one success and one error.
func TestOpenAPIExchangesValidate(t *testing.T) {
	approve := []config.PlaybookConfig{{Alert: "GroupSaturated", Action: config.ActionRaiseMargin, Mode: config.ModeApprove,
		Margin: 0.95, Cooldown: config.DefaultPlaybookCooldown, MaxTargets: 1, VerifyWindow: config.DefaultPlaybookVerifyWindow, Duration: config.DefaultPlaybookDuration}}
	e := newEnv(t, "", func(c *config.Config) {
		c.Alerting.Playbooks = approve
		c.API.MaxBodyBytes = 4096
	})
	ctx := context.Background()
	var ledger []store.LedgerEntry
	for i := range 120 {
		at := e.now.Add(-time.Hour + time.Duration(i)*30*time.Second)
		ledger = append(ledger,
			store.LedgerEntry{At: at, Group: "events", Direction: "produce", Project: "checkout", Outcome: "written", Demand: 60 << 20, After: 40 << 20,
				Reasons: []string{"borrow"}, BorrowedFrom: []store.LedgerTransfer{{Project: "search", Bytes: 5 << 20}}},
			store.LedgerEntry{At: at, Group: "events", Direction: "produce", Project: "search", Outcome: "written", Demand: 5 << 20, After: 10 << 20})
	}
	if err := e.db.RecordDecisions(ctx, ledger); err != nil {
		t.Fatal(err)
	}
	if err := e.db.RecordSignals(ctx, []store.SignalEntry{{At: e.now.Add(-time.Minute), Project: "checkout",
		Direction: "produce", Rate: 1 << 20, Expected: 1 << 20, Upper: 2 << 20, Score: 0.1, State: "normal"}}); err != nil {
		t.Fatal(err)
	}
	if err := e.db.RecordDamage(ctx, []store.DamageEntry{{At: e.now.Add(-time.Minute), Project: "checkout", Direction: "produce",
		HeadroomBytes: 10, StaticBytes: 1000}}); err != nil {
		t.Fatal(err)
	}
	first := e.openIncident(t)
	if err := e.alert.Notify(ctx, []webhook.Notification{{Fingerprint: "fp2", Status: "firing", AlertName: "GroupSaturated",
		Labels: map[string]string{"alertname": "GroupSaturated", "group": "batch"}, StartsAt: e.now}}); err != nil {
		t.Fatal(err)
	}
	second := first + 1
	alert := func(id int64, action string) string { return fmt.Sprintf("/api/v1/alerts/%d%s", id, action) }
	const ov = "/api/v1/overrides/project/checkout"

	v := newValidator(t)
	for _, x := range []exchange{
		{method: "GET", path: "/api/v1/health", code: 200},
		{method: "GET", path: "/api/v1/openapi.json", code: 200},

		{method: "GET", path: "/api/v1/groups", token: viewerToken, code: 200},
		{method: "GET", path: "/api/v1/groups", code: 401},
		{method: "GET", path: "/api/v1/groups", token: viewerToken, hdr: []string{UserHeader, "mallory"}, code: 403},
		{method: "GET", path: "/api/v1/groups", token: proxyToken, hdr: []string{UserHeader, "jane"}, code: 200},
		{method: "GET", path: "/api/v1/groups", token: proxyToken, hdr: []string{UserHeader, strings.Repeat("j", 300)}, code: 400, schemaBad: true},
		{method: "GET", path: "/api/v1/groups/events", token: viewerToken, code: 200},
		{method: "GET", path: "/api/v1/groups/nope", token: viewerToken, code: 404},
		{method: "GET", path: "/api/v1/projects", token: viewerToken, code: 200},
		{method: "GET", path: "/api/v1/projects", token: "not-a-token", code: 401},
		{method: "GET", path: "/api/v1/projects/checkout", token: viewerToken, code: 200},
		{method: "GET", path: "/api/v1/projects/nope", token: viewerToken, code: 404},
		{method: "GET", path: "/api/v1/quotas", token: viewerToken, code: 200},
		{method: "GET", path: "/api/v1/quotas", token: expiredToken, code: 401},

		{method: "PUT", path: ov, token: operatorToken, body: `{"produce": {"share": "35MiB/s", "weight": 2}, "reason": "test"}`, code: 200},
		{method: "PUT", path: ov, token: viewerToken, body: `{"produce": {"weight": 2}}`, code: 403},
		{method: "PUT", path: ov, token: operatorToken, body: `{"produce": {"weight": 3}}`, code: 428},
		{method: "PUT", path: ov, token: operatorToken, body: `{"produce": {"weight": 3}}`, hdr: []string{"If-Match", `"v9"`}, code: 412},
		{method: "PUT", path: ov, token: operatorToken, body: `{"produce": {"weight": 3}}`, hdr: []string{"If-Match", "yesterday"}, code: 400},
		{method: "PUT", path: ov, token: operatorToken, body: `{"produce": {"shares": 1}}`, hdr: []string{"If-Match", `"v1"`}, code: 400, schemaBad: true},
		{method: "PUT", path: ov, token: operatorToken, body: `{"produce": {"floor": "50MiB/s", "ceiling": "40MiB/s"}}`, hdr: []string{"If-Match", `"v1"`}, code: 422},
		{method: "PUT", path: ov, token: operatorToken, body: `{"reason": "` + strings.Repeat("x", 5000) + `"}`, hdr: []string{"If-Match", `"v1"`}, code: 413},
		{method: "PUT", path: ov, token: operatorToken, body: `{"produce": {"weight": 3}}`, hdr: []string{"If-Match", `"v1"`}, code: 200},
		{method: "PUT", path: "/api/v1/overrides/group/events", token: operatorToken, body: `{"margin": 0.85, "freeze": true, "expires_at": "2026-11-24T00:00:00Z"}`, code: 200},
		{method: "PUT", path: "/api/v1/overrides/project/nope", token: operatorToken, body: `{"produce": {"weight": 2}}`, code: 404},
		{method: "GET", path: "/api/v1/overrides", token: viewerToken, code: 200},
		{method: "GET", path: "/api/v1/overrides", code: 401},
		{method: "GET", path: ov, token: viewerToken, code: 200},
		{method: "GET", path: "/api/v1/overrides/project/search", token: viewerToken, code: 404},

		{method: "GET", path: "/api/v1/ledger?project=checkout", token: viewerToken, code: 200},
		{method: "GET", path: "/api/v1/ledger?project=checkout&direction=produce&limit=5&from=2026-11-23T02:30:00Z&to=2026-11-23T03:00:00Z", token: viewerToken, code: 200},
		{method: "GET", path: "/api/v1/ledger?project=nope", token: viewerToken, code: 400},
		{method: "GET", path: "/api/v1/ledger?project=checkout&limit=0", token: viewerToken, code: 400, schemaBad: true},
		{method: "GET", path: "/api/v1/signals", token: viewerToken, code: 200},
		{method: "GET", path: "/api/v1/signals?project=checkout&direction=produce", token: viewerToken, code: 200},
		{method: "GET", path: "/api/v1/signals?direction=sideways", token: viewerToken, code: 400, schemaBad: true},
		{method: "GET", path: "/api/v1/damage", token: viewerToken, code: 200},
		{method: "GET", path: "/api/v1/damage?from=yesterday", token: viewerToken, code: 400, schemaBad: true},
		{method: "GET", path: "/api/v1/damage?from=2026-11-23T03:00:00Z&to=2026-11-23T02:00:00Z", token: viewerToken, code: 400},
		{method: "GET", path: "/api/v1/explain?project=checkout&direction=produce", token: viewerToken, code: 200},
		{method: "GET", path: "/api/v1/explain?project=checkout&direction=produce&at=2026-11-22T00:00:00Z", token: viewerToken, code: 404},
		{method: "GET", path: "/api/v1/explain?project=checkout", token: viewerToken, code: 400, schemaBad: true},

		{method: "GET", path: "/api/v1/alerts", token: viewerToken, code: 200},
		{method: "GET", path: "/api/v1/alerts?state=firing,handling", token: viewerToken, code: 200},
		{method: "GET", path: "/api/v1/alerts?state=bogus", token: viewerToken, code: 400, schemaBad: true},
		{method: "GET", path: alert(first, ""), token: viewerToken, code: 200},
		{method: "GET", path: alert(999, ""), token: viewerToken, code: 404},
		{method: "GET", path: "/api/v1/alerts/abc", token: viewerToken, code: 400, schemaBad: true},
		{method: "POST", path: alert(first, "/reject"), token: operatorToken, body: `{}`, code: 422, schemaBad: true},
		{method: "POST", path: alert(first, "/reject"), token: operatorToken, body: `{"reason": "x", "extra": 1}`, code: 400, schemaBad: true},
		{method: "POST", path: alert(first, "/acknowledge"), token: viewerToken, code: 403},
		{method: "POST", path: alert(first, "/acknowledge"), token: operatorToken, code: 200},
		{method: "POST", path: alert(999, "/acknowledge"), token: operatorToken, code: 404},
		{method: "POST", path: alert(first, "/approve"), token: operatorToken, code: 200},
		{method: "POST", path: alert(first, "/approve"), token: operatorToken, code: 409},
		{method: "POST", path: alert(second, "/reject"), token: operatorToken, body: `{"reason": "not now"}`, code: 200},
		{method: "POST", path: alert(second, "/reject"), token: operatorToken, body: `{"reason": "again"}`, code: 409},
		{method: "GET", path: alert(first, ""), token: viewerToken, code: 200},

		{method: "POST", path: "/api/v1/whatif", token: viewerToken, body: `{"kind": "project", "name": "checkout", "spec": {"produce": {"ceiling": "35MiB/s"}}, "window": "1h"}`, code: 200},
		{method: "POST", path: "/api/v1/whatif", token: viewerToken, body: `{"kind": "project", "name": "checkout", "spec": {"produce": {"weight": 2}}, "window": "soon"}`, code: 422},
		{method: "POST", path: "/api/v1/whatif", token: viewerToken, body: `{"kind": "group", "name": "batch", "spec": {"margin": 0.8}, "window": "1h"}`, code: 409},
		{method: "POST", path: "/api/v1/whatif", token: viewerToken, body: `{"kind": "project", "name": "checkout", "spec": {}, "extra": 1}`, code: 400, schemaBad: true},
		{method: "POST", path: "/api/v1/whatif", token: viewerToken, body: `{"kind": "project", "name": "checkout", "spec": {"reason": "` + strings.Repeat("x", 5000) + `"}}`, code: 413},

		{method: "DELETE", path: ov, token: operatorToken, code: 428, schemaBad: true},
		{method: "DELETE", path: ov, token: operatorToken, hdr: []string{"If-Match", `"v1"`}, code: 412},
		{method: "DELETE", path: ov, token: viewerToken, hdr: []string{"If-Match", `"v2"`}, code: 403},
		{method: "DELETE", path: ov, token: operatorToken, hdr: []string{"If-Match", `"v2"`}, code: 204},
		{method: "DELETE", path: ov, token: operatorToken, hdr: []string{"If-Match", `"v2"`}, code: 404},

		{method: "GET", path: "/api/v1/audit", token: adminToken, code: 200},
		{method: "GET", path: "/api/v1/audit?limit=2", token: adminToken, code: 200},
		{method: "GET", path: "/api/v1/audit", token: operatorToken, code: 403},
		{method: "GET", path: "/api/v1/audit?limit=0", token: adminToken, code: 400, schemaBad: true},
	} {
		v.do(e, x)
	}

	// The rate limit's answer, from an API that allows one request.
	limited := newEnv(t, "", func(c *config.Config) { c.API.RateLimit, c.API.RateBurst = 0.001, 1 })
	v.do(limited, exchange{method: "GET", path: "/api/v1/health", code: 200})
	v.do(limited, exchange{method: "GET", path: "/api/v1/health", code: 429})
	v.do(limited, exchange{method: "GET", path: "/api/v1/openapi.json", code: 429})

	for _, r := range e.api.routes() {
		key := r.method + " " + openAPIPath(r.path)
		var ok, bad bool
		for code := range v.covered[key] {
			ok = ok || code < 300
			bad = bad || code >= 400
		}
		if !ok || !bad {
			t.Errorf("%s: validated statuses %v; want a success and an error", key, slices.Sorted(maps.Keys(v.covered[key])))
		}
	}
}
