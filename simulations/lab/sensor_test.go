package lab

import (
	"math"
	"testing"
	"time"
)

func TestThrottleTimeFormula(t *testing.T) {
	cases := []struct {
		name            string
		observed, bound float64
		window          time.Duration
		want            time.Duration
	}{
		{"under quota", 900, 1000, 11 * time.Second, 0},
		{"at quota", 1000, 1000, 11 * time.Second, 0},
		{"twice the quota", 2000, 1000, 11 * time.Second, 11 * time.Second},
		{"ten percent over", 1100, 1000, 11 * time.Second, 1100 * time.Millisecond},
		{"rounded to ms", 1000.5, 1000, 11 * time.Second, 6 * time.Millisecond},
		{"no quota", 5000, 0, 11 * time.Second, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := ThrottleTime(tc.observed, tc.bound, tc.window); got != tc.want {
				t.Errorf("ThrottleTime(%v, %v, %s) = %s, want %s", tc.observed, tc.bound, tc.window, got, tc.want)
			}
		})
	}
}

// TestRateWindow checks Kafka's Rate semantics on an injected clock: the
// window is at least 10 full samples, old samples expire after 11.
func TestRateWindow(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	cases := []struct {
		name    string
		records []int // ms offsets of 1000-byte records
		now     int
		window  time.Duration
		rate    float64
	}{
		{"fresh sensor uses 10 windows", []int{0}, 500, 10500 * time.Millisecond, 1000 / 10.5},
		{"one per second for 11s", []int{0, 1000, 2000, 3000, 4000, 5000, 6000, 7000, 8000, 9000, 10000}, 10500, 10500 * time.Millisecond, 11000 / 10.5},
		{"samples older than the window expire", []int{0, 12000}, 12500, 10500 * time.Millisecond, 1000 / 10.5},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newSampledStat(DefaultWindow, t0)
			for _, ms := range tc.records {
				s.record(1000, at(ms))
			}
			if got := s.windowSize(at(tc.now)); got != tc.window {
				t.Errorf("window %s, want %s", got, tc.window)
			}
			if got := s.rate(at(tc.now)); math.Abs(got-tc.rate) > 1e-9 {
				t.Errorf("rate %v, want %v", got, tc.rate)
			}
		})
	}
}

// TestThrottledClientConvergesToQuota replays a client with an endless
// backlog against one sensor on an injected clock: each request waits out
// the throttle time of the one before, as the lab delays it. Over a minute,
// the served rate is the quota within 5%, for Kafka's default window and
// for the tests' short one.
func TestThrottledClientConvergesToQuota(t *testing.T) {
	const bound = 1 << 20
	for _, tc := range []struct {
		name   string
		w      Window
		batch  float64
		demand float64 // bytes/s the client would send unthrottled
	}{
		{"default window, 2x demand", DefaultWindow, 128 << 10, 2 * bound},
		{"short window, 2x demand", testWindow, 128 << 10, 2 * bound},
		{"default window, 5x demand", DefaultWindow, 512 << 10, 5 * bound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := time.Unix(1_700_000_000, 0)
			q := newQuotaSensor(tc.w, now)
			gap := time.Duration(tc.batch / tc.demand * float64(time.Second))
			end := now.Add(2 * time.Minute)
			var sent float64
			var throttled int
			measureFrom := now.Add(time.Minute)
			for now.Before(end) {
				d := q.recordAndThrottle(tc.batch, bound, now, true)
				if !now.Before(measureFrom) {
					sent += tc.batch
				}
				if d > 0 {
					throttled++
				}
				now = now.Add(max(gap, d))
			}
			served := sent / time.Minute.Seconds()
			t.Logf("served %.0f B/s (%.3f of the quota), %d throttled requests", served, served/bound, throttled)
			if served < 0.95*bound || served > 1.05*bound {
				t.Errorf("served %.0f B/s, want %d ±5%%", served, bound)
			}
			if throttled == 0 {
				t.Errorf("never throttled")
			}
			if avg := q.throttle.avg(now); avg <= 0 {
				t.Errorf("throttle-time average %v, want > 0", avg)
			}
		})
	}
}

func TestThrottleDisabled(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	q := newQuotaSensor(DefaultWindow, now)
	if d := q.recordAndThrottle(1e9, 1000, now, false); d != 0 {
		t.Errorf("enforcement off: throttle %s, want 0", d)
	}
	if q.total != 1e9 {
		t.Errorf("enforcement off still measures: total %v", q.total)
	}
}
