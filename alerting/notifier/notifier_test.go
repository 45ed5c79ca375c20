package notifier

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/go-openapi/strfmt"
	amclient "github.com/prometheus/alertmanager/api/v2/client"
	"github.com/prometheus/alertmanager/api/v2/client/alert"
	"github.com/prometheus/alertmanager/api/v2/client/silence"
	"github.com/prometheus/alertmanager/api/v2/models"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/headroomhq/headroom/config"
	"github.com/headroomhq/headroom/internal/clock"
	"github.com/headroomhq/headroom/internal/retry"
	"github.com/headroomhq/headroom/internal/testpeer"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// amConfig routes everything to a receiver with no integrations: the tests
// only look at what Alertmanager holds.
const amConfig = `route:
  receiver: "null"
  group_wait: 1s
receivers:
  - name: "null"
`

func amAPI(t *testing.T, p *testpeer.Peer) *amclient.AlertmanagerAPI {
	t.Helper()
	return amclient.NewHTTPClientWithConfig(strfmt.Default,
		amclient.DefaultTransportConfig().WithHost(p.Addr).WithSchemes([]string{"http"}))
}

// activeAlerts returns the alertnames Alertmanager holds as not resolved.
func activeAlerts(t *testing.T, api *amclient.AlertmanagerAPI) []string {
	t.Helper()
	resp, err := api.Alert.GetAlerts(alert.NewGetAlertsParams().WithTimeout(5 * time.Second))
	if err != nil {
		t.Fatalf("get alerts: %v", err)
	}
	var names []string
	for _, a := range resp.Payload {
		names = append(names, a.Labels["alertname"]+"/"+a.Labels["project"])
	}
	slices.Sort(names)
	return names
}

// peerWait bounds a wait on what a real Alertmanager holds.
const peerWait = 30 * time.Second

func runNotifier(t *testing.T, opts Options) *Notifier {
	t.Helper()
	n, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); n.Run(ctx) }()
	t.Cleanup(func() { cancel(); wg.Wait() })
	return n
}

func throttled(project string) Alert {
	return Alert{
		Labels:       map[string]string{"alertname": "ProjectThrottled", "project": project, "severity": "warning"},
		Annotations:  map[string]string{"summary": project + " is throttled"},
		GeneratorURL: "http://headroom.example:9644/explain?project=" + project,
	}
}

func TestFireRefreshResolveOnHAPair(t *testing.T) {
	a, b := testpeer.Alertmanager(t, amConfig), testpeer.Alertmanager(t, amConfig)
	reg := prometheus.NewRegistry()
	n := runNotifier(t, Options{Alertmanagers: config.URLs(a.URL, b.URL), Registerer: reg})
	k := NewKeeper(n, time.Minute)

	// The rounds are in the past so that the resolution's EndsAt is too.
	now := time.Now().Add(-time.Minute)
	k.Update(now, []Alert{throttled("checkout"), throttled("search")})
	for _, p := range []*testpeer.Peer{a, b} {
		api := amAPI(t, p)
		// Real alerts posted to a real Alertmanager.
		testpeer.Eventually(t, "both alerts on "+p.URL, peerWait, func() bool {
			return slices.Equal(activeAlerts(t, api), []string{"ProjectThrottled/checkout", "ProjectThrottled/search"})
		})
	}

	// A round later search has cleared: it is resolved on both.
	k.Update(now.Add(15*time.Second), []Alert{throttled("checkout")})
	for _, p := range []*testpeer.Peer{a, b} {
		api := amAPI(t, p)
		// Real alerts posted to a real Alertmanager.
		testpeer.Eventually(t, "search resolved on "+p.URL, peerWait, func() bool {
			return slices.Equal(activeAlerts(t, api), []string{"ProjectThrottled/checkout"})
		})
	}
	// Alertmanager keeps checkout open until EndsAt, which the keeper
	// pushed 4 resend intervals ahead.
	resp, err := amAPI(t, a).Alert.GetAlerts(alert.NewGetAlertsParams())
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Payload) != 1 {
		t.Fatalf("want 1 alert, got %d", len(resp.Payload))
	}
	ends := time.Time(*resp.Payload[0].EndsAt)
	if d := ends.Sub(now); d < 3*time.Minute || d > 5*time.Minute {
		t.Fatalf("endsAt %s is %s after the first send, want about 4m", ends, d)
	}
	if got := testpeer.Gathered(t, reg, "headroom_notifications_sent_total", map[string]string{"alertmanager": a.URL}); got < 3 {
		t.Fatalf("sent counter for %s = %v, want >= 3", a.URL, got)
	}
}

