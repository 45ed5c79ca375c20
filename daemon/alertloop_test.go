package daemon_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/headroomhq/headroom/alerting"
	"github.com/headroomhq/headroom/alerting/webhook"
	"github.com/headroomhq/headroom/api"
	"github.com/headroomhq/headroom/daemon"
	"github.com/headroomhq/headroom/internal/labrig"
	"github.com/headroomhq/headroom/internal/testpeer"
	"github.com/headroomhq/headroom/round"
	"github.com/headroomhq/headroom/simulations/demo"
	"github.com/headroomhq/headroom/simulations/lab"
	"github.com/headroomhq/headroom/store"
)

// oneBroker: hot and calm on one broker of 1 MB/s produce, 800 kB/s of it
// handed out; hot borrows at most 650 kB/s (labrig.HotAndCalm).
var oneBroker = labrig.HotAndCalm("alerts", 1)

const (
	capacity    = 1e6
	webhookTok  = "am-to-headroom"
	operatorTok = "operator-secret"
)

// verifyWindow is two rounds, and at least two of Kafka's quota windows
// (11 s), so that the throttle time, an average over the window, has
// settled when the condition is checked.
func verifyWindow(rnd time.Duration) time.Duration { return max(2*rnd, 22*time.Second) }

// serve is `headroom serve` in process on a lab cluster, with a real
// Alertmanager that calls its webhook back. The rounds run on the daemon's
// own ticker at global.round_interval, and Alertmanager on wall time; the
// test only reads what they produce.
type serve struct {
	*labrig.Rig
	t      *testing.T
	am     *testpeer.Peer
	client *http.Client
}

// startServe starts the lab, Alertmanager and the daemon. alertingYAML is
// added to the generated configuration's alerting section (two-space
// indented keys).
func startServe(t *testing.T, rnd time.Duration, demand map[string]float64, alertingYAML string) *serve {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second}
	t.Cleanup(client.CloseIdleConnections)
	sv := &serve{Rig: labrig.New(t, oneBroker, lab.DefaultWindow), t: t, client: client}
	for project, rate := range demand {
		sv.Set(project, rate)
	}
	sv.am = testpeer.Alertmanager(t, webhook.AlertmanagerRoute{URL: sv.URL + daemon.WebhookPath, BearerToken: webhookTok,
		GroupBy: []string{"alertname", "cluster", "group"}, GroupInterval: time.Second, RepeatInterval: time.Hour}.Config())

	tokFile := filepath.Join(t.TempDir(), "webhook-token")
	if err := os.WriteFile(tokFile, []byte(webhookTok+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	text := sv.Config(demo.ConfigOptions{RoundInterval: rnd, OperatorTokenSHA256: api.HashToken(operatorTok),
		Alertmanagers: []string{sv.am.URL}, WebhookTokenFile: tokFile, ExternalURL: sv.URL})
	if !strings.Contains(text, "\nalerting:\n") {
		t.Fatalf("generated configuration has no alerting section:\n%s", text)
	}
	sv.WriteConfig(strings.Replace(text, "\nalerting:\n", "\nalerting:\n"+alertingYAML, 1))
	sv.StartTicker()
	return sv
}

func (sv *serve) roundsSince(after time.Time) []round.Outcome {
	var out []round.Outcome
	for _, o := range sv.Rounds() {
		if o.Time.After(after) {
			out = append(out, o)
		}
	}
	return out
}

// do calls serve's HTTP API and returns the status and body.
func (sv *serve) do(method, path, token string, body any) (int, []byte) {
	sv.t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = strings.NewReader(string(b))
	}
	req, err := http.NewRequest(method, sv.URL+path, r)
	if err != nil {
		sv.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := sv.client.Do(req)
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// amAlert is an alert as Alertmanager's v2 API lists it.
type amAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	GeneratorURL string            `json:"generatorURL"`
	StartsAt     time.Time         `json:"startsAt"`
	Status       struct {
		State string `json:"state"`
	} `json:"status"`
}

// amAlerts lists the alerts Alertmanager holds (resolved ones are not
// listed).
func (sv *serve) amAlerts() ([]amAlert, error) {
	resp, err := sv.client.Get(sv.am.URL + "/api/v2/alerts")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("alertmanager: %s", resp.Status)
	}
	var out []amAlert
	return out, json.NewDecoder(resp.Body).Decode(&out)
}

func (sv *serve) amAlert(name, severity string) (amAlert, bool) {
	as, err := sv.amAlerts()
	if err != nil {
		return amAlert{}, false
	}
	for _, a := range as {
		if a.Labels["alertname"] == name && (severity == "" || a.Labels["severity"] == severity) {
			return a, true
		}
	}
	return amAlert{}, false
}

