package alerting

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-openapi/strfmt"
	amclient "github.com/prometheus/alertmanager/api/v2/client"
	"github.com/prometheus/alertmanager/api/v2/client/alert"
	"github.com/prometheus/alertmanager/api/v2/client/silence"
	"go.uber.org/goleak"

	"github.com/headroomhq/headroom/alerting/notifier"
	"github.com/headroomhq/headroom/alerting/webhook"
	"github.com/headroomhq/headroom/config"
	"github.com/headroomhq/headroom/internal/clock"
	"github.com/headroomhq/headroom/internal/testpeer"
	"github.com/headroomhq/headroom/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeLimiter stands in for the limiter's override interface, which the
// wiring of `headroom serve` connects to the real limiter; here it records
// what the playbooks asked for and can be told to fail, a fault the real
// limiter only shows when Kafka refuses writes.
type fakeLimiter struct {
	mu     sync.Mutex
	calls  []string
	lifted []OverrideRef
	fail   error
}

func (f *fakeLimiter) ForceRound(_ context.Context, group string, burst bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "force_round "+group)
	return f.fail
}

func (f *fakeLimiter) RaiseMargin(_ context.Context, group string, margin float64, until time.Time) (OverrideRef, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "raise_margin "+group)
	return OverrideRef{Kind: "margin", Group: group, Value: margin, Until: until, ID: "m1"}, f.fail
}

func (f *fakeLimiter) CapProject(_ context.Context, project string, ceiling float64, until time.Time) (OverrideRef, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "cap "+project)
	return OverrideRef{Kind: "cap", Project: project, Value: ceiling, Until: until, ID: "c1"}, f.fail
}

func (f *fakeLimiter) Lift(_ context.Context, ref OverrideRef) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lifted = append(f.lifted, ref)
	return nil
}

// conditions is set by the test: which alert conditions still hold.
type conditions struct{ active map[string]bool }

func (c *conditions) Active(_ context.Context, name string, _ map[string]string) (bool, error) {
	return c.active[name], nil
}

type fixture struct {
	db    *store.DB
	path  string
	lim   *fakeLimiter
	cond  *conditions
	clock *clock.Fake
	eng   *Engine
	steps []store.IncidentStep
}

func newFixture(t *testing.T, cfg config.AlertingConfig, opts Options) *fixture {
	t.Helper()
	f := &fixture{path: filepath.Join(t.TempDir(), "headroom.db"), lim: &fakeLimiter{}, cond: &conditions{active: map[string]bool{}},
		clock: clock.NewFake(time.Date(2026, 11, 23, 3, 0, 0, 0, time.UTC))}
	f.open(t, cfg, opts)
	return f
}

