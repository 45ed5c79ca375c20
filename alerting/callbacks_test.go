package alerting

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

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
	cb := NewCallbacks(CallbackOptions{URLs: []string{srv.URL}, MinBackoff: time.Second, Sleep: func(ctx context.Context, d time.Duration) error {
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
	cb := NewCallbacks(CallbackOptions{URLs: []string{"http://127.0.0.1:1/"}, QueueCapacity: 2})
	for i := range 5 {
		cb.Step(store.Incident{ID: int64(i)}, store.IncidentStep{})
	}
	if n := cb.Pending()["http://127.0.0.1:1/"]; n != 2 {
		t.Fatalf("queued %d, want the bound 2", n)
	}
}
