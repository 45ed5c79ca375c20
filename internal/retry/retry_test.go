package retry

import (
	"context"
	"testing"
	"testing/synctest"
	"time"
)

// Each wait lies within Jitter of its exponential step (initial doubling
// up to max), and the waits are not all the same: there is jitter.
func TestWaitsFollowStepsWithJitter(t *testing.T) {
	for _, tc := range []struct {
		name         string
		initial, max time.Duration
		steps        []time.Duration
	}{
		{"doubling up to max", 100 * time.Millisecond, 300 * time.Millisecond,
			[]time.Duration{100, 200, 300, 300, 300}},
		{"max below initial", 500 * time.Millisecond, 100 * time.Millisecond,
			[]time.Duration{500, 500, 500}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			distinct := map[time.Duration]bool{}
			for range 200 {
				b := New(tc.initial, tc.max)
				for i, step := range tc.steps {
					step *= time.Millisecond
					d := b.Next()
					lo, hi := time.Duration(float64(step)*(1-Jitter)), time.Duration(float64(step)*(1+Jitter))+1
					if d < lo || d > hi {
						t.Fatalf("wait %d = %v, want within [%v, %v]", i, d, lo, hi)
					}
					distinct[d] = true
				}
			}
			if len(distinct) < 50 {
				t.Fatalf("only %d distinct waits in 200 runs: no jitter", len(distinct))
			}
		})
	}
}

func TestResetStartsAgain(t *testing.T) {
	b := New(time.Second, time.Minute)
	for range 5 {
		b.Next()
	}
	b.Reset()
	if d := b.Next(); d < 500*time.Millisecond || d > 1500*time.Millisecond+1 {
		t.Fatalf("first wait after Reset = %v, want about 1s", d)
	}
}

func TestSleepEndsWithContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		if err := Sleep(t.Context(), 3*time.Second); err != nil || time.Since(start) != 3*time.Second {
			t.Fatalf("Sleep = %v after %v, want nil after 3s", err, time.Since(start))
		}
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		if err := Sleep(ctx, time.Hour); err != context.DeadlineExceeded || time.Since(start) != 4*time.Second {
			t.Fatalf("Sleep = %v after %v, want the deadline after 1s more", err, time.Since(start))
		}
	})
}

func TestRange(t *testing.T) {
	if lo, hi := Range(2 * time.Second); lo != time.Second || hi != 3*time.Second+1 {
		t.Fatalf("Range(2s) = [%v, %v], want [1s, 3s] (the top rounded up)", lo, hi)
	}
}
