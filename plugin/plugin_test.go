package plugin

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/backend/grpcplugin"
	"github.com/grafana/grafana-plugin-sdk-go/data"
	"github.com/grafana/grafana-plugin-sdk-go/experimental/datasourcetest"
	"github.com/grafana/grafana-plugin-sdk-go/genproto/pluginv2"
	goplugin "github.com/hashicorp/go-plugin"

	"github.com/headroomhq/headroom/api"
	"github.com/headroomhq/headroom/config"
	"github.com/headroomhq/headroom/internal/testpeer"
	"github.com/headroomhq/headroom/store"
)

const (
	viewerToken   = "grafana-viewer-token"
	operatorToken = "grafana-operator-token"
)

// headroomAPI serves Headroom's real API over loopback, on a real store
// holding a few ledger decisions and an incident.
func headroomAPI(t *testing.T) (*httptest.Server, time.Time) {
	t.Helper()
	cfg, err := config.LoadFile("../examples/headroom.yml")
	if err != nil {
		t.Fatal(err)
	}
	cfg.API.Tokens = []config.APIToken{
		{Name: "grafana", Role: config.RoleViewer, SHA256: api.HashToken(viewerToken)},
		{Name: "grafana-ops", Role: config.RoleOperator, SHA256: api.HashToken(operatorToken)},
	}
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "h.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	now := time.Now().UTC().Truncate(time.Second)
	var es []store.LedgerEntry
	for i := range 10 {
		at := now.Add(time.Duration(i-10) * time.Minute)
		es = append(es,
			store.LedgerEntry{At: at, Group: "events", Direction: "produce", Project: "checkout", Outcome: "written",
				Before: float64(30+i) * (1 << 20), After: float64(31+i) * (1 << 20), Share: 30 << 20, Demand: float64(35+i) * (1 << 20),
				BorrowedFrom: []store.LedgerTransfer{{Project: "search", Bytes: float64(i) * (1 << 20)}}, Reasons: []string{"borrowed_from"}},
			store.LedgerEntry{At: at, Group: "events", Direction: "produce", Project: "search", Outcome: "written",
				Before: 20 << 20, After: 20 << 20, Share: 30 << 20, Demand: 10 << 20, Reasons: []string{"lent_to"}})
	}
	if err := db.RecordDecisions(context.Background(), es); err != nil {
		t.Fatal(err)
	}
	a, err := api.New(api.Options{Config: func() *config.Config { return cfg }, Store: db})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	return srv, now
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
		JSONData:                []byte(fmt.Sprintf(`{"url": %q}`, url)),
		DecryptedSecureJSONData: map[string]string{"token": token},
		Updated:                 time.Unix(1, 0),
	}
}

func pctx(s *backend.DataSourceInstanceSettings) backend.PluginContext {
	return backend.PluginContext{OrgID: 1, PluginID: ID, DataSourceInstanceSettings: s}
}

