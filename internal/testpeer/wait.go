package testpeer

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// WaitPoll is how often Eventually checks its condition.
const WaitPoll = 20 * time.Millisecond

// Eventually waits until cond holds, checking it every WaitPoll, and
// returns when it first held; it fails the test after timeout.
//
// It is for one case only: the condition depends on real bytes flowing
// through a real peer (Kafka, Prometheus, Alertmanager, a listening
// Headroom), which no fake clock can hurry. Each caller says so in a
// one-line comment. A loop that runs on Headroom's own clock is tested
// with testing/synctest or a clock.Fake instead.
func Eventually(t testing.TB, what string, timeout time.Duration, cond func() bool) time.Time {
	t.Helper()
	return EventuallyNil(t, what, timeout, func() error {
		if cond() {
			return nil
		}
		return errNotYet
	})
}

var errNotYet = errors.New("condition not met")

// EventuallyNil is Eventually for a condition that says why it does not
// hold yet: it waits until cond returns nil, and fails the test with the
// last error after timeout.
func EventuallyNil(t testing.TB, what string, timeout time.Duration, cond func() error) time.Time {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(WaitPoll)
	defer tick.Stop()
	for {
		err := cond()
		if err == nil {
			return time.Now()
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s: %v", timeout, what, err)
		}
		<-tick.C
	}
}

// Gathered returns the value of the series of the counter or gauge name
// in g whose labels include every pair of labels; 0 when there is none.
func Gathered(t testing.TB, g prometheus.Gatherer, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, lp := range m.GetLabel() {
				have[lp.GetName()] = lp.GetValue()
			}
			for k, v := range labels {
				if have[k] != v {
					continue series
				}
			}
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return 0
}

// Exposition returns everything g gathers as text, for tests that look
// for a label or check that a secret is absent.
func Exposition(t testing.TB, g prometheus.Gatherer) string {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	var b strings.Builder
	for _, mf := range mfs {
		b.WriteString(mf.String())
	}
	return b.String()
}

// RoundFromEnv is the round of a test that runs Headroom's round loop on
// wall time: the duration the environment variable name sets (at least
// 1s; 15s is the configuration's default, to run as deployed), else 2s,
// which keeps make test short.
func RoundFromEnv(t testing.TB, name string) time.Duration {
	t.Helper()
	if s := os.Getenv(name); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d < time.Second {
			t.Fatalf("%s=%q: want a duration of at least 1s", name, s)
		}
		return d
	}
	return 2 * time.Second
}
