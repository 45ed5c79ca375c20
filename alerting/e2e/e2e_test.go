package e2e

import (
	"context"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-openapi/strfmt"
	amclient "github.com/prometheus/alertmanager/api/v2/client"
	"github.com/prometheus/alertmanager/api/v2/client/alert"
	"github.com/prometheus/common/model"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"

	"github.com/headroomhq/headroom/alerting"
	"github.com/headroomhq/headroom/alerting/notifier"
	"github.com/headroomhq/headroom/alerting/webhook"
	"github.com/headroomhq/headroom/collector"
	"github.com/headroomhq/headroom/config"
	"github.com/headroomhq/headroom/detector"
	"github.com/headroomhq/headroom/internal/testpeer"
	"github.com/headroomhq/headroom/limiter/applier"
	"github.com/headroomhq/headroom/simulations/lab"
	"github.com/headroomhq/headroom/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The lab: one broker, a safe capacity of 7.2 MiB/s produce (0.9 × 8
// MiB/s), project hot with a 256 KiB/s quota that surges to 1 MiB/s, and a
// calm neighbour well inside its own quota.
const (
	capacity   = 8 << 20
	margin     = 0.9
	hotQuota   = 256 << 10
	hotDemand  = 1 << 20
	calmQuota  = 2 << 20
	calmDemand = 64 << 10
	webToken   = "e2e-t0ken"
)

// verifyAtLeast is the shortest verify window: two quota windows, so that
// the throttle time (an average over the window) has settled.
const verifyAtLeast = 22 * time.Second

// labLimiter is the playbooks' override interface over the lab. This test
// runs the alerting parts without the round loop, so there is no limiter
// round to force: this adapter (a stand-in, and the test's only one) plans
// the burst itself from the round's demand estimate (the same estimate the
// rules saw) and writes it with the real applier through Kafka's
// AlterClientQuotas, so what the playbook does reaches the cluster the way
// a limiter round would. `headroom serve` gives the engine the real
// alerting.ServiceOverrides over its round loop; daemon/alertloop_test.go
// runs that end to end.
type labLimiter struct {
	app *applier.Applier

	mu     sync.Mutex
	demand map[string]float64 // project -> estimated produce demand
	quota  map[string]float64
	forced int
}

func (l *labLimiter) ForceRound(ctx context.Context, group string, burst bool) error {
	l.mu.Lock()
	l.forced++
	var changes []applier.Change
	used := 0.0
	for _, q := range l.quota {
		used += q
	}
	for p, d := range l.demand {
		q := l.quota[p]
		if d <= q {
			continue
		}
		// Burst: the short project takes all the spare safe capacity at
		// once. Under throttling the demand estimate understates what the
		// client wants (it waits for its delayed responses), so stepping
		// to the estimate would leave it throttled.
		want := q + max(0, margin*capacity-used)
		changes = append(changes, applier.Change{Project: p, Entity: config.Entity{ClientID: p}, Direction: config.Produce, Quota: want, Demand: d, Urgent: true})
		used += want - q
	}
	l.mu.Unlock()
	if len(changes) == 0 {
		return nil
	}
	res, err := l.app.Apply(ctx, changes)
	if err != nil {
		return fmt.Errorf("force round for group %s: %w", group, err)
	}
	for _, r := range res {
		if r.Err != nil {
			return fmt.Errorf("force round for group %s: %s: %w", group, r.Change.Project, r.Err)
		}
	}
	return nil
}

func (l *labLimiter) RaiseMargin(context.Context, string, float64, time.Time) (alerting.OverrideRef, error) {
	return alerting.OverrideRef{}, fmt.Errorf("not used by this test's playbooks")
}

func (l *labLimiter) CapProject(context.Context, string, float64, time.Time) (alerting.OverrideRef, error) {
	return alerting.OverrideRef{}, fmt.Errorf("not used by this test's playbooks")
}

func (l *labLimiter) Lift(context.Context, alerting.OverrideRef) error { return nil }

func amConfig(webhookURL string) string {
	return webhook.AlertmanagerRoute{URL: webhookURL + "/webhook/alertmanager", BearerToken: webToken,
		GroupBy: []string{"alertname", "cluster", "group"}, GroupInterval: time.Second, RepeatInterval: time.Hour}.Config()
}

// amAlerts lists the alerts an Alertmanager holds as active, unprocessed or
// suppressed (resolved ones are not listed), by alertname.
func amAlerts(p *testpeer.Peer) (map[string]int, error) {
	api := amclient.NewHTTPClientWithConfig(strfmt.Default, amclient.DefaultTransportConfig().WithHost(p.Addr))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	resp, err := api.Alert.GetAlerts(alert.NewGetAlertsParamsWithContext(ctx))
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, a := range resp.Payload {
		out[a.Labels["alertname"]]++
	}
	return out, nil
}

// TestAlertLoopAgainstRealAlertmanager is the loop end to end. Alertmanager
// B is down when the surge starts and comes back mid-flow; Alertmanager A
// is restarted while the incident is being handled.
func TestAlertLoopAgainstRealAlertmanager(t *testing.T) {
	rnd := testpeer.RoundFromEnv(t, "HEADROOM_E2E_ROUND")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()

	// Headroom's side: store, webhook, engine.
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "headroom.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	c, err := lab.Start(ctx, lab.Config{
		Brokers:  1,
		Capacity: lab.Rates{Produce: capacity, Fetch: capacity},
		Projects: []lab.Project{
			{Name: "hot", Quota: lab.Rates{Produce: hotQuota}},
			{Name: "calm", Quota: lab.Rates{Produce: calmQuota}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	kcl, err := kgo.NewClient(kgo.SeedBrokers(c.Bootstrap()...))
	if err != nil {
		t.Fatal(err)
	}
	defer kcl.Close()
	app := applier.New(kadm.NewClient(kcl), applier.Config{})
	lim := &labLimiter{app: app, demand: map[string]float64{}, quota: map[string]float64{}}

	rules := alerting.NewRules(alerting.RuleOptions{ThrottledFor: 2 * rnd})
	cfg := config.DefaultAlertingConfig()
	cfg.Playbooks = []config.PlaybookConfig{{
		Alert: alerting.AlertProjectThrottled, Action: config.ActionReallocateNow, Mode: config.ModeAuto,
		Cooldown: config.DefaultPlaybookCooldown, MaxTargets: 1,
		VerifyWindow: model.Duration(max(2*rnd, verifyAtLeast)), Duration: config.DefaultPlaybookDuration,
	}}

	var notifyErrs []error
	var emu sync.Mutex
	var eng *alerting.Engine
	hook, err := webhook.New(webhook.Options{
		Recorder: webhook.StoreRecorder{DB: db}, Auth: webhook.Auth{BearerToken: webToken},
		OnFresh: func(ns []webhook.Notification) {
			if err := eng.Notify(ctx, ns); err != nil {
				emu.Lock()
				notifyErrs = append(notifyErrs, err)
				emu.Unlock()
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(hook)
	defer srv.Close()

	// Alertmanagers A and B, each with its own state directory so that a
	// restart keeps its notification log.
	amCfg := amConfig(srv.URL)
	dirA, dirB := t.TempDir(), t.TempDir()
	amA := testpeer.AlertmanagerAt(t, amCfg, "", dirA)
	amB := testpeer.AlertmanagerAt(t, amCfg, "", dirB)
	amB.Stop() // B is down from the start

	n, err := notifier.New(notifier.Options{Alertmanagers: config.URLs(amA.URL, amB.URL), MinBackoff: 100 * time.Millisecond, MaxBackoff: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	keeper := notifier.NewKeeper(n, rnd)
	eng, err = alerting.NewEngine(alerting.Options{Store: db, Config: cfg, Overrides: lim, Conditions: rules, Sender: n, Silencer: n})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); n.Run(ctx) }()

	coll, err := collector.New(collector.Options{Config: config.DefaultCollectorConfig(), Now: time.Now, Projects: []config.ProjectConfig{
		{Name: "hot", Group: "events", Entity: config.Entity{ClientID: "hot"}, Topics: config.TopicsConfig{Prefixes: []string{"hot."}}},
		{Name: "calm", Group: "events", Entity: config.Entity{ClientID: "calm"}, Topics: config.TopicsConfig{Prefixes: []string{"calm."}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	var targets []collector.Target
	for id, u := range c.MetricsURLs() {
		targets = append(targets, collector.Target{URL: u, Profile: config.ProfileKafkaJMX, Cluster: "lab", BrokerID: fmt.Sprint(id)})
	}
	mon, err := detector.NewMonitor(config.DefaultDetectorConfig())
	if err != nil {
		t.Fatal(err)
	}

	// The surge.
	surge := time.Now()
	load, err := lab.StartLoad(ctx, c, map[string]lab.DemandFunc{
		"hot":  func(time.Time) lab.Rates { return lab.Rates{Produce: hotDemand} },
		"calm": func(time.Time) lab.Rates { return lab.Rates{Produce: calmDemand} },
	}, lab.LoadOptions{RecordSize: 8 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer load.Close()

	// The round loop: scrape, detect, evaluate rules, notify, verify.
	var detMu sync.Mutex
	var detected []detector.Event
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(rnd)
		defer tick.Stop()
		window := float64(lab.DefaultWindow.Samples) * lab.DefaultWindow.SampleWindow.Seconds() * 1000
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			now := time.Now()
			snap := coll.Round(ctx, targets)
			quotas, err := app.Describe(ctx)
			if err != nil {
				continue // the next round retries; a stale quota is not guessed
			}
			in := detector.Input{Time: now}
			obs := alerting.Observation{Time: now, Cluster: "lab"}
			lim.mu.Lock()
			for _, p := range []string{"hot", "calm"} {
				var served, throttle float64
				for _, r := range snap.Projects {
					if r.Project == p && r.Direction == config.Produce && r.Rate.OK() {
						served += r.Rate.Value
					}
				}
				for _, th := range snap.Throttles {
					if th.Project == p && th.Direction == config.Produce && th.ThrottleMs.OK() {
						throttle = max(throttle, th.ThrottleMs.Value)
					}
				}
				quota := quotas[config.Entity{ClientID: p}][applier.ProducerByteRate]
				demand := served
				// Kafka: throttle = (observed − quota) / quota × window. The
				// throttle time is an average over the quota window, so it
				// describes the quota in force only while the project is
				// served at that quota.
				if throttle > 0 && served >= 0.9*quota {
					demand = max(served, quota*(1+throttle/window))
				}
				lim.demand[p], lim.quota[p] = demand, quota
				in.Traffic = append(in.Traffic, detector.TrafficSample{Project: p, Direction: config.Produce, Rate: served})
				in.Throttle = append(in.Throttle, detector.ThrottleSample{Project: p, Direction: config.Produce, Time: time.Duration(throttle * float64(time.Millisecond))})
				share := float64(hotQuota)
				if p == "calm" {
					share = calmQuota
				}
				obs.Projects = append(obs.Projects, alerting.ProjectObservation{Group: "events", Project: p, Direction: "produce", Demand: demand, Served: served, Quota: quota, Share: share})
			}
			lim.mu.Unlock()
			hot := obs.Projects[0]
			t.Logf("round at +%s: hot demand %.0f served %.0f quota %.0f", now.Sub(surge).Round(time.Second), hot.Demand, hot.Served, hot.Quota)
			_, evs := mon.Observe(in)
			detMu.Lock()
			detected = append(detected, evs...)
			detMu.Unlock()
			keeper.Update(now, rules.Evaluate(obs))
			if err := eng.Tick(ctx); err != nil {
				emu.Lock()
				notifyErrs = append(notifyErrs, err)
				emu.Unlock()
			}
		}
	}()
	defer func() { cancel(); wg.Wait() }()

	const long = 3 * time.Minute
	incident := func() (store.Incident, bool) {
		ins, err := db.Incidents(ctx, "")
		if err != nil || len(ins) == 0 {
			return store.Incident{}, false
		}
		return ins[0], true
	}
	// A real Alertmanager, fed by rounds over a real Kafka lab on wall time.
	tAlert := testpeer.Eventually(t, "ProjectThrottled active in Alertmanager A", long, func() bool {
		as, err := amAlerts(amA)
		return err == nil && as[alerting.AlertProjectThrottled] == 1
	})
	if q := n.Pending()[amB.URL]; q == 0 {
		t.Fatal("nothing queued for Alertmanager B while it is down")
	}
	// The webhook called back by a real Alertmanager.
	tHandled := testpeer.Eventually(t, "the incident in handling", long, func() bool {
		in, ok := incident()
		return ok && (in.State == alerting.StateHandling || in.State == alerting.StateResolved)
	})

	// Mid-flow: B comes back where the notifier expects it, and A restarts
	// in place.
	amB = testpeer.AlertmanagerAt(t, amCfg, amB.Addr, dirB)
	// A real Alertmanager restarted: its port must accept again.
	testpeer.Eventually(t, "the queue for Alertmanager B delivered", long, func() bool { return n.Pending()[amB.URL] == 0 })
	stateAtRestart := ""
	if in, ok := incident(); ok {
		stateAtRestart = in.State
	}
	amA.Stop()
	amA = testpeer.AlertmanagerAt(t, amCfg, amA.Addr, dirA)

	// Verification rounds over a real Kafka lab, on wall time.
	tVerified := testpeer.Eventually(t, "the incident verified and resolved", long, func() bool {
		in, ok := incident()
		if ok && in.State == alerting.StateEscalated {
			steps, _ := db.IncidentSteps(ctx, in.ID)
			t.Fatalf("verification failed: %+v", steps)
		}
		return ok && in.State == alerting.StateResolved
	})
	in, _ := incident()
	var fp string
	// Resolutions through real Alertmanagers and back over the webhook.
	tResolved := testpeer.Eventually(t, "ProjectThrottled resolved in both Alertmanagers and the resolution delivered back", long, func() bool {
		for _, am := range []*testpeer.Peer{amA, amB} {
			as, err := amAlerts(am)
			if err != nil || as[alerting.AlertProjectThrottled] != 0 {
				return false
			}
		}
		ns, err := db.AlertNotifications(ctx, in.Fingerprint)
		if err != nil {
			return false
		}
		for _, x := range ns {
			if x.Status == "resolved" {
				fp = x.Fingerprint
				return true
			}
		}
		return false
	})
	cancel()
	wg.Wait()

	// One incident, handled once, verified.
	ins, err := db.Incidents(context.Background(), "")
	if err != nil || len(ins) != 1 || ins[0].AlertName != alerting.AlertProjectThrottled || ins[0].Labels["project"] != "hot" {
		t.Fatalf("incidents %+v, %v; want one ProjectThrottled for hot", ins, err)
	}
	steps, err := db.IncidentSteps(context.Background(), ins[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range steps {
		got = append(got, s.Action+":"+s.To)
	}
	if want := "opened:firing reallocate_now:handling verified:resolved"; strings.Join(got, " ") != want {
		t.Fatalf("steps %v, want %s", got, want)
	}
	lim.mu.Lock()
	forced := lim.forced
	lim.mu.Unlock()
	if forced != 1 {
		t.Fatalf("the playbook acted %d times, want exactly once", forced)
	}
	ns, err := db.AlertNotifications(context.Background(), fp)
	if err != nil {
		t.Fatal(err)
	}
	deliveries := 0
	for _, x := range ns {
		deliveries += x.Deliveries
	}
	if deliveries <= len(ns) {
		t.Fatalf("no duplicate delivery seen (%d deliveries of %d states): the exactly-once check proved nothing", deliveries, len(ns))
	}
	if q := c.Quotas()["client-id=hot"]["producer_byte_rate"]; q <= hotQuota {
		t.Fatalf("hot's quota in the cluster is %v, want above %v after the playbook", q, hotQuota)
	}
	detMu.Lock()
	sawThrottling := false
	for _, e := range detected {
		sawThrottling = sawThrottling || (e.Kind == detector.EventThrottling && e.Key == "hot/produce")
	}
	detMu.Unlock()
	if !sawThrottling {
		t.Fatalf("the detector raised no sustained-throttling event for hot: %+v", detected)
	}
	for u, q := range n.Pending() {
		if q != 0 {
			t.Fatalf("%d alerts still queued for %s", q, u)
		}
	}
	emu.Lock()
	defer emu.Unlock()
	if len(notifyErrs) > 0 {
		t.Fatalf("engine errors: %v", notifyErrs)
	}
	at := func(action string) time.Time {
		for _, s := range steps {
			if s.Action == action {
				return s.At
			}
		}
		return time.Time{}
	}
	t.Logf("round %s; Alertmanager A restarted with the incident %s; %d deliveries of %d alert states", rnd, stateAtRestart, deliveries, len(ns))
	t.Logf("loop timing from the surge: alert in Alertmanager %s, handled %s (observed %s), verified %s (observed %s), resolved in Alertmanager %s",
		tAlert.Sub(surge).Round(100*time.Millisecond), at("reallocate_now").Sub(surge).Round(100*time.Millisecond), tHandled.Sub(surge).Round(100*time.Millisecond),
		at("verified").Sub(surge).Round(100*time.Millisecond), tVerified.Sub(surge).Round(100*time.Millisecond), tResolved.Sub(surge).Round(100*time.Millisecond))
}