// TestOverGRPC runs the datasource behind the SDK's own gRPC server and
// talks to it as Grafana does.
func TestOverGRPC(t *testing.T) {
	srv, now := headroomAPI(t)
	addr := testpeer.FreeAddr(t)
	tp, err := datasourcetest.Manage(NewDatasource, datasourcetest.ManageOpts{Address: addr})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := tp.Shutdown(); err != nil {
			t.Log(err)
		}
	}()
	ctx := context.Background()

	t.Run("health", func(t *testing.T) {
		tests := []struct {
			name, url, token string
			status           backend.HealthStatus
			message          string
		}{
			{"ok", srv.URL, viewerToken, backend.HealthStatusOk, "2 resource group(s), 6 project(s)"},
			{"bad token", srv.URL, "nope", backend.HealthStatusError, "rejected the token (401)"},
			{"no token", srv.URL, "", backend.HealthStatusError, "No API token"},
			{"unreachable", "http://" + testpeer.FreeAddr(t), viewerToken, backend.HealthStatusError, "Cannot reach the Headroom API"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				s := settings(tt.url, tt.token)
				res, err := tp.Client.CheckHealth(ctx, &backend.CheckHealthRequest{PluginContext: pctx(s)})
				if err != nil {
					t.Fatal(err)
				}
				if res.Status != tt.status || !strings.Contains(res.Message, tt.message) {
					t.Fatalf("got %v %q, want %v containing %q", res.Status, res.Message, tt.status, tt.message)
				}
			})
		}
	})

	t.Run("queries", func(t *testing.T) {
		tr := backend.TimeRange{From: now.Add(-time.Hour), To: now}
		q := func(ref, js string) backend.DataQuery {
			return backend.DataQuery{RefID: ref, JSON: []byte(js), TimeRange: tr, Interval: time.Minute, MaxDataPoints: 100}
		}
		res, err := tp.Client.QueryData(ctx, &backend.QueryDataRequest{PluginContext: pctx(settings(srv.URL, viewerToken)), Queries: []backend.DataQuery{
			q("A", `{"queryType": "quotas", "project": "checkout"}`),
			q("B", `{"queryType": "topn", "metric": "borrowed", "n": 2}`),
			q("C", `{"queryType": "ledger", "project": "search"}`),
			q("D", `{"queryType": "throttled", "project": "checkout"}`),
			q("E", `{"queryType": "nonsense"}`),
			q("F", `{"queryType": "quotas", "direction": "sideways"}`),
			q("G", `{"queryType": "alerts"}`),
		}})
		if err != nil {
			t.Fatal(err)
		}
		a := res.Responses["A"]
		if a.Error != nil || len(a.Frames) != 1 || a.Frames[0].Rows() != 10 {
			t.Fatalf("quotas: %v %v", a.Error, a.Frames)
		}
		quota, _ := a.Frames[0].FieldByName("quota")
		if v, _ := quota.ConcreteAt(9); v.(float64) != 40<<20 {
			t.Fatalf("last quota %v, want 40MiB/s", v)
		}
		b := res.Responses["B"]
		if b.Error != nil {
			t.Fatal(b.Error)
		}
		names := b.Frames[0].Fields[0]
		if names.Len() != 2 || names.At(0).(string) != "checkout" {
			t.Fatalf("top borrowers: %v", names)
		}
		c := res.Responses["C"]
		if f, _ := c.Frames[0].FieldByName("reasons"); c.Error != nil || f == nil || f.At(0).(string) != "lent_to" {
			t.Fatalf("ledger: %v %v", c.Error, c.Frames)
		}
		d := res.Responses["D"]
		thr, _ := d.Frames[0].FieldByName("throttled")
		if v := thr.At(0).(float64); v != 5<<20 {
			t.Fatalf("throttled %v, want 5MiB/s (demand 35 over quota 30)", v)
		}
		for _, ref := range []string{"E", "F"} {
			if r := res.Responses[ref]; r.Error == nil || r.Status != backend.StatusBadRequest {
				t.Fatalf("%s: want a 400 error, got %v", ref, r.Error)
			}
		}
		if g := res.Responses["G"]; g.Error != nil || g.Frames[0].Meta.DataTopic != data.DataTopicAnnotations {
			t.Fatalf("alerts: %v", g.Error)
		}
	})

	t.Run("resources", func(t *testing.T) {
		call := func(token, method, path, body string, hdr map[string][]string) *backend.CallResourceResponse {
			var got *backend.CallResourceResponse
			err := tp.Client.CallResource(ctx, &backend.CallResourceRequest{PluginContext: pctx(settings(srv.URL, token)),
				Method: method, Path: path, URL: path, Body: []byte(body), Headers: hdr},
				backend.CallResourceResponseSenderFunc(func(r *backend.CallResourceResponse) error { got = r; return nil }))
			if err != nil {
				t.Fatal(err)
			}
			return got
		}
		if r := call(operatorToken, "PUT", "overrides/project/checkout", `{"produce": {"weight": 2}}`, nil); r.Status != 200 {
			t.Fatalf("tune through Grafana: %d %s", r.Status, r.Body)
		} else if r.Headers["ETag"][0] != `"v1"` {
			t.Fatalf("ETag not passed back: %v", r.Headers)
		}
		if r := call(operatorToken, "PUT", "overrides/project/checkout", `{"produce": {"weight": 3}}`, map[string][]string{"If-Match": {`"v9"`}}); r.Status != 412 {
			t.Fatalf("stale If-Match: %d", r.Status)
		}
		if r := call(viewerToken, "PUT", "overrides/project/checkout", `{"produce": {"weight": 3}}`, map[string][]string{"If-Match": {`"v1"`}}); r.Status != 403 {
			t.Fatalf("viewer token tuning: %d", r.Status)
		}
		if r := call(operatorToken, "GET", "audit", "", nil); r.Status != 403 || !strings.Contains(string(r.Body), "not proxied") {
			t.Fatalf("audit through the proxy: %d %s", r.Status, r.Body)
		}
		if r := call(operatorToken, "DELETE", "overrides/../audit", "", nil); r.Status != 403 {
			t.Fatalf("path traversal: %d", r.Status)
		}
	})
}

