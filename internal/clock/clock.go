// Package clock is Headroom's one view of time: the current instant,
// timers and tickers, behind an interface that loops take as an option.
// Production code passes Real; tests pass a Fake they move by hand, or run
// the code inside a testing/synctest bubble with Real (whose time is then
// the bubble's).
//
// A loop that waits (a retry backoff, a round ticker) takes a Clock rather
// than a sleep hook or a tick channel, so that one injection point covers
// now, timers and tickers alike.
//
// It imports nothing of Headroom.
package clock

import (
	"context"
	"time"
)

// Clock tells the time and makes timers and tickers.
type Clock interface {
	Now() time.Time
	// NewTimer returns a timer that fires once, d from now.
	NewTimer(d time.Duration) Timer
	// NewTicker returns a ticker that fires every d, the first time d
	// from now. d must be positive.
	NewTicker(d time.Duration) Ticker
}

// Timer is a one-shot timer, as time.Timer.
type Timer interface {
	C() <-chan time.Time
	// Stop prevents the timer from firing; it reports whether it did.
	Stop() bool
}

// Ticker fires periodically, as time.Ticker.
type Ticker interface {
	C() <-chan time.Time
	Stop()
	// Reset changes the period; the next tick is d from now.
	Reset(d time.Duration)
}

// Real is the system clock.
var Real Clock = realClock{}

type realClock struct{}

func (realClock) Now() time.Time                   { return time.Now() }
func (realClock) NewTimer(d time.Duration) Timer   { return realTimer{time.NewTimer(d)} }
func (realClock) NewTicker(d time.Duration) Ticker { return realTicker{time.NewTicker(d)} }

type realTimer struct{ t *time.Timer }

func (t realTimer) C() <-chan time.Time { return t.t.C }
func (t realTimer) Stop() bool          { return t.t.Stop() }

type realTicker struct{ t *time.Ticker }

func (t realTicker) C() <-chan time.Time   { return t.t.C }
func (t realTicker) Stop()                 { t.t.Stop() }
func (t realTicker) Reset(d time.Duration) { t.t.Reset(d) }

// Sleep waits for d on c, or until ctx is done, whichever comes first. It
// returns ctx's error when ctx ended the wait.
func Sleep(ctx context.Context, c Clock, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	t := c.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C():
		return nil
	}
}

// OrReal returns c, or Real when c is nil: the default of an option.
func OrReal(c Clock) Clock {
	if c == nil {
		return Real
	}
	return c
}

// Driven is a clock whose tickers tick only when told to, and which is
// otherwise its base: for rigs that run a loop's rounds on demand against
// a system that lives on wall time (a real Kafka lab), where a Fake's
// stopped time would be wrong. Every ticker it makes shares one channel;
// Tick sends on it.
type Driven struct {
	Clock
	ticks chan time.Time
}

// NewDriven returns a Driven clock over base.
func NewDriven(base Clock) *Driven { return &Driven{Clock: OrReal(base), ticks: make(chan time.Time)} }

// NewTicker returns a ticker that ticks when Tick is called; its period is
// ignored.
func (d *Driven) NewTicker(time.Duration) Ticker { return drivenTicker{d.ticks} }

// Tick returns the channel that delivers a tick to whichever ticker of d
// is being read: a send on it blocks until the loop takes the tick.
func (d *Driven) Tick() chan<- time.Time { return d.ticks }

type drivenTicker struct{ c chan time.Time }

func (t drivenTicker) C() <-chan time.Time { return t.c }
func (drivenTicker) Stop()                 {}
func (drivenTicker) Reset(time.Duration)   {}
