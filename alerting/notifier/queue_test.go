package notifier

import (
	"fmt"
	"testing"
	"time"
)

func TestQueue(t *testing.T) {
	mk := func(p string, ends time.Time) Alert {
		return Alert{Labels: map[string]string{"alertname": "X", "project": p}, EndsAt: ends}
	}
	t0 := time.Unix(1000, 0)
	t.Run("bounded, drops oldest", func(t *testing.T) {
		q := newQueue(3)
		dropped := q.push([]Alert{mk("a", t0), mk("b", t0), mk("c", t0), mk("d", t0)})
		if dropped != 1 || q.len() != 3 {
			t.Fatalf("dropped %d len %d", dropped, q.len())
		}
		if got := q.peek(1)[0].alert.Labels["project"]; got != "b" {
			t.Fatalf("head is %q, want b", got)
		}
	})
	t.Run("newer state replaces in place", func(t *testing.T) {
		q := newQueue(2)
		q.push([]Alert{mk("a", t0), mk("b", t0)})
		if dropped := q.push([]Alert{mk("a", t0.Add(time.Hour))}); dropped != 0 {
			t.Fatalf("replacement dropped %d", dropped)
		}
		head := q.peek(2)
		if q.len() != 2 || head[0].alert.Labels["project"] != "a" || !head[0].alert.EndsAt.Equal(t0.Add(time.Hour)) {
			t.Fatalf("queue %+v", head)
		}
	})
	t.Run("ack keeps states that arrived in flight", func(t *testing.T) {
		q := newQueue(10)
		q.push([]Alert{mk("a", t0), mk("b", t0)})
		inFlight := q.peek(10)
		q.push([]Alert{mk("a", t0.Add(time.Minute))}) // resolved meanwhile
		q.ack(inFlight)
		rest := q.peek(10)
		if len(rest) != 1 || rest[0].alert.Labels["project"] != "a" || !rest[0].alert.EndsAt.Equal(t0.Add(time.Minute)) {
			t.Fatalf("after ack: %+v", rest)
		}
		q.ack(rest)
		if q.len() != 0 {
			t.Fatalf("len %d after acking all", q.len())
		}
	})
	t.Run("index stays right after drops", func(t *testing.T) {
		q := newQueue(5)
		for i := range 20 {
			q.push([]Alert{mk(fmt.Sprint(i), t0)})
		}
		q.push([]Alert{mk("17", t0.Add(time.Second))})
		items := q.peek(5)
		if len(items) != 5 || items[2].alert.Labels["project"] != "17" || !items[2].alert.EndsAt.Equal(t0.Add(time.Second)) {
			t.Fatalf("items %+v", items)
		}
	})
}

// recorder is a Sender that records what the keeper hands over; the keeper's
// timing rules are pure logic, checked here without a network.
type recorder struct{ batches [][]Alert }

func (r *recorder) Send(a ...Alert) { r.batches = append(r.batches, a) }

func TestKeeper(t *testing.T) {
	r := &recorder{}
	k := NewKeeper(r, time.Minute)
	t0 := time.Unix(10_000, 0)
	a := Alert{Labels: map[string]string{"alertname": "GroupSaturated", "group": "events"}, Annotations: map[string]string{"summary": "s"}}

	k.Update(t0, []Alert{a})
	k.Update(t0.Add(15*time.Second), []Alert{a}) // within resend: nothing
	k.Update(t0.Add(61*time.Second), []Alert{a}) // resend with pushed EndsAt
	changed := a
	changed.Annotations = map[string]string{"summary": "worse"}
	k.Update(t0.Add(70*time.Second), []Alert{changed}) // annotation change: sent now
	k.Update(t0.Add(80*time.Second), nil)              // resolved

	if len(r.batches) != 4 {
		t.Fatalf("want 4 sends, got %d: %+v", len(r.batches), r.batches)
	}
	tests := []struct {
		start, end time.Time
		summary    string
	}{
		{t0, t0.Add(4 * time.Minute), "s"},
		{t0, t0.Add(61*time.Second + 4*time.Minute), "s"},
		{t0, t0.Add(70*time.Second + 4*time.Minute), "worse"},
		{t0, t0.Add(80 * time.Second), "worse"},
	}
	for i, tt := range tests {
		got := r.batches[i][0]
		if !got.StartsAt.Equal(tt.start) || !got.EndsAt.Equal(tt.end) || got.Annotations["summary"] != tt.summary {
			t.Errorf("send %d: starts %s ends %s summary %q; want %s %s %q", i, got.StartsAt, got.EndsAt, got.Annotations["summary"], tt.start, tt.end, tt.summary)
		}
	}
	if len(k.Active()) != 0 {
		t.Fatalf("active after resolve: %v", k.Active())
	}
}

// TestKeeperSetResendEvery changes the resend interval between updates of
// one firing alert: the next resend and the EndsAt follow the new interval.
func TestKeeperSetResendEvery(t *testing.T) {
	t0 := time.Unix(10_000, 0)
	a := Alert{Labels: map[string]string{"alertname": "GroupSaturated", "group": "events"}}
	tests := []struct {
		name    string
		set     time.Duration // applied after the first send at t0
		at      time.Duration // the second update, after t0
		sent    bool
		wantEnd time.Duration // after t0, when sent
	}{
		{"shorter: due", 10 * time.Second, 15 * time.Second, true, 15*time.Second + 40*time.Second},
		{"shorter: not yet", 10 * time.Second, 5 * time.Second, false, 0},
		{"longer: not due at the old interval", 5 * time.Minute, 61 * time.Second, false, 0},
		{"longer: due", 5 * time.Minute, 5 * time.Minute, true, 5*time.Minute + 20*time.Minute},
		{"zero is the default 1m", 0, 61 * time.Second, true, 61*time.Second + 4*time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &recorder{}
			k := NewKeeper(r, time.Minute)
			k.Update(t0, []Alert{a})
			k.SetResendEvery(tt.set)
			k.Update(t0.Add(tt.at), []Alert{a})
			if got := len(r.batches) == 2; got != tt.sent {
				t.Fatalf("resent %v, want %v (sends %d)", got, tt.sent, len(r.batches))
			}
			if tt.sent {
				if got := r.batches[1][0].EndsAt; !got.Equal(t0.Add(tt.wantEnd)) {
					t.Errorf("EndsAt %s, want %s", got, t0.Add(tt.wantEnd))
				}
			}
		})
	}
}

// TestKeeperSetResendEveryConcurrent changes the interval while rounds
// update; the race detector checks it.
func TestKeeperSetResendEveryConcurrent(t *testing.T) {
	k := NewKeeper(&recorder{}, time.Minute)
	a := Alert{Labels: map[string]string{"alertname": "A"}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 100 {
			k.Update(time.Unix(int64(i*30), 0), []Alert{a})
		}
	}()
	for i := range 100 {
		k.SetResendEvery(time.Duration(i+1) * time.Second)
	}
	<-done
	if len(k.Active()) != 1 {
		t.Fatalf("active %v, want the one alert", k.Active())
	}
}