type incident struct {
	api.IncidentView
	handling struct {
		PendingApproval bool   `json:"pending_approval"`
		Action          string `json:"action"`
	}
}

// incidents lists serve's incidents through its API.
func (sv *serve) incidents() []incident {
	code, b := sv.do("GET", "/api/v1/alerts", operatorTok, nil)
	if code != 200 {
		return nil
	}
	var vs []api.IncidentView
	if err := json.Unmarshal(b, &vs); err != nil {
		sv.t.Fatalf("GET /api/v1/alerts: %v: %s", err, b)
	}
	out := make([]incident, len(vs))
	for i, v := range vs {
		out[i].IncidentView = v
		_ = json.Unmarshal(v.Handling, &out[i].handling)
	}
	return out
}

func (sv *serve) incident(id int64) api.IncidentView {
	code, b := sv.do("GET", fmt.Sprintf("/api/v1/alerts/%d", id), operatorTok, nil)
	var v api.IncidentView
	if code != 200 || json.Unmarshal(b, &v) != nil {
		sv.t.Fatalf("GET /api/v1/alerts/%d: %d %s", id, code, b)
	}
	return v
}

// waitFor waits until cond holds, through testpeer.Eventually: every
// condition here is on real peers (Alertmanager, serve's API) that run on
// wall time with a real Kafka lab. It fails at once if the daemon stops.
func (sv *serve) waitFor(what string, timeout time.Duration, cond func() bool) time.Time {
	sv.t.Helper()
	return testpeer.Eventually(sv.t, what, timeout, func() bool {
		select {
		case <-sv.Done():
			sv.t.Fatalf("waiting for %s: the daemon stopped: %v", what, sv.Err())
		default:
		}
		return cond()
	})
}

func steps(v api.IncidentView) string {
	var s []string
	for _, st := range v.Steps {
		s = append(s, st.Action+":"+st.To)
	}
	return strings.Join(s, " ")
}

func stepAt(v api.IncidentView, action string) time.Time {
	for _, st := range v.Steps {
		if st.Action == action {
			return st.At
		}
	}
	return time.Time{}
}

// checkThrottledAlert checks what Alertmanager holds for hot's throttling:
// the labels, the annotations and the generatorURL serve put on it.
func (sv *serve) checkThrottledAlert(a amAlert, severity string) {
	sv.t.Helper()
	want := map[string]string{"alertname": alerting.AlertProjectThrottled, "cluster": "lab", "group": "alerts", "project": "hot",
		"direction": "produce", "severity": severity}
	for k, v := range want {
		if a.Labels[k] != v {
			sv.t.Errorf("label %s = %q, want %q (labels %v)", k, a.Labels[k], v, a.Labels)
		}
	}
	if !strings.HasPrefix(a.Annotations["summary"], "Project hot is throttled on lab") || !strings.Contains(a.Annotations["description"], "of its demand throttled") {
		sv.t.Errorf("annotations %v", a.Annotations)
	}
	if a.Annotations["runbook_url"] != "https://github.com/headroomhq/headroom/blob/main/docs/runbooks.md#projectthrottled" {
		sv.t.Errorf("runbook_url %q", a.Annotations["runbook_url"])
	}
	if a.Annotations["dashboard"] != "https://grafana.lab.example/d/headroom-throttling" {
		sv.t.Errorf("dashboard %q", a.Annotations["dashboard"])
	}
	if !strings.HasPrefix(a.GeneratorURL, sv.URL+"/api/v1/explain?") || !strings.Contains(a.GeneratorURL, "project=hot") || !strings.Contains(a.GeneratorURL, "direction=produce") {
		sv.t.Errorf("generatorURL %q, want serve's explanation of hot/produce", a.GeneratorURL)
	}
	if a.Status.State != "active" {
		sv.t.Errorf("alert state %q in Alertmanager, want active", a.Status.State)
	}
}