func (f *fixture) open(t *testing.T, cfg config.AlertingConfig, opts Options) {
	t.Helper()
	db, err := store.Open(context.Background(), f.path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	f.db = db
	opts.Store, opts.Config, opts.Overrides, opts.Conditions, opts.Now = db, cfg, f.lim, f.cond, f.clock.Now
	opts.OnStep = func(_ store.Incident, s store.IncidentStep) { f.steps = append(f.steps, s) }
	f.eng, err = NewEngine(opts)
	if err != nil {
		t.Fatal(err)
	}
}

func playbooks(pbs ...config.PlaybookConfig) config.AlertingConfig {
	c := config.DefaultAlertingConfig()
	c.Playbooks = pbs
	for i := range c.Playbooks {
		p := &c.Playbooks[i]
		if p.Cooldown == 0 {
			p.Cooldown = config.DefaultPlaybookCooldown
		}
		if p.MaxTargets == 0 {
			p.MaxTargets = 1
		}
		if p.VerifyWindow == 0 {
			p.VerifyWindow = config.DefaultPlaybookVerifyWindow
		}
		if p.Duration == 0 {
			p.Duration = config.DefaultPlaybookDuration
		}
	}
	return c
}

func firing(name, fp string, labels map[string]string) webhook.Notification {
	l := map[string]string{"alertname": name, "severity": "warning"}
	for k, v := range labels {
		l[k] = v
	}
	return webhook.Notification{Fingerprint: fp, Status: "firing", AlertName: name, Labels: l, StartsAt: time.Date(2026, 11, 23, 2, 55, 0, 0, time.UTC)}
}

func (f *fixture) only(t *testing.T) store.Incident {
	t.Helper()
	ins, err := f.db.Incidents(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(ins) != 1 {
		t.Fatalf("want one incident, got %d", len(ins))
	}
	return ins[0]
}

func (f *fixture) actions(t *testing.T, id int64) []string {
	t.Helper()
	steps, err := f.db.IncidentSteps(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, s := range steps {
		out = append(out, s.Action+":"+s.To+":"+s.Actor)
	}
	return out
}

func TestAutoPlaybookActsAndVerifies(t *testing.T) {
	f := newFixture(t, playbooks(config.PlaybookConfig{Alert: "ProjectThrottled", Action: config.ActionReallocateNow, Mode: config.ModeAuto, VerifyWindow: config.DefaultPlaybookVerifyWindow}), Options{})
	ctx := context.Background()
	n := firing("ProjectThrottled", "fp1", map[string]string{"group": "events", "project": "checkout"})
	if err := f.eng.Notify(ctx, []webhook.Notification{n}); err != nil {
		t.Fatal(err)
	}
	// Alertmanager repeats the notification: still one incident, one action.
	if err := f.eng.Notify(ctx, []webhook.Notification{n}); err != nil {
		t.Fatal(err)
	}
	in := f.only(t)
	if in.State != StateHandling || !slices.Equal(f.lim.calls, []string{"force_round events"}) {
		t.Fatalf("state %s, limiter calls %v", in.State, f.lim.calls)
	}
	f.clock.Advance(time.Duration(config.DefaultPlaybookVerifyWindow) / 2) // inside the verify window: nothing yet
	if err := f.eng.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	if f.only(t).State != StateHandling {
		t.Fatal("verified before the window passed")
	}
	f.clock.Advance(90 * time.Second)
	if err := f.eng.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	in = f.only(t)
	want := []string{"opened:firing:alertmanager", "reallocate_now:handling:headroom", "verified:resolved:headroom"}
	if got := f.actions(t, in.ID); in.State != StateResolved || !slices.Equal(got, want) {
		t.Fatalf("state %s steps %v, want %v", in.State, got, want)
	}
	if len(f.steps) != 2 { // OnStep sees the steps after opening
		t.Fatalf("OnStep saw %d steps", len(f.steps))
	}
}

func TestApprovalFlow(t *testing.T) {
	cfg := playbooks(config.PlaybookConfig{Alert: "GroupSaturated", Action: config.ActionRaiseMargin, Mode: config.ModeApprove, Margin: 0.95})
	f := newFixture(t, cfg, Options{})
	ctx := context.Background()
	if err := f.eng.Notify(ctx, []webhook.Notification{firing("GroupSaturated", "g1", map[string]string{"group": "events"})}); err != nil {
		t.Fatal(err)
	}
	in := f.only(t)
	if in.State != StateFiring || len(f.lim.calls) != 0 {
		t.Fatalf("acted before approval: %s %v", in.State, f.lim.calls)
	}
	if err := f.eng.Reject(ctx, in.ID+100, "bob", "x"); err == nil {
		t.Fatal("rejected a missing incident")
	}
	if err := f.eng.Approve(ctx, in.ID, "alice"); err != nil {
		t.Fatal(err)
	}
	if err := f.eng.Approve(ctx, in.ID, "alice"); !errors.Is(err, ErrNotPending) {
		t.Fatalf("second approval: %v", err)
	}
	in = f.only(t)
	want := []string{"opened:firing:alertmanager", "approval_requested:firing:headroom", "raise_margin:handling:alice"}
	if got := f.actions(t, in.ID); !slices.Equal(got, want) || !slices.Equal(f.lim.calls, []string{"raise_margin events"}) {
		t.Fatalf("steps %v calls %v", got, f.lim.calls)
	}
}

func TestNoActionCases(t *testing.T) {
	base := config.PlaybookConfig{Alert: "ProjectThrottled", Action: config.ActionCapProject, Mode: config.ModeAuto, Cap: 1 << 20}
	tests := []struct {
		name   string
		mutate func(*config.AlertingConfig)
		labels map[string]string
		action string
	}{
		{"no playbook", func(c *config.AlertingConfig) { c.Playbooks = nil }, map[string]string{"project": "a"}, "no_playbook"},
		{"off", func(c *config.AlertingConfig) { c.Playbooks[0].Mode = config.ModeOff }, map[string]string{"project": "a"}, "playbook_off"},
		{"notify only", func(c *config.AlertingConfig) { c.Playbooks[0].Action = config.ActionNotifyOnly }, map[string]string{"project": "a"}, "notify_only"},
		{"kill switch", func(c *config.AlertingConfig) { c.KillSwitch = true }, map[string]string{"project": "a"}, "kill_switch"},
		{"blast radius", func(c *config.AlertingConfig) {}, map[string]string{"project": "a,b,c"}, "blast_radius"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := playbooks(base)
			tt.mutate(&cfg)
			f := newFixture(t, cfg, Options{})
			if err := f.eng.Notify(context.Background(), []webhook.Notification{firing("ProjectThrottled", "f", tt.labels)}); err != nil {
				t.Fatal(err)
			}
			in := f.only(t)
			got := f.actions(t, in.ID)
			if in.State != StateFiring || len(f.lim.calls) != 0 || got[len(got)-1] != tt.action+":firing:headroom" {
				t.Fatalf("state %s calls %v steps %v", in.State, f.lim.calls, got)
			}
		})
	}
}

func TestCooldownPerGroup(t *testing.T) {
	f := newFixture(t, playbooks(config.PlaybookConfig{Alert: "ProjectThrottled", Action: config.ActionReallocateNow, Mode: config.ModeAuto, Cooldown: config.DefaultPlaybookCooldown}), Options{})
	ctx := context.Background()
	_ = f.eng.Notify(ctx, []webhook.Notification{firing("ProjectThrottled", "a", map[string]string{"group": "events", "project": "a"})})
	_ = f.eng.Notify(ctx, []webhook.Notification{firing("ProjectThrottled", "b", map[string]string{"group": "events", "project": "b"})})
	_ = f.eng.Notify(ctx, []webhook.Notification{firing("ProjectThrottled", "c", map[string]string{"group": "batch", "project": "c"})})
	f.clock.Advance(11 * time.Minute)
	_ = f.eng.Notify(ctx, []webhook.Notification{firing("ProjectThrottled", "d", map[string]string{"group": "events", "project": "d"})})
	want := []string{"force_round events", "force_round batch", "force_round events"}
	if !slices.Equal(f.lim.calls, want) {
		t.Fatalf("calls %v, want %v", f.lim.calls, want)
	}
}

func TestFailedActionIsRecorded(t *testing.T) {
	f := newFixture(t, playbooks(config.PlaybookConfig{Alert: "ProjectThrottled", Action: config.ActionReallocateNow, Mode: config.ModeAuto}), Options{})
	f.lim.fail = errors.New("kafka refused the write")
	err := f.eng.Notify(context.Background(), []webhook.Notification{firing("ProjectThrottled", "a", map[string]string{"group": "events"})})
	if err == nil || !strings.Contains(err.Error(), "kafka refused") {
		t.Fatalf("want the action's error, got %v", err)
	}
	in := f.only(t)
	got := f.actions(t, in.ID)
	if in.State != StateFiring || got[len(got)-1] != "reallocate_now_failed:firing:headroom" {
		t.Fatalf("state %s steps %v", in.State, got)
	}
}

func TestResolvedByAlertmanagerAndRestart(t *testing.T) {
	cfg := playbooks(config.PlaybookConfig{Alert: "ProjectThrottled", Action: config.ActionReallocateNow, Mode: config.ModeAuto})
	f := newFixture(t, cfg, Options{})
	ctx := context.Background()
	_ = f.eng.Notify(ctx, []webhook.Notification{firing("GroupSaturated", "g", map[string]string{"group": "events"})})
	_ = f.eng.Notify(ctx, []webhook.Notification{firing("ProjectThrottled", "p", map[string]string{"group": "events"})})

	// Restart: a new engine over the same file carries on.
	f.open(t, cfg, Options{})
	res := firing("GroupSaturated", "g", nil)
	res.Status = "resolved"
	if err := f.eng.Notify(ctx, []webhook.Notification{res}); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(3 * time.Minute)
	if err := f.eng.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	ins, err := f.db.Incidents(ctx, "", StateResolved)
	if err != nil || len(ins) != 2 {
		t.Fatalf("resolved incidents %d, %v; want both", len(ins), err)
	}
}

// TestVerificationFailureRollsBackAndEscalates uses a real Alertmanager:
// the cap posts a silence, the failed verification expires it and re-posts
// the alert one severity higher.
func TestVerificationFailureRollsBackAndEscalates(t *testing.T) {
	am := testpeer.Alertmanager(t, "route: {receiver: \"null\"}\nreceivers: [{name: \"null\"}]\n")
	n, err := notifier.New(notifier.Options{Alertmanagers: config.URLs(am.URL)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { n.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	cfg := playbooks(config.PlaybookConfig{Alert: "BrokerOverloaded", Action: config.ActionCapProject, Mode: config.ModeAuto, Cap: 2 << 20})
	f := newFixture(t, cfg, Options{Silencer: n, Sender: n})
	f.clock.Advance(time.Now().Sub(f.clock.Now())) // the wall clock: a real Alertmanager judges the silence
	f.cond.active["BrokerOverloaded"] = true
	if err := f.eng.Notify(ctx, []webhook.Notification{firing("BrokerOverloaded", "b", map[string]string{"group": "events", "project": "noisy", "broker": "1"})}); err != nil {
		t.Fatal(err)
	}
	api := amclient.NewHTTPClientWithConfig(strfmt.Default, amclient.DefaultTransportConfig().WithHost(am.Addr))
	sils, err := api.Silence.GetSilences(silence.NewGetSilencesParams())
	if err != nil || len(sils.Payload) != 1 || *sils.Payload[0].Status.State != "active" {
		t.Fatalf("want one active silence for the capped project, got %v %v", sils, err)
	}
	f.clock.Advance(3 * time.Minute)
	if err := f.eng.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	in := f.only(t)
	if in.State != StateEscalated || len(f.lim.lifted) != 1 || f.lim.lifted[0].Project != "noisy" {
		t.Fatalf("state %s lifted %v", in.State, f.lim.lifted)
	}
	sils, err = api.Silence.GetSilences(silence.NewGetSilencesParams())
	if err != nil || *sils.Payload[0].Status.State != "expired" {
		t.Fatalf("silence not expired after rollback: %v", err)
	}
	// The escalated alert is posted to a real Alertmanager.
	testpeer.Eventually(t, "the escalated alert in Alertmanager", 20*time.Second, func() bool {
		resp, err := api.Alert.GetAlerts(alert.NewGetAlertsParams())
		return err == nil && len(resp.Payload) == 1 && resp.Payload[0].Labels["severity"] == "critical"
	})
}

func TestTransitionsAreChecked(t *testing.T) {
	f := newFixture(t, playbooks(), Options{})
	ctx := context.Background()
	_ = f.eng.Notify(ctx, []webhook.Notification{firing("X", "x", nil)})
	in := f.only(t)
	res := firing("X", "x", nil)
	res.Status = "resolved"
	_ = f.eng.Notify(ctx, []webhook.Notification{res})
	if err := f.eng.Acknowledge(ctx, in.ID, "alice"); !errors.Is(err, ErrBadState) {
		t.Fatalf("acknowledging a resolved incident: %v", err)
	}
}
