package plugin

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/backend/grpcplugin"
	"github.com/grafana/grafana-plugin-sdk-go/genproto/pluginv2"
	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"

	"github.com/headroomhq/headroom/api"
	"github.com/headroomhq/headroom/daemon"
	"github.com/headroomhq/headroom/round"
	"github.com/headroomhq/headroom/simulations/lab"
	"github.com/headroomhq/headroom/store"
)

// labServe is a running `headroom serve` (daemon.Run in process) whose
// round loop drives a real Kafka-protocol lab cluster (franz-go kfake
// with the lab's quota enforcement and jmx_exporter-style metrics). Its
// SQLite store was seeded through the real ledger before it started.
type labServe struct {
	url    string
	dbPath string
	tick   chan time.Time
	rounds chan round.Outcome
}

const labConfig = `global:
  round_interval: 1s
clusters:
  - name: lab
    bootstrap_servers: [%s]
resource_groups:
  - name: events
    cluster: lab
    brokers:
      - {id: 0, metrics_url: %q}
      - {id: 1, metrics_url: %q}
    capacity: {produce: 100MiB/s, fetch: 200MiB/s}
    margin: 0.9
projects:
  - name: checkout
    group: events
    entity: {client_id: checkout}
    topics: {prefixes: ["checkout."]}
    produce: {share: 30MiB/s, floor: 5MiB/s, ceiling: 60MiB/s, weight: 2}
    fetch: {share: 60MiB/s}
  - name: search
    group: events
    entity: {client_id: search}
    topics: {prefixes: ["search."]}
    produce: {share: 30MiB/s}
    fetch: {share: 60MiB/s}
collector:
  scrape_timeout: 500ms
limiter:
  mode: enforce
api:
  tokens:
    - {name: grafana, role: viewer, sha256: %s}
    - {name: grafana-ops, role: operator, sha256: %s}
store:
  path: %s
`

func serve(t *testing.T, now time.Time) *labServe {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	c, err := lab.Start(ctx, lab.Config{Brokers: 2, Capacity: lab.Rates{Produce: 100 << 20, Fetch: 200 << 20},
		Projects: []lab.Project{{Name: "checkout"}, {Name: "search"}}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		cancel()
		t.Fatalf("start lab: %v", err)
	}
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "headroom.db")
	db, err := store.Open(ctx, dbPath)
	if err != nil {
		t.Fatal(err)
	}
	seed(t, db, now)
	db.Close()
	var bootstrap []string
	for _, b := range c.Bootstrap() {
		bootstrap = append(bootstrap, fmt.Sprintf("%q", b))
	}
	m := c.MetricsURLs()
	cfgFile := filepath.Join(dir, "headroom.yml")
	cfg := fmt.Sprintf(labConfig, strings.Join(bootstrap, ", "), m[0], m[1], api.HashToken(viewerToken), api.HashToken(operatorToken), dbPath)
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &labServe{url: "http://" + l.Addr().String(), dbPath: dbPath, tick: make(chan time.Time), rounds: make(chan round.Outcome, 16)}
	errc := make(chan error, 1)
	go func() {
		errc <- daemon.Run(ctx, daemon.Options{ConfigFile: cfgFile, Listener: l, Grace: 5 * time.Second, Logger: slog.New(slog.DiscardHandler),
			Tick: s.tick, OnRound: func(o round.Outcome) { s.rounds <- o }})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-errc; err != nil {
			t.Errorf("serve: %v", err)
		}
		c.Close()
	})
	for deadline := time.Now().Add(20 * time.Second); ; {
		resp, err := http.Get(s.url + "/-/ready")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		select {
		case err := <-errc:
			t.Fatalf("headroom serve stopped: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("headroom serve not ready: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return s
}

// launch builds gpx_headroom and starts it exactly as Grafana does:
// hashicorp go-plugin with Grafana's handshake and plugin set, over gRPC.
func launch(t *testing.T) goplugin.ClientProtocol {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "gpx_headroom_linux_amd64")
	build := exec.Command("go", "build", "-o", bin, "./cmd/gpx_headroom")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin)
	// An empty address makes the SDK's standalone client mode find no
	// server to attach to, so the binary always serves go-plugin.
	cmd.Env = append(os.Environ(), "GF_PLUGIN_GRPC_ADDRESS_HEADROOMHQ_HEADROOM_DATASOURCE=")
	client := goplugin.NewClient(&goplugin.ClientConfig{
		HandshakeConfig: goplugin.HandshakeConfig{
			ProtocolVersion: grpcplugin.ProtocolVersion, MagicCookieKey: grpcplugin.MagicCookieKey, MagicCookieValue: grpcplugin.MagicCookieValue,
		},
		VersionedPlugins: map[int]goplugin.PluginSet{grpcplugin.ProtocolVersion: {
			"diagnostics": &grpcplugin.DiagnosticsGRPCPlugin{},
			"resource":    &grpcplugin.ResourceGRPCPlugin{},
			"data":        &grpcplugin.DataGRPCPlugin{},
			"stream":      &grpcplugin.StreamGRPCPlugin{},
		}},
		Cmd:              cmd,
		AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolGRPC},
		Logger:           hclog.New(&hclog.LoggerOptions{Name: "plugin", Level: hclog.Warn, Output: os.Stderr}),
	})
	t.Cleanup(client.Kill)
	rpc, err := client.Client()
	if err != nil {
		t.Fatalf("start plugin: %v", err)
	}
	if v := client.NegotiatedVersion(); v != grpcplugin.ProtocolVersion {
		t.Fatalf("negotiated protocol %d, want %d", v, grpcplugin.ProtocolVersion)
	}
	return rpc
}