// TestServeEscalatesThrottlingItCannotFix: hot wants 1.3 MB/s from a broker
// of 1 MB/s. Headroom lends it what the margin allows and it stays
// throttled. ProjectThrottled reaches Alertmanager, comes back through the
// webhook, an operator acknowledges it and approves the playbook (raise the
// margin to 1) through the API; the next round plans with the raised
// margin, throttling persists, so verification rolls the override back and
// re-posts the alert as critical.
func TestServeEscalatesThrottlingItCannotFix(t *testing.T) {
	t.Parallel()
	rnd := testpeer.RoundFromEnv(t, "HEADROOM_SERVE_ROUND")
	sv := startServe(t, rnd, map[string]float64{"hot": 1.3e6, "calm": 50e3}, fmt.Sprintf(`  dashboard_url: https://grafana.lab.example
  rules: {throttled_for: %s}
  playbooks:
    - {alert: ProjectThrottled, action: raise_margin, margin: 1, mode: approve, verify_window: %s}
`, 2*rnd, verifyWindow(rnd)))
	const long = 2 * time.Minute

	var a amAlert
	sv.waitFor("ProjectThrottled in Alertmanager", long, func() bool {
		var ok bool
		a, ok = sv.amAlert(alerting.AlertProjectThrottled, "warning")
		return ok
	})
	sv.checkThrottledAlert(a, "warning")

	// Alertmanager's webhook reached serve: the incident is open and waits
	// for approval.
	var in incident
	sv.waitFor("the incident waiting for approval", long, func() bool {
		ins := sv.incidents()
		if len(ins) == 1 {
			in = ins[0]
		}
		return len(ins) == 1 && in.handling.PendingApproval
	})
	if in.AlertName != alerting.AlertProjectThrottled || in.Labels["project"] != "hot" || in.State != alerting.StateFiring {
		t.Fatalf("incident %+v", in.IncidentView)
	}
	if got := steps(sv.incident(in.ID)); got != "opened:firing approval_requested:firing" {
		t.Fatalf("steps %q", got)
	}

	for _, action := range []string{"acknowledge", "approve"} {
		code, b := sv.do("POST", fmt.Sprintf("/api/v1/alerts/%d/%s", in.ID, action), operatorTok, nil)
		if code != 200 {
			t.Fatalf("%s: %d %s", action, code, b)
		}
	}
	approved := time.Now()
	v := sv.incident(in.ID)
	if v.State != alerting.StateHandling || v.Steps[len(v.Steps)-1].Actor != "demo" {
		t.Fatalf("after approval: %s, steps %s", v.State, steps(v))
	}

	// The playbook's override is in the store, written by the playbook,
	// and the next round plans with it: the broker's safe capacity is its
	// whole capacity.
	code, b := sv.do("GET", "/api/v1/overrides", operatorTok, nil)
	if code != 200 || !strings.Contains(string(b), `"updated_by":"playbook:ProjectThrottled"`) || !strings.Contains(string(b), `"margin":1`) {
		t.Fatalf("overrides after approval: %d %s", code, b)
	}
	sv.waitFor("a round planned with the raised margin", long, func() bool {
		for _, o := range sv.roundsSince(approved) {
			for _, p := range o.Plans {
				if p.Direction.String() == "produce" && len(p.Brokers) == 1 && p.Brokers[0].Safe == capacity {
					return true
				}
			}
		}
		return false
	})

	// Throttling persists: verification fails, the override is rolled
	// back and the alert is re-posted one severity higher.
	sv.waitFor("the incident escalated", long+verifyWindow(rnd), func() bool {
		return sv.incident(in.ID).State == alerting.StateEscalated
	})
	v = sv.incident(in.ID)
	last := v.Steps[len(v.Steps)-1]
	if want := "opened:firing approval_requested:firing acknowledged:acknowledged raise_margin:handling verification_failed:escalated"; steps(v) != want {
		t.Fatalf("steps %q, want %q", steps(v), want)
	}
	if !strings.Contains(last.Result, "override rolled back") || !strings.Contains(last.Result, "re-posted with severity critical") {
		t.Fatalf("verification step %+v", last)
	}
	if code, b := sv.do("GET", "/api/v1/overrides", operatorTok, nil); code != 200 || strings.Contains(string(b), "playbook") {
		t.Fatalf("overrides after rollback: %d %s", code, b)
	}
	sv.waitFor("the critical ProjectThrottled in Alertmanager", long, func() bool {
		a, ok := sv.amAlert(alerting.AlertProjectThrottled, "critical")
		if ok {
			sv.checkThrottledAlert(a, "critical")
		}
		return ok
	})
	// Headroom lent hot all it could within the margin meanwhile.
	if q := sv.Quota("hot"); !(q > 300e3) {
		t.Fatalf("hot's quota %v: no borrowing", q)
	}
}

