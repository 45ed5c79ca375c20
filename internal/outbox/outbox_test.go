package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"

	"github.com/headroomhq/headroom/internal/clock"
	"github.com/headroomhq/headroom/internal/retry"
	"github.com/headroomhq/headroom/internal/testpeer"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// item is what the tests send: a key (for coalescing) and a version.
type item struct{ key, v string }

func (i item) String() string { return i.key + "@" + i.v }

// sink stands for one destination's receiver. The outbox's seam is the
// Deliver function, so no network is needed to test the queues, the
// backoff and the reloads; every attempt is reported on attempts.
type sink struct {
	mu       sync.Mutex
	down     bool
	got      [][]string
	attempts chan []string
}

func newSink(down bool) *sink { return &sink{down: down, attempts: make(chan []string, 100)} }

func (s *sink) deliver(ctx context.Context, batch []item) error {
	names := make([]string, len(batch))
	for i, it := range batch {
		names[i] = it.String()
	}
	s.mu.Lock()
	down := s.down
	if !down {
		s.got = append(s.got, names)
	}
	s.mu.Unlock()
	s.attempts <- names
	if down {
		return errors.New("receiver down")
	}
	return nil
}

func (s *sink) setDown(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = down
}

func (s *sink) received() [][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.got)
}

func dst(id string, s *sink) Destination[item] {
	return Destination[item]{ID: id, Label: id, Deliver: s.deliver}
}

