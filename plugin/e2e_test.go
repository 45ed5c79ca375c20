package plugin

import (
	"context"
	"encoding/json"
	"fmt"
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
	"github.com/headroomhq/headroom/internal/labrig"
	"github.com/headroomhq/headroom/limiter"
	"github.com/headroomhq/headroom/round"
	"github.com/headroomhq/headroom/simulations/demo"
	"github.com/headroomhq/headroom/simulations/lab"
)

// labScenario: two brokers, two projects each leading a partition on
// both. Rates are small so that the load generators keep up under the
// race detector; demand is set by the test (checkout twice search's).
const labScenario = `
name: plugin-e2e
duration: 1h
brokers:
  count: 2
  capacity: {produce: 2500kB/s, fetch: 5MB/s}
  margin: 0.9
projects:
  - name: checkout
    produce: {share: 500kB/s}
    fetch: {share: 1MB/s}
    partitions: 2
    demand: {produce: {base: 300kB/s}}
  - name: search
    produce: {share: 500kB/s}
    fetch: {share: 1MB/s}
    partitions: 2
    demand: {produce: {base: 150kB/s}}
`

// labDemand is each project's total produce demand, bytes/s.
var labDemand = map[string]float64{"checkout": 600e3, "search": 300e3}

// serve is a running `headroom serve` (daemon.Run in process) whose round
// loop drives a real Kafka-protocol lab cluster under real produce load,
// over a real SQLite store that starts empty; the test drives the rounds
// with Step. A 3 s quota window (Kafka's quota.window.num × size), and
// Headroom's throttle_window to match, lets rates settle in a few rounds.
func serve(t *testing.T) *labrig.Rig {
	t.Helper()
	r := labrig.New(t, labScenario, lab.Window{Samples: 3, SampleWindow: time.Second})
	for name, rate := range labDemand {
		r.Set(name, rate)
	}
	text := r.Config(demo.ConfigOptions{RoundInterval: time.Second, OperatorTokenSHA256: api.HashToken(operatorToken)})
	// Grafana's viewer token beside demo.Config's operator token ("demo").
	withViewer := strings.Replace(text, "tokens: [", fmt.Sprintf("tokens: [{name: grafana, role: viewer, sha256: %s}, ", api.HashToken(viewerToken)), 1)
	if withViewer == text {
		t.Fatalf("demo.Config wrote no api tokens:\n%s", text)
	}
	// The operator token acts for Grafana users.
	withProxy := strings.Replace(withViewer, "role: operator, sha256", "role: operator, proxy: true, sha256", 1)
	if withProxy == withViewer {
		t.Fatalf("demo.Config's operator token changed shape:\n%s", withViewer)
	}
	r.WriteConfig(withProxy)
	r.Start()
	return r
}

// produceDecision is the project's produce decision in o.
func produceDecision(o round.Outcome, project string) (limiter.Decision, bool) {
	for _, p := range o.Plans {
		if p.Direction.String() != "produce" {
			continue
		}
		for _, d := range p.Decisions {
			if d.Project == project {
				return d, true
			}
		}
	}
	return limiter.Decision{}, false
}

