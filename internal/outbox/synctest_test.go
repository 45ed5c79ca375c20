package outbox

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/headroomhq/headroom/internal/retry"
)

// On the real clock (the default), inside a synctest bubble: the time
// between attempts is the backoff's, within its jitter, and a receiver
// back up gets the item at the next attempt. No real time passes.
func TestRealClockInBubble(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var at []time.Time
		fail := 3
		o, err := New(Options[item]{Kind: "test", MinBackoff: time.Second, MaxBackoff: time.Minute}, []Destination[item]{{ID: "r", Label: "r", Deliver: func(context.Context, []item) error {
			at = append(at, time.Now()) // only the loop's goroutine delivers
			if len(at) <= fail {
				return errors.New("down")
			}
			return nil
		}}})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { o.Run(ctx); close(done) }()
		o.Push(item{"a", "1"})
		// Bubble time: a minute is more than the three waits can take.
		time.Sleep(time.Minute)
		synctest.Wait()
		if n := o.Pending()["r"]; n != 0 {
			t.Fatalf("%d still queued", n)
		}
		cancel()
		<-done
		if len(at) != fail+1 {
			t.Fatalf("%d attempts, want %d", len(at), fail+1)
		}
		for i, step := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second} {
			gap := at[i+1].Sub(at[i])
			lo, hi := retry.Range(step)
			if gap < lo || gap > hi {
				t.Errorf("gap %d = %v, want within [%v, %v]", i, gap, lo, hi)
			}
		}
	})
}
