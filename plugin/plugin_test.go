package plugin

import (
	"context"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/backend/instancemgmt"
	"github.com/grafana/grafana-plugin-sdk-go/data"
	"github.com/grafana/grafana-plugin-sdk-go/experimental/datasourcetest"
	"github.com/grafana/grafana-plugin-sdk-go/genproto/pluginv2"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/headroomhq/headroom/alerting"
	"github.com/headroomhq/headroom/alerting/alertingtest"
	"github.com/headroomhq/headroom/alerting/webhook"
	"github.com/headroomhq/headroom/api"
	"github.com/headroomhq/headroom/config"
	"github.com/headroomhq/headroom/store"
)

const (
	viewerToken   = "grafana-viewer-token"
	operatorToken = "grafana-operator-token"
)

const mib = 1 << 20

// seed records ten rounds of decisions ending at now: checkout borrows
// from search and is throttled, search lends.
func seed(t testing.TB, db *store.DB, now time.Time) {
	t.Helper()
	var es []store.LedgerEntry
	for i := range 10 {
		at := now.Add(time.Duration(i-10) * time.Minute)
		es = append(es,
			store.LedgerEntry{At: at, Round: int64(i + 1), Group: "events", Direction: "produce", Project: "checkout", Outcome: "written",
				Before: float64(30+i) * mib, After: float64(31+i) * mib, Share: 30 * mib, Demand: float64(35+i) * mib,
				Observed: float64(30+i) * mib, Rate: float64(29+i) * mib, Forecast: float64(36+i) * mib, ThrottleMs: 100,
				BorrowedFrom: []store.LedgerTransfer{{Project: "search", Bytes: float64(i) * mib}}, Reasons: []string{"borrowed_from"}},
			store.LedgerEntry{At: at, Round: int64(i + 1), Group: "events", Direction: "produce", Project: "search", Outcome: "written",
				Before: 20 * mib, After: 20 * mib, Share: 30 * mib, Demand: 10 * mib, Observed: 10 * mib, Rate: 10 * mib, Forecast: 12 * mib,
				LentTo: []store.LedgerTransfer{{Project: "checkout", Bytes: float64(i) * mib}}, Reasons: []string{"lent_to"}})
	}
	if err := db.RecordDecisions(context.Background(), es); err != nil {
		t.Fatal(err)
	}
	// The detector's forecasts in the same rounds: checkout surges (its
	// score climbs), search is steady and its first score not yet known.
	var ss []store.SignalEntry
	for i := range 10 {
		at := now.Add(time.Duration(i-10) * time.Minute)
		searchScore := 0.05
		if i == 0 {
			searchScore = math.NaN()
		}
		ss = append(ss,
			store.SignalEntry{At: at, Project: "checkout", Direction: "produce", Rate: float64(29+i) * mib, Expected: float64(28+i) * mib,
				Upper: float64(36+i) * mib, Score: float64(i) / 10, State: "normal"},
			store.SignalEntry{At: at, Project: "search", Direction: "produce", Rate: 10 * mib, Expected: 10 * mib, Upper: 12 * mib, Score: searchScore, State: "normal"})
	}
	ss[len(ss)-2].State = "sustained"
	if err := db.RecordSignals(context.Background(), ss); err != nil {
		t.Fatal(err)
	}
}

// headroom is Headroom's real API on loopback over a real SQLite store,
// with the real alerting engine behind approvals.
type headroom struct {
	srv   *httptest.Server
	db    *store.DB
	now   time.Time
	alert *alerting.Engine
}

