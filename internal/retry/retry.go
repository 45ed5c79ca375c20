// Package retry is Headroom's one backoff between retries: exponential,
// with jitter, from github.com/cenkalti/backoff/v5. The applier uses it for
// Kafka requests and internal/outbox for everything Headroom sends (alerts
// to Alertmanager, callbacks), so that replicas and clients that fail
// together do not retry in lockstep.
//
// It only computes waits: callers wait on an injected clock
// (internal/clock), so tests never wait. It imports nothing of Headroom.
package retry

import (
	"context"
	"time"

	"github.com/cenkalti/backoff/v5"
)

// Jitter is the randomization factor: each wait is drawn uniformly from
// [(1-Jitter)·d, (1+Jitter)·d] around the exponential step d.
const Jitter = 0.5

// Multiplier is the growth of the step between attempts.
const Multiplier = 2

// Range returns the least and the most a wait whose exponential step is
// step may be under Jitter (the most rounded up by a nanosecond), for
// callers and tests that check a wait.
func Range(step time.Duration) (lo, hi time.Duration) {
	return time.Duration(float64(step) * (1 - Jitter)), time.Duration(float64(step)*(1+Jitter)) + 1
}

// Backoff yields the waits between attempts: the step starts at initial,
// doubles each attempt up to max, and each wait is the step with Jitter.
// A Backoff is for one retry loop; it is not safe for concurrent use.
type Backoff struct {
	b backoff.ExponentialBackOff
}

// New returns a Backoff whose steps run from initial up to max. A max
// below initial is raised to initial.
func New(initial, max time.Duration) *Backoff {
	if max < initial {
		max = initial
	}
	b := &Backoff{b: backoff.ExponentialBackOff{InitialInterval: initial, RandomizationFactor: Jitter,
		Multiplier: Multiplier, MaxInterval: max}}
	b.b.Reset()
	return b
}

// Next returns the wait before the next attempt.
func (b *Backoff) Next() time.Duration { return b.b.NextBackOff() }

// Reset starts the steps again from initial.
func (b *Backoff) Reset() { b.b.Reset() }

// Sleep waits for d or until ctx is done, whichever comes first; it is the
// production sleeper retry loops inject.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
