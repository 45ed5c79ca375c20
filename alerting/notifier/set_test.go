package notifier

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/headroomhq/headroom/config"
)

// fakeAM answers Alertmanager's POST /api/v2/alerts: 500 while down, else
// 200, recording the alertnames it accepted. Every attempt is signalled.
type fakeAM struct {
	*httptest.Server
	mu       sync.Mutex
	down     bool
	got      []string
	attempts chan struct{}
}

func newFakeAM(t *testing.T, down bool) *fakeAM {
	am := &fakeAM{down: down, attempts: make(chan struct{}, 100)}
	am.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() { am.attempts <- struct{}{} }()
		if r.Method != http.MethodPost || r.URL.Path != "/api/v2/alerts" {
			http.NotFound(w, r)
			return
		}
		am.mu.Lock()
		defer am.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if am.down {
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = w.Write([]byte(`"down"`))
			return
		}
		var alerts []struct {
			Labels map[string]string `json:"labels"`
		}
		if err := json.NewDecoder(r.Body).Decode(&alerts); err != nil {
			t.Errorf("bad alerts: %v", err)
		}
		for _, a := range alerts {
			am.got = append(am.got, a.Labels["alertname"])
		}
	}))
	t.Cleanup(am.Close)
	return am
}

func (am *fakeAM) setDown(down bool) {
	am.mu.Lock()
	defer am.mu.Unlock()
	am.down = down
}

func (am *fakeAM) received() []string {
	am.mu.Lock()
	defer am.mu.Unlock()
	return slices.Clone(am.got)
}

func (am *fakeAM) waitAttempt(t *testing.T) {
	t.Helper()
	select {
	case <-am.attempts:
	case <-time.After(10 * time.Second):
		t.Fatalf("no post to %s", am.URL)
	}
}

func (am *fakeAM) waitReceived(t *testing.T, want []string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !slices.Equal(am.received(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("%s received %v, want %v", am.URL, am.received(), want)
		}
		am.waitAttempt(t)
	}
}

func named(name string) Alert {
	return Alert{Labels: map[string]string{"alertname": name}, StartsAt: time.Unix(1000, 0)}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestSetAlertmanagersWhileRunning replaces one member of a pair: the
// member kept keeps its queue and delivers it in order, the new member
// gets only what is sent after the change, and the removed member's loop
// has stopped when SetAlertmanagers returns, its queue logged as dropped.
func TestSetAlertmanagersWhileRunning(t *testing.T) {
	keep, gone, added := newFakeAM(t, true), newFakeAM(t, true), newFakeAM(t, false)
	resume := make(chan struct{})
	parked := make(chan struct{}, 10)
	var stopped atomic.Int32
	logs := &syncBuffer{}
	n := runNotifier(t, Options{Alertmanagers: config.URLs(keep.URL, gone.URL),
		Logger: slog.New(slog.NewTextHandler(logs, nil)),
		// A failed post waits for resume, or until its loop stops.
		Sleep: func(ctx context.Context, _ time.Duration) error {
			parked <- struct{}{}
			select {
			case <-ctx.Done():
				stopped.Add(1)
				return ctx.Err()
			case <-resume:
				return nil
			}
		}})

	n.Send(named("First"))
	keep.waitAttempt(t)
	gone.waitAttempt(t)
	for range 2 { // both failed and wait to retry
		<-parked
	}
	if err := n.SetAlertmanagers(config.URLs(keep.URL, added.URL)); err != nil {
		t.Fatal(err)
	}
	if got := stopped.Load(); got != 1 {
		t.Fatalf("%d loops stopped, want the removed Alertmanager's", got)
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
	added.waitReceived(t, []string{"Second"})
	keep.setDown(false)
	close(resume)
	keep.waitReceived(t, []string{"First", "Second"})
	if got := gone.received(); len(got) != 0 {
		t.Errorf("removed Alertmanager received %v", got)
	}
	if got := testutil.CollectAndCount(n.metrics.queued); got != 2 {
		t.Errorf("%d queue length series, want the two current Alertmanagers'", got)
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
	am := newFakeAM(t, false)
	if err := n.SetAlertmanagers(config.URLs(am.URL)); err != nil {
		t.Fatal(err)
	}
	n.Send(named("Later"))
	am.waitReceived(t, []string{"Later"})
	if err := n.SetAlertmanagers(nil); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
		t.Fatal("Run returned with its context live")
	default:
	}
}