func newHeadroom(t *testing.T) *headroom {
	t.Helper()
	cfg, err := config.LoadFile("../examples/headroom.yml")
	if err != nil {
		t.Fatal(err)
	}
	cfg.API.Tokens = []config.APIToken{
		{Name: "grafana", Role: config.RoleViewer, SHA256: api.HashToken(viewerToken)},
		{Name: "grafana-ops", Role: config.RoleOperator, SHA256: api.HashToken(operatorToken), Proxy: true},
	}
	cfg.API.RateLimit, cfg.API.RateBurst = 1e6, 1e6
	cfg.Alerting.Playbooks = []config.PlaybookConfig{{Alert: "GroupSaturated", Action: config.ActionRaiseMargin, Mode: config.ModeApprove,
		Margin: 0.95, Cooldown: config.DefaultPlaybookCooldown, MaxTargets: 1, VerifyWindow: config.DefaultPlaybookVerifyWindow, Duration: config.DefaultPlaybookDuration}}
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "h.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	h := &headroom{db: db, now: time.Now().UTC().Truncate(time.Second)}
	seed(t, db, h.now)
	h.alert, err = alerting.NewEngine(alerting.Options{Store: db, Config: cfg.Alerting, Overrides: alertingtest.NoOverrides{}, Conditions: alertingtest.Conditions(false),
		Now: func() time.Time { return h.now }})
	if err != nil {
		t.Fatal(err)
	}
	a, err := api.New(api.Options{Config: func() *config.Config { return cfg }, Store: db, Alerts: h.alert, Now: func() time.Time { return h.now }})
	if err != nil {
		t.Fatal(err)
	}
	h.srv = httptest.NewServer(a)
	t.Cleanup(h.srv.Close)
	return h
}

// openIncident fires GroupSaturated through the engine, as Alertmanager's
// webhook would; its raise_margin playbook then waits for approval.
func (h *headroom) openIncident(t *testing.T) int64 {
	t.Helper()
	n := webhook.Notification{Fingerprint: "fp", Status: "firing", AlertName: "GroupSaturated",
		Labels: map[string]string{"alertname": "GroupSaturated", "group": "events"}, StartsAt: h.now.Add(-5 * time.Minute)}
	if err := h.alert.Notify(context.Background(), []webhook.Notification{n}); err != nil {
		t.Fatal(err)
	}
	ins, err := h.db.Incidents(context.Background(), "")
	if err != nil || len(ins) == 0 {
		t.Fatalf("no incident: %v", err)
	}
	return ins[0].ID
}

// settingsIDs gives each distinct url and token its own datasource id, as
// Grafana does for separately configured datasources; the SDK caches one
// instance per id.
var settingsIDs = map[string]int64{}

func settings(url, token string) *backend.DataSourceInstanceSettings {
	id, ok := settingsIDs[url+" "+token]
	if !ok {
		id = int64(len(settingsIDs) + 1)
		settingsIDs[url+" "+token] = id
	}
	return &backend.DataSourceInstanceSettings{
		ID: id, UID: fmt.Sprintf("headroom-%d", id), Name: "Headroom",
		JSONData:                fmt.Appendf(nil, `{"url": %q, "streamInterval": 1}`, url),
		DecryptedSecureJSONData: map[string]string{"token": token},
		Updated:                 time.Unix(1, 0),
	}
}

func pctx(s *backend.DataSourceInstanceSettings) backend.PluginContext {
	return backend.PluginContext{OrgID: 1, PluginID: ID, DataSourceInstanceSettings: s}
}

// manualTicks replaces the plan stream's ticker: each send is one poll.
type manualTicks chan time.Time

func (m manualTicks) factory(ctx context.Context, s backend.DataSourceInstanceSettings) (instancemgmt.Instance, error) {
	inst, err := NewDatasource(ctx, s)
	if err != nil {
		return nil, err
	}
	inst.(*Datasource).ticker = func(time.Duration) (<-chan time.Time, func()) { return m, func() {} }
	return inst, nil
}

// The SDK's in-process gRPC server (experimental/datasourcetest) can be
// started once per process: it registers its metrics globally. TestMain
// starts it; every in-process test talks to it.
var (
	inproc     *datasourcetest.TestPluginClient
	inprocAddr string
	// ticks paces every in-process plan stream.
	ticks = make(manualTicks)
)

func TestMain(m *testing.M) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	inprocAddr = l.Addr().String()
	l.Close()
	tp, err := datasourcetest.Manage(ticks.factory, datasourcetest.ManageOpts{Address: inprocAddr})
	if err != nil {
		fmt.Fprintln(os.Stderr, "start the in-process plugin server:", err)
		os.Exit(1)
	}
	inproc = tp.Client
	code := m.Run()
	if err := tp.Shutdown(); err != nil {
		fmt.Fprintln(os.Stderr, "shut down the in-process plugin server:", err)
		code = 1
	}
	if code == 0 {
		if err := goleak.Find(goleak.IgnoreAnyFunction("github.com/hashicorp/go-plugin.(*Client).logStderr")); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.Exit(code)
}

