package notifier

import (
	"testing"
	"time"
)

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