func dispense[T any](t *testing.T, rpc goplugin.ClientProtocol, name string) T {
	t.Helper()
	raw, err := rpc.Dispense(name)
	if err != nil {
		t.Fatalf("dispense %s: %v", name, err)
	}
	c, ok := raw.(T)
	if !ok {
		t.Fatalf("dispense %s: got %T", name, raw)
	}
	return c
}

// TestBinaryOverGoPlugin runs the plugin binary as Grafana would, against
// a running headroom serve: health, queries, a tuning call through the
// resource proxy, and the plan stream's first frame and a live update.
func TestBinaryOverGoPlugin(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Second)
	hs := serve(t, now)
	url := hs.url
	rpc := launch(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	viewer := backend.ToProto().PluginContext(pctx(settings(url, viewerToken)))
	operator := backend.ToProto().PluginContext(pctx(settings(url, operatorToken)))

	t.Run("diagnostics", func(t *testing.T) {
		diag := dispense[grpcplugin.DiagnosticsClient](t, rpc, "diagnostics")
		for _, tt := range []struct {
			pc      *pluginv2.PluginContext
			status  backend.HealthStatus
			message string
		}{
			{viewer, backend.HealthStatusOk, "1 resource group(s), 2 project(s)"},
			{backend.ToProto().PluginContext(pctx(settings(url, "wrong"))), backend.HealthStatusError, "rejected the token (401)"},
		} {
			resp, err := diag.CheckHealth(ctx, &pluginv2.CheckHealthRequest{PluginContext: tt.pc})
			if err != nil {
				t.Fatal(err)
			}
			res := backend.FromProto().CheckHealthResponse(resp)
			if res.Status != tt.status || !strings.Contains(res.Message, tt.message) {
				t.Fatalf("health over go-plugin: %v %q, want %v containing %q", res.Status, res.Message, tt.status, tt.message)
			}
		}
	})

	t.Run("data", func(t *testing.T) {
		tr := backend.TimeRange{From: now.Add(-time.Hour), To: now.Add(time.Minute)}
		q := backend.ToProto().QueryDataRequest(&backend.QueryDataRequest{PluginContext: pctx(settings(url, viewerToken)),
			Queries: []backend.DataQuery{
				{RefID: "top", JSON: json.RawMessage(`{"queryType": "topn", "metric": "borrowed"}`), TimeRange: tr},
				{RefID: "quotas", JSON: json.RawMessage(`{"queryType": "quotas", "project": "checkout"}`), TimeRange: tr},
			}})
		qr, err := dispense[grpcplugin.DataClient](t, rpc, "data").QueryData(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		out, err := backend.FromProto().QueryDataResponse(qr)
		if err != nil {
			t.Fatal(err)
		}
		top := out.Responses["top"]
		if top.Error != nil || top.Frames[0].Rows() != 2 || field(t, top.Frames[0], "project", 0).(string) != "checkout" {
			t.Fatalf("top N over go-plugin: %+v", top)
		}
		quotas := out.Responses["quotas"]
		if quotas.Error != nil || quotas.Frames[0].Rows() != 10 || field(t, quotas.Frames[0], "quota", 9).(float64) != 40*mib {
			t.Fatalf("quotas over go-plugin: %+v", quotas)
		}
	})

	t.Run("resource", func(t *testing.T) {
		res := dispense[grpcplugin.ResourceClient](t, rpc, "resource")
		call := func(pc *pluginv2.PluginContext, method, path, body string) *pluginv2.CallResourceResponse {
			t.Helper()
			s, err := res.CallResource(ctx, &pluginv2.CallResourceRequest{PluginContext: pc, Method: method, Path: path, Url: path, Body: []byte(body),
				Headers: map[string]*pluginv2.StringList{"Content-Type": {Values: []string{"application/json"}}}})
			if err != nil {
				t.Fatal(err)
			}
			r, err := s.Recv()
			if err != nil {
				t.Fatal(err)
			}
			return r
		}
		if r := call(operator, "PUT", "overrides/project/checkout", `{"produce": {"weight": 2}}`); r.Code != 200 || !strings.Contains(string(r.Body), `"weight":2`) {
			t.Fatalf("tune through the plugin: %d %s", r.Code, r.Body)
		}
		if r := call(viewer, "GET", "overrides", ""); r.Code != 200 || !strings.Contains(string(r.Body), `"updated_by":"grafana-ops"`) {
			t.Fatalf("the tuning is not in force: %d %s", r.Code, r.Body)
		}
	})

	t.Run("stream", func(t *testing.T) {
		st := dispense[grpcplugin.StreamClient](t, rpc, "stream")
		sub, err := st.SubscribeStream(ctx, &pluginv2.SubscribeStreamRequest{PluginContext: viewer, Path: StreamPath})
		if err != nil || sub.Status != pluginv2.SubscribeStreamResponse_OK {
			t.Fatalf("subscribe: %v %v", sub, err)
		}
		s, err := st.RunStream(ctx, &pluginv2.RunStreamRequest{PluginContext: viewer, Path: StreamPath})
		if err != nil {
			t.Fatal(err)
		}
		// The first frame holds every plan in force: the seeded ledger's
		// and those of the round the tuning above forced.
		first := map[string]bool{}
		f := recvFrame(t, s)
		for i := range f.Rows() {
			first[field(t, f, "project", i).(string)+"/"+field(t, f, "direction", i).(string)] = true
		}
		if !first["checkout/produce"] || !first["search/produce"] {
			t.Fatalf("first frame has %v, want checkout's and search's produce plans", first)
		}
		// A live plan change: an operator pins search's produce quota
		// from Grafana; serve forces a round against the lab, which plans
		// the pin and records it, and the next poll of the stream
		// (streamInterval 1s) carries it.
		res := dispense[grpcplugin.ResourceClient](t, rpc, "resource")
		cs, err := res.CallResource(ctx, &pluginv2.CallResourceRequest{PluginContext: operator, Method: "PUT", Path: "overrides/project/search",
			Body: []byte(`{"produce": {"pin": "12MiB/s"}}`)})
		if err != nil {
			t.Fatal(err)
		}
		if r, err := cs.Recv(); err != nil || r.Code != 200 {
			t.Fatalf("pin: %v %v", r, err)
		}
		// A decision recorded after the stream opened, through the real
		// ledger into serve's own store; the next poll (streamInterval
		// 1s) streams the change. (Serve's rounds against the idle lab
		// hold every quota for want of fresh rates; see the closing note.)
		db, err := store.Open(ctx, hs.dbPath)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if err := db.RecordDecisions(ctx, []store.LedgerEntry{{At: time.Now().UTC(), Round: 99, Group: "events", Direction: "produce",
			Project: "search", Outcome: "written", Before: 20 * mib, After: 12 * mib, Share: 30 * mib, Demand: 10 * mib}}); err != nil {
			t.Fatal(err)
		}
		f = recvFrame(t, s)
		got := map[string]float64{}
		for i := range f.Rows() {
			got[field(t, f, "project", i).(string)+"/"+field(t, f, "direction", i).(string)] = field(t, f, "planned", i).(float64)
		}
		if v, ok := got["search/produce"]; !ok || v != 12*mib {
			t.Fatalf("streamed update %v, want search/produce planned at 12MiB/s", got)
		}
	})
}
