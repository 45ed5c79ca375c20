package alerting

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/headroomhq/headroom/config"
	"github.com/headroomhq/headroom/internal/clock"
	"github.com/headroomhq/headroom/internal/retry"
	"github.com/headroomhq/headroom/internal/testpeer"
	"github.com/headroomhq/headroom/store"
)

func newCallbacks(t *testing.T, opts CallbackOptions) *Callbacks {
	t.Helper()
	cb, err := NewCallbacks(opts)
	if err != nil {
		t.Fatal(err)
	}
	return cb
}

// runCallbacks runs cb until the test ends.
func runCallbacks(t *testing.T, cb *Callbacks) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { cb.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

// actions decodes a callback body into its step's action.
func actions(t *testing.T) func([]byte) []string {
	return func(b []byte) []string {
		var ev CallbackEvent
		if err := json.Unmarshal(b, &ev); err != nil {
			t.Errorf("bad callback %q: %v", b, err)
		}
		return []string{ev.Step.Action + ":" + ev.State}
	}
}

// TestCallbacksDeliverInOrderThroughFailures refuses the first two
// attempts: every step arrives once, in order, and the retries wait by
// internal/retry's steps (1s, then 2s) within its jitter, on the clock.
// The receiver is testpeer's: it refuses and accepts on demand.
func TestCallbacksDeliverInOrderThroughFailures(t *testing.T) {
	rc := testpeer.NewReceiver(t, true)
	clk := clock.NewFake(time.Unix(1_000_000, 0))
	reg := prometheus.NewRegistry()
	cb := newCallbacks(t, CallbackOptions{URLs: config.CallbackURLs(rc.URL), MinBackoff: time.Second, Clock: clk, Registerer: reg})
	in := store.Incident{ID: 7, AlertName: "ProjectThrottled", Fingerprint: "fp", Labels: map[string]string{"project": "checkout"}}
	for _, s := range []struct{ action, state string }{{"opened", StateFiring}, {"reallocate_now", StateHandling}, {"verified", StateResolved}} {
		in.State = s.state
		cb.Step(in, store.IncidentStep{At: time.Now(), To: s.state, Actor: "headroom", Action: s.action})
	}
	runCallbacks(t, cb)
	for i, step := range []time.Duration{time.Second, 2 * time.Second} {
		if rq := rc.NextAttempt(t); rq.Accepted || rq.Method != "POST" || rq.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("attempt %d: %+v", i, rq)
		}
		d := <-clk.Timers()
		lo, hi := retry.Range(step)
		if d < lo || d > hi {
			t.Fatalf("backoff %d = %v, want within [%v, %v]", i, d, lo, hi)
		}
		if i == 1 {
			rc.SetDown(false)
		}
		clk.Advance(d)
	}
	testpeer.WaitReceived(t, rc, actions(t), []string{"opened:firing", "reallocate_now:handling", "verified:resolved"})
	for name, want := range map[string]float64{"headroom_callback_errors_total": 2, "headroom_callback_retries_total": 2, "headroom_callback_sent_total": 3} {
		// The sent counter follows the receiver's answer: wait for the
		// last one to be counted.
		testpeer.Eventually(t, name, testpeer.AttemptTimeout, func() bool {
			return testpeer.Gathered(t, reg, name, map[string]string{"url": rc.URL}) == want
		})
	}
}

// A full queue drops its oldest step, and counts and names it.
func TestCallbackQueueIsBounded(t *testing.T) {
	reg := prometheus.NewRegistry()
	logs := &testpeer.LogBuffer{}
	cb := newCallbacks(t, CallbackOptions{URLs: config.CallbackURLs("http://127.0.0.1:1/"), QueueCapacity: 2, Registerer: reg,
		Logger: slog.New(slog.NewTextHandler(logs, nil))})
	for i := range 5 {
		cb.Step(store.Incident{ID: int64(i)}, store.IncidentStep{Action: "opened", To: "firing"})
	}
	if n := cb.Pending()["http://127.0.0.1:1/"]; n != 2 {
		t.Fatalf("queued %d, want the bound 2", n)
	}
	if got := testpeer.Gathered(t, reg, "headroom_callback_dropped_total", map[string]string{"url": "http://127.0.0.1:1/"}); got != 3 {
		t.Fatalf("dropped %v, want 3", got)
	}
	for i := range 3 {
		if !strings.Contains(logs.String(), fmt.Sprintf("incident %d opened (to firing)", i)) {
			t.Errorf("dropped step %d not named in the log:\n%s", i, logs)
		}
	}
}

