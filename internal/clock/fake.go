package clock

import (
	"slices"
	"sync"
	"time"
)

// Fake is a Clock that moves only when told to, for tests of loops that
// wait: the test sees each timer the loop starts (Timers) and fires it by
// advancing the clock. It is safe for concurrent use.
type Fake struct {
	mu      sync.Mutex
	now     time.Time
	waiters []*fakeWaiter
	started chan time.Duration // each timer's and ticker's duration as it starts
}

type fakeWaiter struct {
	at     time.Time
	period time.Duration // 0: a timer
	c      chan time.Time
	f      *Fake
}

// NewFake returns a Fake clock showing now.
func NewFake(now time.Time) *Fake {
	return &Fake{now: now, started: make(chan time.Duration, 1024)}
}

// Now returns the fake instant.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// NewTimer returns a timer that fires once the clock has advanced by d.
func (f *Fake) NewTimer(d time.Duration) Timer { return f.add(d, 0) }

// NewTicker returns a ticker that fires each time the clock passes a
// multiple of d from now.
func (f *Fake) NewTicker(d time.Duration) Ticker {
	if d <= 0 {
		panic("clock: non-positive interval for NewTicker")
	}
	return fakeTicker{f.add(d, d)}
}

// fakeTicker is a periodic waiter with time.Ticker's method set.
type fakeTicker struct{ w *fakeWaiter }

func (t fakeTicker) C() <-chan time.Time   { return t.w.c }
func (t fakeTicker) Stop()                 { t.w.Stop() }
func (t fakeTicker) Reset(d time.Duration) { t.w.reset(d) }

func (f *Fake) add(d, period time.Duration) *fakeWaiter {
	f.mu.Lock()
	w := &fakeWaiter{at: f.now.Add(d), period: period, c: make(chan time.Time, 1), f: f}
	f.waiters = append(f.waiters, w)
	f.mu.Unlock()
	select {
	case f.started <- d:
	default: // nobody watches Timers; the test does not need them all
	}
	if d <= 0 && period == 0 {
		f.Advance(0)
	}
	return w
}

// Timers delivers the duration of every timer and ticker started on f, in
// the order they started. A test reads it to know that a loop is waiting,
// and for how long, before it advances the clock.
func (f *Fake) Timers() <-chan time.Duration { return f.started }

// Advance moves the clock forward by d and fires every timer and ticker
// that is due, in order of their due time. A ticker whose receiver is
// behind drops ticks, as time.Ticker does.
func (f *Fake) Advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	end := f.now.Add(d)
	for {
		slices.SortStableFunc(f.waiters, func(a, b *fakeWaiter) int { return a.at.Compare(b.at) })
		if len(f.waiters) == 0 || f.waiters[0].at.After(end) {
			break
		}
		w := f.waiters[0]
		f.now = w.at
		select {
		case w.c <- w.at:
		default:
		}
		if w.period > 0 {
			w.at = w.at.Add(w.period)
		} else {
			f.waiters = f.waiters[1:]
		}
	}
	f.now = end
}

// Waiting returns how many timers and tickers are active.
func (f *Fake) Waiting() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.waiters)
}

func (w *fakeWaiter) C() <-chan time.Time { return w.c }

func (w *fakeWaiter) Stop() bool {
	w.f.mu.Lock()
	defer w.f.mu.Unlock()
	i := slices.Index(w.f.waiters, w)
	if i < 0 {
		return false
	}
	w.f.waiters = slices.Delete(w.f.waiters, i, i+1)
	return true
}

func (w *fakeWaiter) reset(d time.Duration) {
	w.f.mu.Lock()
	i := slices.Index(w.f.waiters, w)
	if i < 0 {
		w.f.waiters = append(w.f.waiters, w)
	}
	w.at, w.period = w.f.now.Add(d), d
	w.f.mu.Unlock()
}
