package lab

import (
	"math"
	"testing"
	"time"

	"github.com/headroomhq/headroom/config"
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
// backlog against one broker's enforcement on an injected clock: each
// request is processed only once the mute of the one before has ended, as
// the lab's connections are muted. A producer's bytes are appended; a
// consumer's throttled fetch is refused and fetched again after the mute.
// Over a minute, the served rate is the quota within 5%, for Kafka's
// default window and for the tests' short one, and the throttled bytes the
// broker accounts are what the client sent while throttled (delayed) or
// had to fetch again (refused).
func TestThrottledClientConvergesToQuota(t *testing.T) {
	const bound = 1 << 20
	for _, tc := range []struct {
		name   string
		dir    config.Direction
		w      Window
		batch  float64
		demand float64 // bytes/s the client would send unthrottled
	}{
		{"produce, default window, 2x demand", config.Produce, DefaultWindow, 128 << 10, 2 * bound},
		{"produce, short window, 2x demand", config.Produce, testWindow, 128 << 10, 2 * bound},
		{"produce, default window, 5x demand", config.Produce, DefaultWindow, 512 << 10, 5 * bound},
		{"fetch, default window, 2x demand", config.Fetch, DefaultWindow, 128 << 10, 2 * bound},
		{"fetch, short window, 5x demand", config.Fetch, testWindow, 128 << 10, 5 * bound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := time.Unix(1_700_000_000, 0)
			c, b := testCluster(func() time.Time { return now }, tc.w, Rates{Produce: bound, Fetch: bound})
			p := c.owners["a.events"]
			gap := time.Duration(tc.batch / tc.demand * float64(time.Second))
			end := now.Add(2 * time.Minute)
			var served, refused float64
			var throttled int
			measureFrom := now.Add(time.Minute)
			for now.Before(end) {
				d, r := c.enforce(b, p.payer(), tc.dir, tc.batch, now)
				if !now.Before(measureFrom) && !r {
					served += tc.batch
				}
				if r {
					refused += tc.batch
				}
				if d > 0 {
					throttled++
				}
				if r {
					// Nothing came back to process: the consumer fetches
					// again as soon as its connection is unmuted.
					now = now.Add(d)
				} else {
					now = now.Add(max(gap, d))
				}
			}
			rate := served / time.Minute.Seconds()
			e := c.Enforcement()["a"]
			acc := e.Produce
			if tc.dir == config.Fetch {
				acc = e.Fetch
			}
			t.Logf("served %.0f B/s (%.3f of the quota), %d throttled requests, accounted %+v", rate, rate/bound, throttled, acc)
			if rate < 0.95*bound || rate > 1.05*bound {
				t.Errorf("served %.0f B/s, want %d ±5%%", rate, bound)
			}
			if throttled == 0 || acc.Throttled != int64(throttled) {
				t.Errorf("throttled %d requests, accounted %d", throttled, acc.Throttled)
			}
			switch tc.dir {
			case config.Produce:
				if acc.Refused != 0 || acc.Delayed <= 0 || acc.Delayed > float64(throttled)*tc.batch {
					t.Errorf("produce accounted %+v: want delayed bytes in (0, %d × %.0f], none refused", acc, throttled, tc.batch)
				}
			case config.Fetch:
				if acc.Delayed != 0 || acc.Refused != refused || refused == 0 {
					t.Errorf("fetch accounted %+v: want %.0f bytes refused, none delayed", acc, refused)
				}
			}
			b.mu.Lock()
			avg := b.sensors[sensorKey{dir: tc.dir, tags: sensorTags{clientID: "a"}}].throttle.avg(now)
			b.mu.Unlock()
			if avg <= 0 {
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