// fresh says the round planned both projects' produce quotas from fresh
// rates: the first scrape only primes the counters, so the first round
// holds every quota for want of data.
func fresh(o round.Outcome) bool {
	for name := range labDemand {
		d, ok := produceDecision(o, name)
		if !ok || d.Has(limiter.ReasonHeldMissingData) || !(d.Rate > 0) {
			return false
		}
	}
	return true
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
// a running headroom serve on a lab cluster under load: health, frames
// from real rounds, a tuning call through the resource proxy, and the plan
// stream's first frame and a live update that a real round planned.
func TestBinaryOverGoPlugin(t *testing.T) {
	start := time.Now().UTC().Truncate(time.Second)
	hs := serve(t)
	url := hs.URL
	rpc := launch(t)
	// Rounds with fresh rates before anything is asserted.
	warmed := 0
	var seen []string
	for i := 0; i < 12 && warmed < 2; i++ {
		o := hs.Step(time.Second)
		d, _ := produceDecision(o, "checkout")
		seen = append(seen, fmt.Sprintf("round %d: checkout %+v %s", o.Index, d.Reasons, d.Note))
		if fresh(o) {
			warmed++
		}
	}
	if warmed < 2 {
		t.Fatalf("no two rounds with fresh rates for both projects:\n%s", strings.Join(seen, "\n"))
	}
	t.Logf("rounds until two had fresh rates: %d", len(seen))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	viewer := backend.ToProto().PluginContext(pctx(settings(url, viewerToken)))
	editor := pctx(settings(url, operatorToken))
	editor.User = &backend.User{Login: "erin", Role: "Editor"}
	operator := backend.ToProto().PluginContext(editor)

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
		tr := backend.TimeRange{From: start.Add(-time.Minute), To: time.Now().Add(time.Minute)}
		q := backend.ToProto().QueryDataRequest(&backend.QueryDataRequest{PluginContext: pctx(settings(url, viewerToken)),
			Queries: []backend.DataQuery{
				{RefID: "top", JSON: json.RawMessage(`{"queryType": "topn", "metric": "demand"}`), TimeRange: tr},
				{RefID: "quotas", JSON: json.RawMessage(`{"queryType": "quotas", "project": "checkout"}`), TimeRange: tr},
				{RefID: "detector", JSON: json.RawMessage(`{"queryType": "detector", "project": "checkout"}`), TimeRange: tr},
			}})
		qr, err := dispense[grpcplugin.DataClient](t, rpc, "data").QueryData(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		out, err := backend.FromProto().QueryDataResponse(qr)
		if err != nil {
			t.Fatal(err)
		}
		// checkout produces twice what search does: real traffic ranks it
		// first by demand.
		top := out.Responses["top"]
		if top.Error != nil || top.Frames[0].Rows() != 2 || field(t, top.Frames[0], "project", 0).(string) != "checkout" ||
			!(field(t, top.Frames[0], "demand", 0).(float64) > field(t, top.Frames[0], "demand", 1).(float64)) {
			t.Fatalf("top N by demand over go-plugin: %+v", top)
		}
		quotas := out.Responses["quotas"]
		if quotas.Error != nil || quotas.Frames[0].Rows() < 2 {
			t.Fatalf("quotas over go-plugin: %+v", quotas)
		}
		if n := quotas.Frames[0].Rows(); !(field(t, quotas.Frames[0], "quota", n-1).(float64) > 0) || !(field(t, quotas.Frames[0], "demand", n-1).(float64) > 0) {
			t.Fatalf("checkout's last decision has no quota or demand: %+v", quotas.Frames[0])
		}
		det := out.Responses["detector"]
		if det.Error != nil || det.Frames[0].Rows() < 2 {
			t.Fatalf("detector over go-plugin: %+v", det)
		}
		n := det.Frames[0].Rows()
		if r := field(t, det.Frames[0], "rate", n-1).(*float64); r == nil || !(*r > 0) {
			t.Fatalf("the detector saw no checkout traffic: rate %v", r)
		}
		for _, name := range []string{"baseline", "forecast_upper", "score", "state"} {
			field(t, det.Frames[0], name, n-1)
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
		if r := call(viewer, "GET", "overrides", ""); r.Code != 200 || !strings.Contains(string(r.Body), `"updated_by":"demo (user erin)"`) {
			t.Fatalf("the tuning is not in force: %d %s", r.Code, r.Body)
		}
		if r := call(viewer, "PUT", "overrides/project/search", `{"produce": {"weight": 2}}`); r.Code != 403 {
			t.Fatalf("a viewer tuned through the plugin: %d %s", r.Code, r.Body)
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
		// The first frame holds every plan the rounds so far made.
		first := map[string]float64{}
		f := recvFrame(t, s)
		for i := range f.Rows() {
			first[field(t, f, "project", i).(string)+"/"+field(t, f, "direction", i).(string)] = field(t, f, "planned", i).(float64)
		}
		before, ok := first["search/produce"]
		if _, ok2 := first["checkout/produce"]; !ok || !ok2 {
			t.Fatalf("first frame has %v, want checkout's and search's produce plans", first)
		}
		// A live plan change: an operator pins search's produce quota
		// from Grafana. Serve forces a round against the lab, which plans
		// the pin and writes it to the cluster; the stream's next poll
		// (streamInterval 1s) carries it.
		const pin = 200e3 // 200kB/s per broker
		if before == pin {
			t.Fatalf("search is already planned at the pin, %v", before)
		}
		res := dispense[grpcplugin.ResourceClient](t, rpc, "resource")
		cs, err := res.CallResource(ctx, &pluginv2.CallResourceRequest{PluginContext: operator, Method: "PUT", Path: "overrides/project/search",
			Headers: map[string]*pluginv2.StringList{"Content-Type": {Values: []string{"application/json"}}},
			Body:    []byte(`{"produce": {"pin": "200kB/s"}}`)})
		if err != nil {
			t.Fatal(err)
		}
		if r, err := cs.Recv(); err != nil || r.Code != 200 {
			t.Fatalf("pin: %v %v", r, err)
		}
		planned := false
		var rounds []string
		for i := 0; i < 5 && !planned; i++ {
			o := hs.Step(0)
			d, _ := produceDecision(o, "search")
			rounds = append(rounds, fmt.Sprintf("round %d: search %.0f -> %.0f %v %s", o.Index, d.Before, d.After, d.Reasons, d.Note))
			planned = d.After == pin
		}
		if !planned {
			t.Fatalf("no round planned the pin:\n%s", strings.Join(rounds, "\n"))
		}
		var frames []map[string]float64
		for len(frames) < 10 {
			f := recvFrame(t, s)
			got := map[string]float64{}
			for i := range f.Rows() {
				got[field(t, f, "project", i).(string)+"/"+field(t, f, "direction", i).(string)] = field(t, f, "planned", i).(float64)
			}
			frames = append(frames, got)
			if v, ok := got["search/produce"]; ok && v == pin {
				t.Logf("%s; streamed in frame %d after the first", rounds[len(rounds)-1], len(frames))
				return
			}
		}
		t.Fatalf("the stream never carried search/produce planned at %v; frames %v", pin, frames)
	})
}