func TestQueuesWhileAlertmanagerIsDown(t *testing.T) {
	addr := testpeer.FreeAddr(t)
	url := "http://" + addr
	reg := prometheus.NewRegistry()
	clk := clock.NewFake(time.Now())
	n := runNotifier(t, Options{Alertmanagers: config.URLs(url), Registerer: reg, Clock: clk})

	var sent []Alert
	for i := range 50 {
		a := throttled(fmt.Sprintf("p%02d", i))
		sent = append(sent, a)
	}
	n.Send(sent...)
	// Two refused attempts: each failure starts a backoff timer, the
	// first of which the clock fires.
	<-clk.Timers()
	clk.Advance(time.Minute)
	<-clk.Timers()
	if got := testpeer.Gathered(t, reg, "headroom_notification_errors_total", map[string]string{"alertmanager": url}); got != 2 {
		t.Fatalf("failed attempts = %v, want 2", got)
	}
	if got := n.Pending()[url]; got != 50 {
		t.Fatalf("pending while down = %d, want 50", got)
	}

	am := testpeer.AlertmanagerAt(t, amConfig, addr, t.TempDir())
	api := amAPI(t, am)
	// Real alerts posted to a real Alertmanager; the clock moves on so that
	// an attempt refused while it starts is retried.
	testpeer.Eventually(t, "all 50 alerts delivered", peerWait, func() bool {
		clk.Advance(time.Minute)
		return len(activeAlerts(t, api)) == 50
	})
	if got := n.Pending()[url]; got != 0 {
		t.Fatalf("pending after delivery = %d", got)
	}
}

func TestSilenceCreateAndExpire(t *testing.T) {
	am := testpeer.Alertmanager(t, amConfig)
	n := runNotifier(t, Options{Alertmanagers: config.URLs(am.URL)})
	now := time.Now()
	ids, err := n.CreateSilence(context.Background(), Silence{
		Matchers:  map[string]string{"alertname": "ProjectThrottled", "project": "checkout"},
		StartsAt:  now,
		EndsAt:    now.Add(time.Hour),
		CreatedBy: "headroom",
		Comment:   "Headroom caps checkout deliberately",
	})
	if err != nil || ids[am.URL] == "" {
		t.Fatalf("create silence: %v %v", ids, err)
	}
	state := func() string {
		resp, err := amAPI(t, am).Silence.GetSilence(silence.NewGetSilenceParams().WithSilenceID(strfmt.UUID(ids[am.URL])))
		if err != nil {
			t.Fatal(err)
		}
		return *resp.Payload.Status.State
	}
	if s := state(); s != models.SilenceStatusStateActive {
		t.Fatalf("silence state %q, want active", s)
	}

	// A silenced alert stays silenced in Alertmanager.
	n.Send(throttled("checkout"))
	// A real alert posted to a real Alertmanager, silenced there.
	testpeer.Eventually(t, "alert silenced", peerWait, func() bool {
		resp, err := amAPI(t, am).Alert.GetAlerts(alert.NewGetAlertsParams())
		if err != nil || len(resp.Payload) != 1 {
			return false
		}
		return *resp.Payload[0].Status.State == models.AlertStatusStateSuppressed
	})

	if err := n.ExpireSilence(context.Background(), ids); err != nil {
		t.Fatal(err)
	}
	if s := state(); s != models.SilenceStatusStateExpired {
		t.Fatalf("silence state %q after expiry, want expired", s)
	}
	// Expiring twice is not an error: the cap may be lifted twice.
	if err := n.ExpireSilence(context.Background(), ids); err != nil {
		t.Fatalf("second expiry: %v", err)
	}
}

func TestCreateSilenceRejectsBadInput(t *testing.T) {
	n, err := New(Options{Alertmanagers: config.URLs("http://127.0.0.1:1")})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tests := []struct {
		name string
		s    Silence
	}{
		{"no matchers", Silence{StartsAt: now, EndsAt: now.Add(time.Hour)}},
		{"ends before start", Silence{Matchers: map[string]string{"a": "b"}, StartsAt: now, EndsAt: now.Add(-time.Hour)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := n.CreateSilence(context.Background(), tt.s); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func TestNewRejectsBadURLs(t *testing.T) {
	for _, u := range []string{"am:9093", "ftp://am:9093", "http://", "::"} {
		if _, err := New(Options{Alertmanagers: config.URLs(u)}); err == nil {
			t.Errorf("New accepted %q", u)
		}
	}
}

// TestBackoffGrowsWithJitter points at a port nobody listens on (a real
// refused connection) and reads the waits the loop starts on its clock:
// each lies within internal/retry's jitter of a step that doubles from
// MinBackoff up to MaxBackoff, and the alert stays queued throughout.
func TestBackoffGrowsWithJitter(t *testing.T) {
	clk := clock.NewFake(time.Unix(1_000_000, 0))
	url := "http://" + testpeer.FreeAddr(t)
	n := runNotifier(t, Options{Alertmanagers: config.URLs(url), MinBackoff: 100 * time.Millisecond, MaxBackoff: time.Second, Clock: clk})
	n.Send(throttled("a"))
	steps := []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond, time.Second, time.Second}
	for i, step := range steps {
		d := <-clk.Timers()
		lo, hi := retry.Range(step)
		if d < lo || d > hi {
			t.Fatalf("wait %d = %v, want within [%v, %v]", i, d, lo, hi)
		}
		if got := n.Pending()[url]; got != 1 {
			t.Fatalf("the alert left the queue without delivery: %v", n.Pending())
		}
		clk.Advance(d)
	}
}