// inProcess returns the in-process plugin's client and a stream client
// (datasourcetest has none) on the same server.
func inProcess(t *testing.T) (*datasourcetest.TestPluginClient, pluginv2.StreamClient) {
	t.Helper()
	conn, err := grpc.NewClient(inprocAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return inproc, pluginv2.NewStreamClient(conn)
}

func TestCheckHealth(t *testing.T) {
	h := newHeadroom(t)
	client, _ := inProcess(t)
	// notHeadroom is some other web server at the configured URL (say,
	// Grafana itself): a stand-in, since any server but Headroom will do.
	notHeadroom := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, "<!doctype html><title>Welcome</title>")
	}))
	defer notHeadroom.Close()
	// forbidding answers 403 as a token below viewer would: the API has
	// no such role today, so the fault cannot be caused on the real one.
	forbidding := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/problem+json")
		if r.URL.Path == "/api/v1/health" {
			fmt.Fprint(w, `{"status": "ok"}`)
			return
		}
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprint(w, `{"title": "forbidden"}`)
	}))
	defer forbidding.Close()
	// A dead port: listen, take the address, close.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + l.Addr().String()
	l.Close()

	tests := []struct {
		name, url, token string
		status           backend.HealthStatus
		message          string
	}{
		{"ok", h.srv.URL, viewerToken, backend.HealthStatusOk, "2 resource group(s), 6 project(s)"},
		{"bad url", "headroom:9644", viewerToken, backend.HealthStatusError, `Bad datasource settings: read datasource settings: the Headroom URL "headroom:9644" must be http(s)://host:port`},
		{"unreachable", dead, viewerToken, backend.HealthStatusError, "Cannot reach the Headroom API at " + dead},
		{"bad token", h.srv.URL, "nope", backend.HealthStatusError, "Headroom rejected the token (401)"},
		{"no token", h.srv.URL, "", backend.HealthStatusError, "No API token is set"},
		{"forbidden", forbidding.URL, viewerToken, backend.HealthStatusError, "may not read groups (403)"},
		{"not headroom", notHeadroom.URL, viewerToken, backend.HealthStatusError, "answered /api/v1/health with something that is not Headroom's API"},
		{"url with a path", h.srv.URL + "/api/v1", viewerToken, backend.HealthStatusError, "has no /api/v1/health (404)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := client.CheckHealth(context.Background(), &backend.CheckHealthRequest{PluginContext: pctx(settings(tt.url, tt.token))})
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != tt.status || !strings.Contains(res.Message, tt.message) {
				t.Fatalf("got %v %q, want %v containing %q", res.Status, res.Message, tt.status, tt.message)
			}
		})
	}
	// The store going away is a fault the real API reports (503).
	t.Run("store down", func(t *testing.T) {
		h.db.Close()
		res, err := client.CheckHealth(context.Background(), &backend.CheckHealthRequest{PluginContext: pctx(settings(h.srv.URL, viewerToken))})
		if err != nil {
			t.Fatal(err)
		}
		if res.Status != backend.HealthStatusError || !strings.Contains(res.Message, "is up but its store is not") {
			t.Fatalf("got %v %q", res.Status, res.Message)
		}
	})
}

func field(t *testing.T, f *data.Frame, name string, i int) any {
	t.Helper()
	fd, _ := f.FieldByName(name)
	if fd == nil {
		t.Fatalf("frame %s has no field %s", f.Name, name)
	}
	return fd.At(i)
}