// TestServeHandlesThrottlingAndResolves measures the loop through serve:
// hot surges to 780 kB/s, above the 650 kB/s the 0.8 margin lets Headroom
// lend it but within the 850 kB/s a margin of 1 leaves. ProjectThrottled fires, the auto playbook raises
// the margin, throttling stops, verification resolves the incident and the
// alert resolves in Alertmanager, whose resolved notification comes back.
//
//	HEADROOM_SERVE_ROUND=15s go test ./daemon -run TestServeHandlesThrottlingAndResolves -v
func TestServeHandlesThrottlingAndResolves(t *testing.T) {
	t.Parallel()
	rnd := testpeer.RoundFromEnv(t, "HEADROOM_SERVE_ROUND")
	// Before the surge hot stays under its 30 kB/s floor, the quota the
	// lab starts with, so that nothing is throttled yet.
	sv := startServe(t, rnd, map[string]float64{"hot": 20e3, "calm": 50e3}, fmt.Sprintf(`  dashboard_url: https://grafana.lab.example
  rules: {throttled_for: %s}
  playbooks:
    - {alert: ProjectThrottled, action: raise_margin, margin: 1, mode: auto, verify_window: %s}
`, 2*rnd, verifyWindow(rnd)))
	long := 2*time.Minute + 8*rnd

	// Calm until two rounds in a row find hot unthrottled and serving.
	start := time.Now()
	sv.waitFor("hot unthrottled for two rounds", long, func() bool {
		rs := sv.roundsSince(start)
		if len(rs) < 2 {
			return false
		}
		for _, o := range rs[len(rs)-2:] {
			for _, p := range o.Plans {
				for _, d := range p.Decisions {
					if d.Project == "hot" && p.Direction.String() == "produce" && !(d.ThrottleMs == 0 && d.Observed > 0) {
						return false
					}
				}
			}
		}
		return true
	})
	surge := time.Now()
	sv.Set("hot", 780e3)
	defer func() {
		if t.Failed() {
			for _, o := range sv.roundsSince(surge) {
				for _, p := range o.Plans {
					for _, d := range p.Decisions {
						if d.Project == "hot" && p.Direction.String() == "produce" {
							t.Logf("round %d +%s: hot before %.0f after %.0f demand %.0f observed %.0f throttle %.0fms safe %.0f %v",
								o.Index, o.Time.Sub(surge).Round(time.Second), d.Before, d.After, d.Demand, d.Observed, d.ThrottleMs, p.Brokers[0].Safe, d.Reasons)
						}
					}
				}
			}
			for _, in := range sv.incidents() {
				t.Logf("incident %d %s %v: %+v", in.ID, in.State, in.Labels, sv.incident(in.ID).Steps)
			}
		}
	}()

	var a amAlert
	tAlert := sv.waitFor("ProjectThrottled in Alertmanager", long, func() bool {
		var ok bool
		a, ok = sv.amAlert(alerting.AlertProjectThrottled, "")
		return ok
	})
	sv.checkThrottledAlert(a, "warning")
	var in incident
	sv.waitFor("the incident verified and resolved", long, func() bool {
		ins := sv.incidents()
		if len(ins) == 1 {
			in = ins[0]
		}
		if len(ins) == 1 && in.State == alerting.StateEscalated {
			t.Fatalf("verification failed: %s", steps(sv.incident(in.ID)))
		}
		return len(ins) == 1 && in.State == alerting.StateResolved
	})
	v := sv.incident(in.ID)
	if want := "opened:firing raise_margin:handling verified:resolved"; steps(v) != want {
		t.Fatalf("steps %q, want %q", steps(v), want)
	}
	tResolved := sv.waitFor("ProjectThrottled resolved in Alertmanager and the resolution delivered back", long, func() bool {
		if _, ok := sv.amAlert(alerting.AlertProjectThrottled, ""); ok {
			return false
		}
		db, err := store.Open(context.Background(), sv.StorePath)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		ns, err := db.AlertNotifications(context.Background(), "")
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range ns {
			if n.AlertName == alerting.AlertProjectThrottled && n.Status == "resolved" {
				return true
			}
		}
		return false
	})
	// The fix reached the cluster: hot is served its demand.
	if q := sv.Quota("hot"); !(q >= 780e3) {
		t.Fatalf("hot's quota %v after the playbook, want at least its 780 kB/s demand", q)
	}
	r := func(at time.Time) time.Duration { return at.Sub(surge).Round(100 * time.Millisecond) }
	t.Logf("round %s: surge → alert in Alertmanager %s, handled %s, verified %s, resolved in Alertmanager and delivered back %s",
		rnd, r(tAlert), r(stepAt(v, "raise_margin")), r(stepAt(v, "verified")), r(tResolved))
}