// run starts o's Run and stops it when the test ends.
func run[T any](t *testing.T, o *Outbox[T]) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { o.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

func testOptions(clk clock.Clock, reg prometheus.Registerer, logs *testpeer.LogBuffer) Options[item] {
	return Options[item]{Kind: "test receiver", LabelName: "receiver", Metrics: Names("test"), Capacity: 3, MaxBatch: 2,
		Key: func(i item) string { return i.key }, Describe: item.String, MinBackoff: time.Second, MaxBackoff: 4 * time.Second,
		Clock: clk, Registerer: reg, Logger: slog.New(slog.NewTextHandler(logs, nil))}
}

func TestQueue(t *testing.T) {
	key := func(i item) string { return i.key }
	t.Run("bounded, drops oldest", func(t *testing.T) {
		q := newQueue[item](3)
		dropped := q.push(key, []item{{"a", "1"}, {"b", "1"}, {"c", "1"}, {"d", "1"}})
		if !slices.Equal(dropped, []item{{"a", "1"}}) || q.len() != 3 {
			t.Fatalf("dropped %v len %d", dropped, q.len())
		}
		if got := q.peek(1)[0].item.key; got != "b" {
			t.Fatalf("head is %q, want b", got)
		}
	})
	t.Run("newer state replaces in place", func(t *testing.T) {
		q := newQueue[item](2)
		q.push(key, []item{{"a", "1"}, {"b", "1"}})
		if dropped := q.push(key, []item{{"a", "2"}}); len(dropped) != 0 {
			t.Fatalf("replacement dropped %v", dropped)
		}
		head := q.peek(2)
		if q.len() != 2 || head[0].item != (item{"a", "2"}) {
			t.Fatalf("queue %+v", head)
		}
	})
	t.Run("without a key every item is kept", func(t *testing.T) {
		q := newQueue[item](5)
		q.push(nil, []item{{"a", "1"}, {"a", "2"}})
		if q.len() != 2 {
			t.Fatalf("len %d, want 2", q.len())
		}
	})
	t.Run("ack keeps states that arrived in flight", func(t *testing.T) {
		q := newQueue[item](10)
		q.push(key, []item{{"a", "1"}, {"b", "1"}})
		inFlight := q.peek(10)
		q.push(key, []item{{"a", "2"}}) // resolved meanwhile
		q.ack(inFlight)
		rest := q.peek(10)
		if len(rest) != 1 || rest[0].item != (item{"a", "2"}) {
			t.Fatalf("after ack: %+v", rest)
		}
		q.ack(rest)
		if q.len() != 0 {
			t.Fatalf("len %d after acking all", q.len())
		}
	})
	t.Run("ack of an item dropped in flight keeps the rest", func(t *testing.T) {
		q := newQueue[item](2)
		q.push(nil, []item{{"a", "1"}})
		inFlight := q.peek(1)
		q.push(nil, []item{{"b", "1"}, {"c", "1"}}) // drops a
		q.ack(inFlight)
		if rest := q.peek(5); len(rest) != 2 || rest[0].item.key != "b" || rest[1].item.key != "c" {
			t.Fatalf("after ack: %+v", rest)
		}
	})
	t.Run("index stays right after drops", func(t *testing.T) {
		q := newQueue[item](5)
		for i := range 20 {
			q.push(key, []item{{fmt.Sprint(i), "1"}})
		}
		q.push(key, []item{{"17", "2"}})
		items := q.peek(5)
		if len(items) != 5 || items[2].item != (item{"17", "2"}) {
			t.Fatalf("items %+v", items)
		}
	})
}

// A destination that refuses is retried with waits that follow
// internal/retry's steps within its jitter, on the injected clock, until it
// accepts; the batch then arrives whole, and the metrics count each
// attempt.
func TestRetriesBackOffWithJitterUntilDelivered(t *testing.T) {
	clk := clock.NewFake(time.Unix(1_000_000, 0))
	reg := prometheus.NewRegistry()
	s := newSink(true)
	o, err := New(testOptions(clk, reg, &testpeer.LogBuffer{}), []Destination[item]{dst("r", s)})
	if err != nil {
		t.Fatal(err)
	}
	run(t, o)
	o.Push(item{"a", "1"}, item{"b", "1"})

	steps := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 4 * time.Second, 4 * time.Second}
	for i, step := range steps {
		if got := <-s.attempts; !slices.Equal(got, []string{"a@1", "b@1"}) {
			t.Fatalf("attempt %d sent %v", i, got)
		}
		wait := <-clk.Timers()
		lo, hi := retry.Range(step)
		if wait < lo || wait > hi {
			t.Fatalf("wait %d = %v, want within [%v, %v]", i, wait, lo, hi)
		}
		if i == len(steps)-1 {
			s.setDown(false)
		}
		clk.Advance(wait)
	}
	<-s.attempts
	if got := s.received(); len(got) != 1 || !slices.Equal(got[0], []string{"a@1", "b@1"}) {
		t.Fatalf("received %v", got)
	}
	n := len(steps)
	for name, want := range map[string]float64{"test_errors_total": float64(n), "test_retries_total": float64(n),
		"test_sent_total": 2, "test_queue_length": 0, "test_dropped_total": 0} {
		if got := testpeer.Gathered(t, reg, "headroom_"+name, map[string]string{"receiver": "r"}); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
}

// A full queue drops its oldest items: counted, and named in the log.
// Without Run nothing is delivered, so the queue is all there is.
func TestFullQueueDropsOldestAndSaysWhich(t *testing.T) {
	reg := prometheus.NewRegistry()
	logs := &testpeer.LogBuffer{}
	o, err := New(testOptions(nil, reg, logs), []Destination[item]{dst("r", newSink(false))})
	if err != nil {
		t.Fatal(err)
	}
	o.Push(item{"a", "1"}, item{"b", "1"}, item{"c", "1"})
	o.Push(item{"b", "2"}) // replaces: nothing dropped
	o.Push(item{"d", "1"}, item{"e", "1"})
	if got := o.Pending()["r"]; got != 3 {
		t.Fatalf("pending %d, want the bound 3", got)
	}
	if got := testpeer.Gathered(t, reg, "headroom_test_dropped_total", map[string]string{"receiver": "r"}); got != 2 {
		t.Fatalf("dropped %v, want 2", got)
	}
	if !strings.Contains(logs.String(), `msg="test receiver queue full; dropped the oldest" receiver=r dropped=2 items="[a@1 b@2]"`) {
		t.Fatalf("the drop is not logged with what was dropped:\n%s", logs)
	}
}

// SetDestinations while running: the destination kept keeps its queue and
// delivers it in order, the new one gets only what is pushed after the
// change, and the removed one's loop has stopped when SetDestinations
// returns, what it held counted and logged as dropped.
func TestSetDestinationsWhileRunning(t *testing.T) {
	clk := clock.NewFake(time.Unix(1_000_000, 0))
	reg := prometheus.NewRegistry()
	logs := &testpeer.LogBuffer{}
	keep, gone, added := newSink(true), newSink(true), newSink(false)
	o, err := New(testOptions(clk, reg, logs), []Destination[item]{dst("keep", keep), dst("gone", gone)})
	if err != nil {
		t.Fatal(err)
	}
	run(t, o)

	o.Push(item{"first", "1"})
	<-keep.attempts
	<-gone.attempts
	for range 2 { // both failed and wait to retry
		<-clk.Timers()
	}
	o.SetDestinations([]Destination[item]{dst("keep", keep), dst("added", added), dst("keep", keep)})
	if got := clk.Waiting(); got != 1 {
		t.Fatalf("%d loops waiting, want the kept one's: the removed loop has not stopped", got)
	}
	if got, want := o.Pending(), map[string]int{"keep": 1, "added": 0}; !maps.Equal(got, want) {
		t.Fatalf("pending %v, want %v", got, want)
	}
	if !slices.Equal(o.IDs(), []string{"keep", "added"}) {
		t.Fatalf("ids %v", o.IDs())
	}
	if !strings.Contains(logs.String(), "receiver=gone dropped=1") {
		t.Errorf("the removed destination's dropped item is not logged:\n%s", logs)
	}
	if got := testpeer.Gathered(t, reg, "headroom_test_dropped_total", map[string]string{"receiver": "gone"}); got != 1 {
		t.Errorf("dropped for the removed destination %v, want 1", got)
	}

	o.Push(item{"second", "1"})
	if got := <-added.attempts; !slices.Equal(got, []string{"second@1"}) {
		t.Fatalf("the added destination got %v", got)
	}
	keep.setDown(false)
	clk.Advance(time.Minute)
	if got := <-keep.attempts; !slices.Equal(got, []string{"first@1", "second@1"}) {
		t.Fatalf("the kept destination got %v, want its old and new items in order", got)
	}
	if got := gone.received(); len(got) != 0 {
		t.Errorf("removed destination received %v", got)
	}
	if got := testutil.CollectAndCount(o.metrics.queued); got != 2 {
		t.Errorf("%d queue length series, want the two current destinations'", got)
	}
}

// A kept destination takes the new Deliver (a new client or key).
func TestSetDestinationsTakesNewDeliver(t *testing.T) {
	old, next := newSink(false), newSink(false)
	o, err := New(testOptions(nil, nil, &testpeer.LogBuffer{}), []Destination[item]{dst("r", old)})
	if err != nil {
		t.Fatal(err)
	}
	o.Push(item{"a", "1"})
	o.SetDestinations([]Destination[item]{dst("r", next)})
	run(t, o)
	if got := <-next.attempts; !slices.Equal(got, []string{"a@1"}) {
		t.Fatalf("the new deliver got %v", got)
	}
	if len(old.received()) != 0 {
		t.Fatalf("the old deliver was used: %v", old.received())
	}
}

// Run starts with no destination and keeps running; one added later gets
// what is pushed from then on.
func TestRunWithoutDestinations(t *testing.T) {
	o, err := New(testOptions(nil, nil, &testpeer.LogBuffer{}), nil)
	if err != nil {
		t.Fatal(err)
	}
	run(t, o)
	o.Push(item{"nobody", "1"})
	s := newSink(false)
	o.SetDestinations([]Destination[item]{dst("r", s)})
	o.Push(item{"later", "1"})
	if got := <-s.attempts; !slices.Equal(got, []string{"later@1"}) {
		t.Fatalf("got %v", got)
	}
	o.SetDestinations(nil)
	if got := o.Pending(); len(got) != 0 {
		t.Fatalf("pending %v with no destination", got)
	}
}

// An ID with credentials never reaches a label or a log line: only the
// Label does.
func TestLabelsNotIDs(t *testing.T) {
	reg := prometheus.NewRegistry()
	logs := &testpeer.LogBuffer{}
	o, err := New(testOptions(nil, reg, logs), []Destination[item]{{ID: "http://u:secret-4411@h/", Label: "http://h/", Deliver: newSink(false).deliver}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		o.Push(item{fmt.Sprint(i), "1"})
	}
	o.SetDestinations(nil)
	exposition := testpeer.Exposition(t, reg)
	if !strings.Contains(exposition, "http://h/") || !strings.Contains(logs.String(), "receiver=http://h/") {
		t.Fatalf("no label:\n%s\n%s", exposition, logs)
	}
	if strings.Contains(exposition+logs.String(), "secret-4411") {
		t.Fatalf("credential leaked:\n%s\n%s", exposition, logs)
	}
}

func TestRegisterTwiceFails(t *testing.T) {
	reg := prometheus.NewRegistry()
	if _, err := New(testOptions(nil, reg, &testpeer.LogBuffer{}), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := New(testOptions(nil, reg, &testpeer.LogBuffer{}), nil); err == nil {
		t.Fatal("a second outbox registered the same metrics")
	}
}