func TestQueryData(t *testing.T) {
	h := newHeadroom(t)
	client, _ := inProcess(t)
	h.openIncident(t)
	tr := backend.TimeRange{From: h.now.Add(-time.Hour), To: h.now}
	q := func(ref, js string) backend.DataQuery {
		return backend.DataQuery{RefID: ref, JSON: []byte(js), TimeRange: tr, Interval: time.Minute, MaxDataPoints: 100}
	}
	res, err := client.QueryData(context.Background(), &backend.QueryDataRequest{PluginContext: pctx(settings(h.srv.URL, viewerToken)), Queries: []backend.DataQuery{
		q("quotas", `{"queryType": "quotas", "project": "checkout"}`),
		q("all", `{"queryType": "quotas"}`),
		q("ledger", `{"queryType": "ledger", "project": "checkout"}`),
		q("throttled", `{"queryType": "throttled", "project": "checkout"}`),
		q("detector", `{"queryType": "detector", "project": "checkout"}`),
		q("alerts", `{"queryType": "alerts"}`),
		q("top borrowed", `{"queryType": "topn", "metric": "borrowed", "n": 2}`),
		q("top lent", `{"queryType": "topn", "metric": "lent", "n": 1}`),
		q("top throttled", `{"queryType": "topn"}`),
		q("top score", `{"queryType": "topn", "metric": "score", "n": 2}`),
		q("detector search", `{"queryType": "detector", "project": "search"}`),
		q("fetch", `{"queryType": "quotas", "project": "checkout", "direction": "fetch"}`),
		q("unknown type", `{"queryType": "nonsense"}`),
		q("bad direction", `{"queryType": "quotas", "direction": "sideways"}`),
		q("bad metric", `{"queryType": "topn", "metric": "vibes"}`),
		q("bad json", `{"queryType": `),
		q("unknown project", `{"queryType": "quotas", "project": "nope"}`),
	}})
	if err != nil {
		t.Fatal(err)
	}
	ok := func(ref string) data.Frames {
		t.Helper()
		r := res.Responses[ref]
		if r.Error != nil || len(r.Frames) == 0 {
			t.Fatalf("%s: %v %v", ref, r.Error, r.Frames)
		}
		return r.Frames
	}
	f := ok("quotas")[0]
	if f.Rows() != 10 || field(t, f, "quota", 9).(float64) != 40*mib || field(t, f, "demand", 9).(float64) != 44*mib || field(t, f, "share", 0).(float64) != 30*mib {
		t.Fatalf("quotas: %d rows", f.Rows())
	}
	if fs := ok("all"); len(fs) != 6 {
		t.Fatalf("quotas of every project: %d frames, want 6", len(fs))
	}
	f = ok("ledger")[0]
	if got := field(t, f, "borrowed_from", 3).(string); got != "search:3145728" {
		t.Fatalf("ledger borrowed_from %q", got)
	}
	if field(t, f, "reasons", 0).(string) != "borrowed_from" || field(t, f, "outcome", 0).(string) != "written" {
		t.Fatal("ledger reasons/outcome")
	}
	f = ok("throttled")[0]
	if v := field(t, f, "throttled", 0).(float64); v != 5*mib {
		t.Fatalf("throttled %v, want 5MiB/s (demand 35 over the quota in force, 30)", v)
	}
	if v := field(t, f, "throttle_ms", 0).(float64); v != 100 {
		t.Fatalf("throttle_ms %v", v)
	}
	f = ok("detector")[0]
	if f.Rows() != 10 {
		t.Fatalf("detector: %d rows, want 10", f.Rows())
	}
	for name, want := range map[string]float64{"rate": 38 * mib, "baseline": 37 * mib, "forecast_upper": 45 * mib, "score": 0.9} {
		if got := field(t, f, name, 9).(*float64); got == nil || *got != want {
			t.Errorf("detector %s = %v, want %v", name, got, want)
		}
	}
	if got := field(t, f, "state", 9).(string); got != "sustained" {
		t.Errorf("detector state %q, want sustained", got)
	}
	f = ok("detector search")[0]
	if got := field(t, f, "score", 0).(*float64); got != nil {
		t.Errorf("an unknown score should stay null, got %v", *got)
	}
	if got := field(t, f, "baseline", 0).(*float64); got == nil || *got != 10*mib {
		t.Errorf("search baseline %v", got)
	}
	f = ok("top score")[0]
	if f.Rows() != 2 || f.Fields[0].At(0).(string) != "checkout" || math.Abs(f.Fields[1].At(0).(float64)-0.45) > 1e-9 || math.Abs(f.Fields[1].At(1).(float64)-0.05) > 1e-9 {
		t.Fatalf("top by anomaly score: %v %v", f.Fields[0], f.Fields[1])
	}
	f = ok("alerts")[0]
	if f.Meta == nil || f.Meta.DataTopic != data.DataTopicAnnotations || f.Rows() != 1 || !strings.HasPrefix(field(t, f, "title", 0).(string), "GroupSaturated #") {
		t.Fatalf("alerts as annotations: %v", f)
	}
	f = ok("top borrowed")[0]
	if f.Rows() != 2 || f.Fields[0].At(0).(string) != "checkout" || f.Fields[1].At(0).(float64) != 4.5*mib {
		t.Fatalf("top borrowers: %v %v", f.Fields[0], f.Fields[1])
	}
	if f := ok("top lent")[0]; f.Rows() != 1 || f.Fields[0].At(0).(string) != "search" {
		t.Fatalf("top lender: %v", f.Fields[0])
	}
	if f := ok("top throttled")[0]; f.Rows() != 6 || f.Fields[0].At(0).(string) != "checkout" || f.Fields[1].At(1).(float64) != 0 {
		t.Fatalf("top throttled: %v", f.Fields)
	}
	if f := ok("fetch")[0]; f.Rows() != 0 {
		t.Fatalf("fetch has no decisions but %d rows", f.Rows())
	}
	for ref, status := range map[string]backend.Status{"unknown type": 400, "bad direction": 400, "bad metric": 400, "bad json": 400, "unknown project": 400} {
		if r := res.Responses[ref]; r.Error == nil || r.Status != status {
			t.Errorf("%s: want status %d, got %d %v", ref, status, r.Status, r.Error)
		}
	}
	if r := res.Responses["unknown project"]; !strings.Contains(r.Error.Error(), `project: unknown project "nope"`) {
		t.Errorf("unknown project error does not say which: %v", r.Error)
	}
}

