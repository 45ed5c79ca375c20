package alerting

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
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

	"github.com/headroomhq/headroom/config"
	"github.com/headroomhq/headroom/store"
)

// TestCallbacksDeliverInOrderThroughFailures runs a real HTTP receiver
// that refuses the first two attempts: every step arrives once, in order,
// and the retries back off.
func TestCallbacksDeliverInOrderThroughFailures(t *testing.T) {
	var mu sync.Mutex
	var got []string
	attempts := 0
	delivered := make(chan struct{}, 3)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		attempts++
		if attempts <= 2 {
			http.Error(w, "not now", http.StatusServiceUnavailable)
			return
		}
		b, _ := io.ReadAll(r.Body)
		var ev CallbackEvent
		if err := json.Unmarshal(b, &ev); err != nil || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("bad callback %q: %v", b, err)
		}
		got = append(got, ev.Step.Action+":"+ev.State)
		w.WriteHeader(http.StatusNoContent)
		delivered <- struct{}{}
	}))
	defer srv.Close()

	var slept []time.Duration
	cb := NewCallbacks(CallbackOptions{URLs: config.CallbackURLs(srv.URL), MinBackoff: time.Second, Sleep: func(ctx context.Context, d time.Duration) error {
		slept = append(slept, d) // only the delivery goroutine sleeps
		return ctx.Err()
	}})
	in := store.Incident{ID: 7, AlertName: "ProjectThrottled", Fingerprint: "fp", Labels: map[string]string{"project": "checkout"}}
	for _, s := range []struct{ action, state string }{{"opened", StateFiring}, {"reallocate_now", StateHandling}, {"verified", StateResolved}} {
		in.State = s.state
		cb.Step(in, store.IncidentStep{At: time.Now(), To: s.state, Actor: "headroom", Action: s.action})
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { cb.Run(ctx); close(done) }()
	for range 3 {
		select {
		case <-delivered:
		case <-time.After(10 * time.Second):
			t.Fatal("callbacks not delivered")
		}
	}
	cancel()
	<-done
	mu.Lock()
	defer mu.Unlock()
	want := []string{"opened:firing", "reallocate_now:handling", "verified:resolved"}
	if !slices.Equal(got, want) {
		t.Fatalf("delivered %v, want %v", got, want)
	}
	if !slices.Equal(slept, []time.Duration{time.Second, 2 * time.Second}) {
		t.Fatalf("backoffs %v, want [1s 2s]", slept)
	}
}

func TestCallbackQueueIsBounded(t *testing.T) {
	cb := NewCallbacks(CallbackOptions{URLs: config.CallbackURLs("http://127.0.0.1:1/"), QueueCapacity: 2})
	for i := range 5 {
		cb.Step(store.Incident{ID: int64(i)}, store.IncidentStep{})
	}
	if n := cb.Pending()["http://127.0.0.1:1/"]; n != 2 {
		t.Fatalf("queued %d, want the bound 2", n)
	}
}

// TestCallbacksSetURLsQueues changes the URLs without running the loops: a
// URL kept keeps its queue, a new one starts empty, a removed one is gone,
// and a URL listed twice counts once.
func TestCallbacksSetURLsQueues(t *testing.T) {
	const a, b, c = "http://a.example/", "http://b.example/", "http://c.example/"
	cb := NewCallbacks(CallbackOptions{URLs: config.CallbackURLs(a, a)})
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

// syncBuffer is a log sink the loops and the test share.
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

// callbackPeer is a callback receiver that refuses while down and records
// the actions it accepted; every attempt is signalled.
type callbackPeer struct {
	*httptest.Server
	mu       sync.Mutex
	down     bool
	got      []string
	attempts chan struct{}
}

func newCallbackPeer(t *testing.T, down bool) *callbackPeer {
	p := &callbackPeer{down: down, attempts: make(chan struct{}, 100)}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() { p.attempts <- struct{}{} }()
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.down {
			http.Error(w, "not now", http.StatusServiceUnavailable)
			return
		}
		var ev CallbackEvent
		if err := json.NewDecoder(r.Body).Decode(&ev); err != nil {
			t.Errorf("bad callback: %v", err)
		}
		p.got = append(p.got, ev.Step.Action)
	}))
	t.Cleanup(p.Close)
	return p
}

func (p *callbackPeer) setDown(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
}

func (p *callbackPeer) received() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.got)
}

func (p *callbackPeer) waitAttempt(t *testing.T) {
	t.Helper()
	select {
	case <-p.attempts:
	case <-time.After(10 * time.Second):
		t.Fatalf("no callback attempt at %s", p.URL)
	}
}

func waitReceived(t *testing.T, p *callbackPeer, want []string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !slices.Equal(p.received(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("%s received %v, want %v", p.URL, p.received(), want)
		}
		p.waitAttempt(t)
	}
}

// TestCallbacksSetURLsWhileRunning changes the URLs under Run: the kept
// URL delivers its old and new steps in order, the new URL gets only the
// steps after the change, and the removed URL's loop has stopped when
// SetURLs returns, its undelivered step logged as dropped.
func TestCallbacksSetURLsWhileRunning(t *testing.T) {
	keep, gone, added := newCallbackPeer(t, true), newCallbackPeer(t, true), newCallbackPeer(t, false)
	resume := make(chan struct{})
	parked := make(chan struct{}, 10)
	var stopped atomic.Int32
	logs := &syncBuffer{}
	cb := NewCallbacks(CallbackOptions{URLs: config.CallbackURLs(keep.URL, gone.URL),
		Logger: slog.New(slog.NewTextHandler(logs, nil)),
		// A failed delivery waits for resume, or until its loop stops.
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
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { cb.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	cb.Step(store.Incident{ID: 1}, store.IncidentStep{Action: "opened"})
	keep.waitAttempt(t)
	gone.waitAttempt(t)
	for range 2 { // both failed and wait to retry
		<-parked
	}

	cb.SetURLs(config.CallbackURLs(keep.URL, added.URL))
	if n := stopped.Load(); n != 1 {
		t.Fatalf("%d loops stopped, want the removed URL's", n)
	}
	if got, want := cb.Pending(), map[string]int{keep.URL: 1, added.URL: 0}; !maps.Equal(got, want) {
		t.Fatalf("pending %v, want %v", got, want)
	}
	if !strings.Contains(logs.String(), fmt.Sprintf("url=%s dropped=1", gone.URL)) {
		t.Errorf("the removed URL's dropped step is not logged:\n%s", logs)
	}

	cb.Step(store.Incident{ID: 1}, store.IncidentStep{Action: "verified"})
	waitReceived(t, added, []string{"verified"})
	keep.setDown(false)
	close(resume)
	waitReceived(t, keep, []string{"opened", "verified"})
	if got := gone.received(); len(got) != 0 {
		t.Errorf("removed URL received %v", got)
	}
}

// TestCallbacksRunWithoutURLs starts with no URL: Run keeps running, and a
// URL added later gets the steps.
func TestCallbacksRunWithoutURLs(t *testing.T) {
	cb := NewCallbacks(CallbackOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { cb.Run(ctx); close(done) }()

	cb.Step(store.Incident{ID: 1}, store.IncidentStep{Action: "opened"}) // nobody to tell
	p := newCallbackPeer(t, false)
	cb.SetURLs(config.CallbackURLs(p.URL))
	cb.Step(store.Incident{ID: 1}, store.IncidentStep{Action: "acknowledged"})
	waitReceived(t, p, []string{"acknowledged"})

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
