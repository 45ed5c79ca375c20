package clock

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"
)

// Real follows the time package, so inside a synctest bubble its timers
// run on the bubble's clock: the test waits no real time.
func TestRealInBubble(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := Real.Now()
		if err := Sleep(t.Context(), Real, 3*time.Second); err != nil {
			t.Fatal(err)
		}
		if got := Real.Now().Sub(start); got != 3*time.Second {
			t.Fatalf("slept %v, want 3s", got)
		}
		tk := Real.NewTicker(time.Second)
		defer tk.Stop()
		for i := 1; i <= 3; i++ {
			at := <-tk.C()
			if want := start.Add(3*time.Second + time.Duration(i)*time.Second); !at.Equal(want) {
				t.Fatalf("tick %d at %v, want %v", i, at, want)
			}
		}
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		if err := Sleep(ctx, Real, time.Hour); err != context.DeadlineExceeded {
			t.Fatalf("Sleep past the context = %v, want the deadline", err)
		}
		if err := Sleep(ctx, Real, 0); err != context.DeadlineExceeded {
			t.Fatalf("Sleep on a done context = %v", err)
		}
	})
}

func TestFake(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	t.Run("timers fire in due order when the clock passes them", func(t *testing.T) {
		f := NewFake(t0)
		late, early := f.NewTimer(2*time.Second), f.NewTimer(time.Second)
		if got := []time.Duration{<-f.Timers(), <-f.Timers()}; got[0] != 2*time.Second || got[1] != time.Second {
			t.Fatalf("timers announced %v", got)
		}
		f.Advance(999 * time.Millisecond)
		select {
		case <-early.C():
			t.Fatal("fired early")
		default:
		}
		f.Advance(time.Millisecond)
		if at := <-early.C(); !at.Equal(t0.Add(time.Second)) {
			t.Fatalf("fired at %v", at)
		}
		if f.Waiting() != 1 {
			t.Fatalf("%d waiting, want the late timer", f.Waiting())
		}
		if !late.Stop() || late.Stop() {
			t.Fatal("Stop reports wrong")
		}
		f.Advance(time.Hour)
		select {
		case <-late.C():
			t.Fatal("a stopped timer fired")
		default:
		}
		if !f.Now().Equal(t0.Add(time.Hour + time.Second)) {
			t.Fatalf("now %v", f.Now())
		}
	})
	t.Run("ticker ticks each period and drops what its reader misses", func(t *testing.T) {
		f := NewFake(t0)
		tk := f.NewTicker(10 * time.Second)
		f.Advance(10 * time.Second)
		if at := <-tk.C(); !at.Equal(t0.Add(10 * time.Second)) {
			t.Fatalf("tick at %v", at)
		}
		f.Advance(35 * time.Second) // three ticks due, one buffered
		if at := <-tk.C(); !at.Equal(t0.Add(20 * time.Second)) {
			t.Fatalf("tick at %v, want the first missed one", at)
		}
		select {
		case at := <-tk.C():
			t.Fatalf("a second buffered tick at %v", at)
		default:
		}
		tk.Reset(time.Second)
		f.Advance(time.Second)
		if at := <-tk.C(); !at.Equal(t0.Add(46 * time.Second)) {
			t.Fatalf("tick after reset at %v", at)
		}
		tk.Stop()
		if f.Waiting() != 0 {
			t.Fatalf("%d waiting after Stop", f.Waiting())
		}
	})
	t.Run("Sleep returns when the clock is advanced or the context ends", func(t *testing.T) {
		f := NewFake(t0)
		done := make(chan error)
		go func() { done <- Sleep(context.Background(), f, time.Minute) }()
		if d := <-f.Timers(); d != time.Minute {
			t.Fatalf("sleep started a %v timer", d)
		}
		f.Advance(time.Minute)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		go func() { done <- Sleep(ctx, f, time.Minute) }()
		<-f.Timers()
		cancel()
		if err := <-done; err != context.Canceled {
			t.Fatalf("Sleep = %v, want canceled", err)
		}
		if f.Waiting() != 0 {
			t.Fatalf("the cancelled sleep left %d timers", f.Waiting())
		}
	})
	t.Run("a zero timer fires at once", func(t *testing.T) {
		f := NewFake(t0)
		if at := <-f.NewTimer(0).C(); !at.Equal(t0) {
			t.Fatalf("fired at %v", at)
		}
	})
}

// A Driven clock's ticker ticks when told, whatever its period; its time
// is its base's.
func TestDriven(t *testing.T) {
	f := NewFake(time.Unix(5, 0))
	d := NewDriven(f)
	tk := d.NewTicker(time.Hour)
	defer tk.Stop()
	go func() { d.Tick() <- time.Unix(7, 0) }()
	if at := <-tk.C(); !at.Equal(time.Unix(7, 0)) {
		t.Fatalf("tick %v", at)
	}
	f.Advance(2 * time.Hour)
	select {
	case at := <-tk.C():
		t.Fatalf("ticked by itself at %v", at)
	default:
	}
	if !d.Now().Equal(time.Unix(5, 0).Add(2 * time.Hour)) {
		t.Fatalf("now %v, want the base's", d.Now())
	}
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
