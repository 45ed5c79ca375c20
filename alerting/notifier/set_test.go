package notifier

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	promconfig "github.com/prometheus/common/config"

	"github.com/headroomhq/headroom/config"
	"github.com/headroomhq/headroom/internal/clock"
	"github.com/headroomhq/headroom/internal/testpeer"
)

// alertNames decodes a POST /api/v2/alerts body into its alertnames.
func alertNames(t *testing.T) func(body []byte) []string {
	return func(body []byte) []string {
		var alerts []struct {
			Labels map[string]string `json:"labels"`
		}
		if err := json.Unmarshal(body, &alerts); err != nil {
			t.Errorf("bad alerts %q: %v", body, err)
		}
		var out []string
		for _, a := range alerts {
			out = append(out, a.Labels["alertname"])
		}
		return out
	}
}

func named(name string) Alert {
	return Alert{Labels: map[string]string{"alertname": name}, StartsAt: time.Unix(1000, 0)}
}

// TestSetAlertmanagersWhileRunning replaces one member of a pair: the
// member kept keeps its queue and delivers it in order, the new member
// gets only what is sent after the change, and the removed member's loop
// has stopped when SetAlertmanagers returns, its queue logged as dropped.
// The members are testpeer receivers: a real Alertmanager cannot be made
// to refuse and then accept on demand.
func TestSetAlertmanagersWhileRunning(t *testing.T) {
	keep, gone, added := testpeer.NewReceiver(t, true), testpeer.NewReceiver(t, true), testpeer.NewReceiver(t, false)
	clk := clock.NewFake(time.Unix(1_000_000, 0))
	logs := &testpeer.LogBuffer{}
	reg := prometheus.NewRegistry()
	n := runNotifier(t, Options{Alertmanagers: config.URLs(keep.URL, gone.URL), Clock: clk, Registerer: reg,
		Logger: slog.New(slog.NewTextHandler(logs, nil))})

	n.Send(named("First"))
	for _, r := range []*testpeer.Receiver{keep, gone} {
		if rq := r.NextAttempt(t); rq.Method != "POST" || rq.Path != "/api/v2/alerts" {
			t.Fatalf("%s %s, want POST /api/v2/alerts", rq.Method, rq.Path)
		}
	}
	for range 2 { // both failed and wait to retry
		<-clk.Timers()
	}
	if err := n.SetAlertmanagers(config.URLs(keep.URL, added.URL)); err != nil {
		t.Fatal(err)
	}
	if got := clk.Waiting(); got != 1 {
		t.Fatalf("%d loops waiting to retry, want the kept one's: the removed loop has not stopped", got)
	}
	if got, want := n.Pending(), map[string]int{keep.URL: 1, added.URL: 0}; !maps.Equal(got, want) {
		t.Fatalf("pending %v, want %v", got, want)
	}
	if !strings.Contains(logs.String(), fmt.Sprintf("alertmanager=%s dropped=1", gone.URL)) {
		t.Errorf("the removed Alertmanager's dropped alert is not logged:\n%s", logs)
	}
	if got := n.Alertmanagers(); !slices.Equal(got, []string{keep.URL, added.URL}) {
		t.Errorf("alertmanagers %v", got)
	}

	n.Send(named("Second"))
	testpeer.WaitReceived(t, added, alertNames(t), []string{"Second"})
	keep.SetDown(false)
	clk.Advance(time.Minute)
	testpeer.WaitReceived(t, keep, alertNames(t), []string{"First", "Second"})
	if got := gone.Received(); len(got) != 0 {
		t.Errorf("removed Alertmanager received %v", got)
	}
	if got := testpeer.Gathered(t, reg, "headroom_notifications_dropped_total", map[string]string{"alertmanager": gone.URL}); got != 1 {
		t.Errorf("dropped for the removed Alertmanager %v, want 1", got)
	}
	series := 0
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "headroom_notification_queue_length" {
			series = len(mf.GetMetric())
		}
	}
	if series != 2 {
		t.Errorf("%d queue length series, want the two current Alertmanagers'", series)
	}
}

// TestSetAlertmanagers changes the set without running the loops.
func TestSetAlertmanagers(t *testing.T) {
	const a, b, c = "http://am-a:9093", "http://am-b:9093", "http://am-c:9093"
	n, err := New(Options{Alertmanagers: config.URLs(a)})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		urls    []string
		wantErr bool
		sends   int // distinct alerts sent after the change
		want    map[string]int
	}{
		{"start", []string{a}, false, 1, map[string]int{a: 1}},
		{"add", []string{a, b}, false, 1, map[string]int{a: 2, b: 1}},
		{"invalid: nothing changes", []string{a, "ftp://x"}, true, 0, map[string]int{a: 2, b: 1}},
		{"replace", []string{c, b}, false, 0, map[string]int{b: 1, c: 0}},
		{"twice", []string{c, c}, false, 1, map[string]int{c: 1}},
		{"none", nil, false, 1, map[string]int{}},
		{"again", []string{a}, false, 1, map[string]int{a: 1}},
	}
	i := 0
	for _, tt := range tests {
		if err := n.SetAlertmanagers(config.URLs(tt.urls...)); (err != nil) != tt.wantErr {
			t.Fatalf("%s: error %v, want error %v", tt.name, err, tt.wantErr)
		}
		for range tt.sends {
			i++
			n.Send(named(fmt.Sprint("A", i)))
		}
		if got := n.Pending(); !maps.Equal(got, tt.want) {
			t.Errorf("%s: pending %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestRunWithoutAlertmanagers starts with none: Run keeps running, and an
// Alertmanager added later gets the alerts.
func TestRunWithoutAlertmanagers(t *testing.T) {
	n, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { n.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	n.Send(named("Nobody"))
	am := testpeer.NewReceiver(t, false)
	if err := n.SetAlertmanagers(config.URLs(am.URL)); err != nil {
		t.Fatal(err)
	}
	n.Send(named("Later"))
	testpeer.WaitReceived(t, am, alertNames(t), []string{"Later"})
	if err := n.SetAlertmanagers(nil); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
		t.Fatal("Run returned with its context live")
	default:
	}
}

// An Alertmanager kept with a changed http_config keeps what is queued for
// it and sends it with the new client: here, with the new credentials.
func TestSetAlertmanagersNewHTTPConfigKeepsQueue(t *testing.T) {
	am := testpeer.NewReceiver(t, false)
	n, err := New(Options{Alertmanagers: config.URLs(am.URL)})
	if err != nil {
		t.Fatal(err)
	}
	n.Send(named("Queued"))
	hc := promconfig.DefaultHTTPClientConfig
	hc.Authorization = &promconfig.Authorization{Type: "Bearer", Credentials: "new-am-token"}
	if err := n.SetAlertmanagers([]config.HTTPTarget{{URL: am.URL, HTTPConfig: hc}}); err != nil {
		t.Fatal(err)
	}
	if got := n.Pending()[am.URL]; got != 1 {
		t.Fatalf("pending %d after the change, want the queued alert", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { n.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	rq := am.NextAttempt(t)
	if got := alertNames(t)(rq.Body); !slices.Equal(got, []string{"Queued"}) || rq.Header.Get("Authorization") != "Bearer new-am-token" {
		t.Fatalf("got %v with Authorization %q", got, rq.Header.Get("Authorization"))
	}
}