func TestStreamSendsChangedPlans(t *testing.T) {
	first := []quotaState{{Project: "a", Direction: "produce", Planned: ptr(1.0), PlannedAt: "t1"}, {Project: "b", Direction: "produce"}}
	last := map[string]string{}
	now := time.Unix(100, 0)
	f := changed(first, last, now)
	if f == nil || f.Rows() != 1 {
		t.Fatalf("first poll: %v", f)
	}
	if f := changed(first, last, now); f != nil {
		t.Fatalf("unchanged plans sent again: %v", f)
	}
	first[0].Planned, first[0].PlannedAt = ptr(2.0), "t2"
	if f := changed(first, last, now); f == nil || f.Fields[3].At(0).(float64) != 2 {
		t.Fatalf("changed plan not sent: %v", f)
	}
}

func ptr[T any](v T) *T { return &v }

func TestLoadSettings(t *testing.T) {
	tests := []struct {
		json string
		err  string
	}{
		{`{"url": "http://headroom:9644/"}`, ""},
		{`{"url": "headroom:9644"}`, "must be http(s)://host:port"},
		{`{"url": 5}`, "read datasource settings"},
		{`{}`, "must be http(s)://host:port"},
	}
	for _, tt := range tests {
		s, err := LoadSettings(backend.DataSourceInstanceSettings{JSONData: []byte(tt.json)})
		if tt.err == "" {
			if err != nil || s.URL != "http://headroom:9644" || s.StreamInterval != 5 {
				t.Errorf("%s: %+v %v", tt.json, s, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("%s: want %q, got %v", tt.json, tt.err, err)
		}
	}
}

// TestBinaryOverGoPlugin builds gpx_headroom and launches it exactly as
// Grafana does: hashicorp go-plugin with Grafana's handshake, over gRPC.
func TestBinaryOverGoPlugin(t *testing.T) {
	srv, _ := headroomAPI(t)
	bin := filepath.Join(t.TempDir(), "gpx_headroom_linux_amd64")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/gpx_headroom").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "GF_PLUGIN_GRPC_ADDRESS_HEADROOMHQ_HEADROOM_DATASOURCE=")
	client := goplugin.NewClient(&goplugin.ClientConfig{
		HandshakeConfig: goplugin.HandshakeConfig{
			ProtocolVersion: grpcplugin.ProtocolVersion, MagicCookieKey: grpcplugin.MagicCookieKey, MagicCookieValue: grpcplugin.MagicCookieValue,
		},
		Plugins: map[string]goplugin.Plugin{
			"diagnostics": &grpcplugin.DiagnosticsGRPCPlugin{},
			"data":        &grpcplugin.DataGRPCPlugin{},
		},
		Cmd:              cmd,
		AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolGRPC},
	})
	defer client.Kill()
	rpc, err := client.Client()
	if err != nil {
		t.Fatalf("start plugin: %v", err)
	}
	raw, err := rpc.Dispense("diagnostics")
	if err != nil {
		t.Fatal(err)
	}
	diag := raw.(grpcplugin.DiagnosticsClient)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp, err := diag.CheckHealth(ctx, &pluginv2.CheckHealthRequest{PluginContext: backend.ToProto().PluginContext(pctx(settings(srv.URL, viewerToken)))})
	if err != nil {
		t.Fatal(err)
	}
	res := backend.FromProto().CheckHealthResponse(resp)
	if res.Status != backend.HealthStatusOk || !strings.Contains(res.Message, "6 project(s)") {
		t.Fatalf("health over go-plugin: %v %q", res.Status, res.Message)
	}
	raw, err = rpc.Dispense("data")
	if err != nil {
		t.Fatal(err)
	}
	q := backend.ToProto().QueryDataRequest(&backend.QueryDataRequest{PluginContext: pctx(settings(srv.URL, viewerToken)),
		Queries: []backend.DataQuery{{RefID: "A", JSON: json.RawMessage(`{"queryType": "topn"}`),
			TimeRange: backend.TimeRange{From: time.Now().Add(-time.Hour), To: time.Now()}}}})
	qr, err := raw.(grpcplugin.DataClient).QueryData(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	out, err := backend.FromProto().QueryDataResponse(qr)
	if err != nil || out.Responses["A"].Error != nil || out.Responses["A"].Frames[0].Rows() != 6 {
		t.Fatalf("query over go-plugin: %v %+v", err, out.Responses["A"])
	}
}