func TestCallResource(t *testing.T) {
	h := newHeadroom(t)
	client, _ := inProcess(t)
	id := h.openIncident(t)
	call := func(token, method, path, body string, hdr map[string][]string) *backend.CallResourceResponse {
		t.Helper()
		var got *backend.CallResourceResponse
		pc := pctx(settings(h.srv.URL, token))
		pc.User = &backend.User{Login: "erin", Role: "Editor"}
		err := client.CallResource(context.Background(), &backend.CallResourceRequest{PluginContext: pc,
			Method: method, Path: strings.Split(path, "?")[0], URL: "/api/plugins/" + ID + "/resources/" + path, Body: []byte(body), Headers: hdr},
			backend.CallResourceResponseSenderFunc(func(r *backend.CallResourceResponse) error { got = r; return nil }))
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	json := map[string][]string{"Content-Type": {"application/json"}}
	tests := []struct {
		name, token, method, path, body string
		hdr                             map[string][]string
		status                          int
		contains                        string
	}{
		{"tune", operatorToken, "PUT", "overrides/project/checkout", `{"produce": {"weight": 2}}`, json, 200, `"weight":2`},
		{"stale If-Match", operatorToken, "PUT", "overrides/project/checkout", `{"produce": {"weight": 3}}`, map[string][]string{"If-Match": {`"v9"`}}, 412, "precondition failed"},
		{"retune", operatorToken, "PUT", "overrides/project/checkout", `{"produce": {"weight": 3}}`, map[string][]string{"If-Match": {`"v1"`}}, 200, `"version":2`},
		{"invalid tuning", operatorToken, "PUT", "overrides/project/checkout", `{"produce": {"weight": -1}}`, map[string][]string{"If-Match": {`"v2"`}}, 422, "weight"},
		{"viewer may not tune", viewerToken, "PUT", "overrides/project/checkout", `{"produce": {"weight": 4}}`, map[string][]string{"If-Match": {`"v2"`}}, 403, ""},
		{"read overrides", viewerToken, "GET", "overrides", "", nil, 200, `"checkout"`},
		{"explain", viewerToken, "GET", "explain?project=checkout&direction=produce", "", nil, 200, "borrowed"},
		{"approve", operatorToken, "POST", fmt.Sprintf("alerts/%d/approve", id), "", nil, 200, `"state":"handling"`},
		{"approve twice", operatorToken, "POST", fmt.Sprintf("alerts/%d/approve", id), "", nil, 409, "approve refused"},
		{"viewer may not approve", viewerToken, "POST", fmt.Sprintf("alerts/%d/acknowledge", id), "", nil, 403, ""},
		{"untune", operatorToken, "DELETE", "overrides/project/checkout", "", map[string][]string{"If-Match": {`"v2"`}}, 204, ""},
		{"audit is not proxied", operatorToken, "GET", "audit", "", nil, 403, "not proxied"},
		{"path traversal", operatorToken, "DELETE", "overrides/../audit", "", nil, 403, "not proxied"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := call(tt.token, tt.method, tt.path, tt.body, tt.hdr)
			if r.Status != tt.status || !strings.Contains(string(r.Body), tt.contains) {
				t.Fatalf("%d %s, want %d containing %q", r.Status, r.Body, tt.status, tt.contains)
			}
		})
	}
	if r := call(operatorToken, "PUT", "overrides/project/search", `{"produce": {"weight": 2}}`, json); r.Headers["ETag"][0] != `"v1"` {
		t.Fatalf("ETag not passed back: %v", r.Headers)
	}
	steps, err := h.db.IncidentSteps(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	approved := false
	for _, s := range steps {
		approved = approved || s.Actor == "grafana-ops (user erin)"
	}
	if !approved {
		t.Fatalf("the approval through Grafana is not recorded as the operator token's, for erin: %+v", steps)
	}
}

func recvFrame(t *testing.T, s pluginv2.Stream_RunStreamClient) *data.Frame {
	t.Helper()
	p, err := s.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var f data.Frame
	if err := f.UnmarshalJSON(p.Data); err != nil {
		t.Fatal(err)
	}
	return &f
}

func TestRunStream(t *testing.T) {
	h := newHeadroom(t)
	_, streams := inProcess(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pc := backend.ToProto().PluginContext(pctx(settings(h.srv.URL, viewerToken)))

	sub, err := streams.SubscribeStream(ctx, &pluginv2.SubscribeStreamRequest{PluginContext: pc, Path: "elsewhere"})
	if err != nil || sub.Status != pluginv2.SubscribeStreamResponse_NOT_FOUND {
		t.Fatalf("subscribe to an unknown path: %v %v", sub, err)
	}
	sub, err = streams.SubscribeStream(ctx, &pluginv2.SubscribeStreamRequest{PluginContext: pc, Path: StreamPath})
	if err != nil || sub.Status != pluginv2.SubscribeStreamResponse_OK {
		t.Fatalf("subscribe: %v %v", sub, err)
	}
	pub, err := streams.PublishStream(ctx, &pluginv2.PublishStreamRequest{PluginContext: pc, Path: StreamPath, Data: []byte(`{}`)})
	if err != nil || pub.Status != pluginv2.PublishStreamResponse_PERMISSION_DENIED {
		t.Fatalf("publish: %v %v", pub, err)
	}
	s, err := streams.RunStream(ctx, &pluginv2.RunStreamRequest{PluginContext: pc, Path: StreamPath})
	if err != nil {
		t.Fatal(err)
	}
	f := recvFrame(t, s)
	if f.Rows() != 2 {
		t.Fatalf("first frame: %d rows, want checkout and search", f.Rows())
	}
	// A new round changes checkout's plan only.
	next := h.now.Add(time.Second)
	if err := h.db.RecordDecisions(context.Background(), []store.LedgerEntry{{At: next, Round: 11, Group: "events", Direction: "produce",
		Project: "checkout", Outcome: "written", Before: 40 * mib, After: 50 * mib, Share: 30 * mib, Demand: 48 * mib}}); err != nil {
		t.Fatal(err)
	}
	h.now = next
	ticks <- next
	f = recvFrame(t, s)
	if f.Rows() != 1 || field(t, f, "project", 0).(string) != "checkout" || field(t, f, "planned", 0).(float64) != 50*mib {
		t.Fatalf("update: %d rows", f.Rows())
	}
}

func TestLoadSettings(t *testing.T) {
	tests := []struct {
		json, url string
		token     string
		err       string
	}{
		{`{"url": "http://headroom:9644/"}`, "", "t", ""},
		{`{}`, "https://headroom:9644", "t", ""}, // Grafana's own URL field
		{`{"url": "headroom:9644"}`, "", "", "must be http(s)://host:port"},
		{`{"url": "ftp://headroom"}`, "", "", "must be http(s)://host:port"},
		{`{"url": 5}`, "", "", "read datasource settings"},
		{`{}`, "", "", "must be http(s)://host:port"},
	}
	for _, tt := range tests {
		s, err := LoadSettings(backend.DataSourceInstanceSettings{JSONData: []byte(tt.json), URL: tt.url,
			DecryptedSecureJSONData: map[string]string{"token": tt.token}})
		if tt.err == "" {
			if err != nil || !strings.HasSuffix(s.URL, "://headroom:9644") || s.StreamInterval != 5 || s.Token != tt.token {
				t.Errorf("%s: %+v %v", tt.json, s, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("%s: want %q, got %v", tt.json, tt.err, err)
		}
	}
}