// TestCallbacksSetURLsQueues changes the URLs without running the loops: a
// URL kept keeps its queue, a new one starts empty, a removed one is gone,
// and a URL listed twice counts once.
func TestCallbacksSetURLsQueues(t *testing.T) {
	const a, b, c = "http://a.example/", "http://b.example/", "http://c.example/"
	cb := newCallbacks(t, CallbackOptions{URLs: config.CallbackURLs(a, a)})
	tests := []struct {
		name  string
		urls  []string
		steps int // queued after the change
		want  map[string]int
	}{
		{"start", []string{a}, 1, map[string]int{a: 1}},
		{"add", []string{a, b}, 1, map[string]int{a: 2, b: 1}},
		{"remove and add", []string{b, c}, 0, map[string]int{b: 1, c: 0}},
		{"twice", []string{c, c}, 2, map[string]int{c: 2}},
		{"none", nil, 1, map[string]int{}},
		{"again", []string{a}, 1, map[string]int{a: 1}},
	}
	for _, tt := range tests {
		cb.SetURLs(config.CallbackURLs(tt.urls...))
		for range tt.steps {
			cb.Step(store.Incident{ID: 1}, store.IncidentStep{})
		}
		if got := cb.Pending(); !maps.Equal(got, tt.want) {
			t.Errorf("%s: pending %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestCallbacksSetURLsWhileRunning changes the URLs under Run: the kept
// URL delivers its old and new steps in order, the new URL gets only the
// steps after the change, and the removed URL's loop has stopped when
// SetURLs returns, its undelivered step logged as dropped.
func TestCallbacksSetURLsWhileRunning(t *testing.T) {
	keep, gone, added := testpeer.NewReceiver(t, true), testpeer.NewReceiver(t, true), testpeer.NewReceiver(t, false)
	clk := clock.NewFake(time.Unix(1_000_000, 0))
	logs := &testpeer.LogBuffer{}
	cb := newCallbacks(t, CallbackOptions{URLs: config.CallbackURLs(keep.URL, gone.URL), Clock: clk,
		Logger: slog.New(slog.NewTextHandler(logs, nil))})
	runCallbacks(t, cb)

	cb.Step(store.Incident{ID: 1}, store.IncidentStep{Action: "opened"})
	keep.NextAttempt(t)
	gone.NextAttempt(t)
	for range 2 { // both failed and wait to retry
		<-clk.Timers()
	}

	cb.SetURLs(config.CallbackURLs(keep.URL, added.URL))
	if n := clk.Waiting(); n != 1 {
		t.Fatalf("%d loops waiting to retry, want the kept URL's: the removed loop has not stopped", n)
	}
	if got, want := cb.Pending(), map[string]int{keep.URL: 1, added.URL: 0}; !maps.Equal(got, want) {
		t.Fatalf("pending %v, want %v", got, want)
	}
	if !strings.Contains(logs.String(), fmt.Sprintf("url=%s dropped=1", gone.URL)) {
		t.Errorf("the removed URL's dropped step is not logged:\n%s", logs)
	}

	cb.Step(store.Incident{ID: 1}, store.IncidentStep{Action: "verified"})
	testpeer.WaitReceived(t, added, actions(t), []string{"verified:"})
	keep.SetDown(false)
	clk.Advance(time.Minute)
	testpeer.WaitReceived(t, keep, actions(t), []string{"opened:", "verified:"})
	if got := gone.Received(); len(got) != 0 {
		t.Errorf("removed URL received %v", got)
	}
}

// TestCallbacksRunWithoutURLs starts with no URL: Run keeps running, and a
// URL added later gets the steps.
func TestCallbacksRunWithoutURLs(t *testing.T) {
	cb := newCallbacks(t, CallbackOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { cb.Run(ctx); close(done) }()

	cb.Step(store.Incident{ID: 1}, store.IncidentStep{Action: "opened"}) // nobody to tell
	p := testpeer.NewReceiver(t, false)
	cb.SetURLs(config.CallbackURLs(p.URL))
	cb.Step(store.Incident{ID: 1}, store.IncidentStep{Action: "acknowledged"})
	testpeer.WaitReceived(t, p, actions(t), []string{"acknowledged:"})

	cb.SetURLs(nil)
	select {
	case <-done:
		t.Fatal("Run returned with its context live")
	default:
	}
	if got := cb.Pending(); len(got) != 0 {
		t.Errorf("pending %v with no URL", got)
	}
	cancel()
	<-done
}
