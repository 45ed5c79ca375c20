package testpeer

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"
)

// Receiver is the one stand-in for an HTTP endpoint Headroom sends to (an
// Alertmanager's alert API whose outages a test controls, a callback URL):
// a real HTTP server on loopback that answers 200 and records each request,
// or 503 while it is down. Use it for faults a real peer cannot be made to
// show on demand (an outage toggled between two requests); use a real
// Alertmanager (Alertmanager) for everything else.
type Receiver struct {
	*httptest.Server
	mu       sync.Mutex
	down     bool
	got      []Request
	attempts chan Request
}

// Request is one request a Receiver saw.
type Request struct {
	Method, Path string
	Header       http.Header
	Body         []byte
	Accepted     bool // answered 200, not 503
}

// NewReceiver starts a Receiver, down or up, closed when the test ends.
func NewReceiver(t testing.TB, down bool) *Receiver {
	r := &Receiver{down: down, attempts: make(chan Request, 1000)}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		rq := Request{Method: req.Method, Path: req.URL.Path, Header: req.Header.Clone(), Body: body, Accepted: !r.down}
		if rq.Accepted {
			r.got = append(r.got, rq)
		}
		r.mu.Unlock()
		if rq.Accepted {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusOK)
		} else {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`"down"`))
		}
		r.attempts <- rq
	}))
	t.Cleanup(r.Close)
	return r
}

// SetDown makes the receiver refuse (true) or accept (false).
func (r *Receiver) SetDown(down bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.down = down
}

// Received returns the requests accepted so far, in order.
func (r *Receiver) Received() []Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

// AttemptTimeout bounds NextAttempt's wait.
const AttemptTimeout = 30 * time.Second

// NextAttempt returns the next request the receiver answered, accepted or
// not. It waits for real bytes over a real socket, so it has a deadline
// (AttemptTimeout), after which it fails the test.
func (r *Receiver) NextAttempt(t testing.TB) Request {
	t.Helper()
	select {
	case rq := <-r.attempts:
		return rq
	case <-time.After(AttemptTimeout):
		t.Fatalf("no request to %s within %s", r.URL, AttemptTimeout)
		return Request{}
	}
}

// WaitReceived waits until decode of the accepted requests' bodies equals
// want, one attempt at a time, and fails the test otherwise.
func WaitReceived[T comparable](t testing.TB, r *Receiver, decode func([]byte) []T, want []T) {
	t.Helper()
	got := func() []T {
		var out []T
		for _, rq := range r.Received() {
			out = append(out, decode(rq.Body)...)
		}
		return out
	}
	for {
		g := got()
		if slices.Equal(g, want) {
			return
		}
		if len(g) >= len(want) {
			t.Fatalf("%s received %v, want %v", r.URL, g, want)
		}
		r.NextAttempt(t)
	}
}

// LogBuffer is a log sink that the code under test and the test share.
type LogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
