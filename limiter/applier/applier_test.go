package applier

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/goleak"

	"github.com/headroomhq/headroom/config"
	"github.com/headroomhq/headroom/internal/clock"
	"github.com/headroomhq/headroom/limiter"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// cluster starts an in-process Kafka (kfake, real protocol) and an admin
// client on it.
func cluster(t *testing.T) (*kfake.Cluster, *kadm.Client) {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.RetryTimeout(2*time.Second))
	if err != nil {
		c.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close(); c.Close() })
	return c, kadm.NewClient(cl)
}

// sleeps is the applier's clock in these tests: a fake clock that records
// every backoff wait and lets it pass at once by moving the fake time on,
// so that retries are seen and no test waits real time.
type sleeps struct {
	*clock.Fake
	mu sync.Mutex
	d  []time.Duration
}

func newSleeps() *sleeps { return &sleeps{Fake: clock.NewFake(time.Unix(1_000_000, 0))} }

// NewTimer starts a timer on the fake clock and advances the clock past it.
func (s *sleeps) NewTimer(d time.Duration) clock.Timer {
	s.mu.Lock()
	s.d = append(s.d, d)
	s.mu.Unlock()
	t := s.Fake.NewTimer(d)
	s.Fake.Advance(d)
	return t
}

func newApplier(adm *kadm.Client, cfg Config, s *sleeps) *Applier {
	cfg.Clock = s
	return New(adm, cfg)
}

var (
	userA   = config.Entity{User: "alice"}
	clientB = config.Entity{ClientID: "billing"}
	both    = config.Entity{User: "carol", ClientID: "ledger"}
)

func inForce(t *testing.T, a *Applier, e config.Entity, d config.Direction) float64 {
	t.Helper()
	m, err := a.Describe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := m[e][KeyFor(d)]; ok {
		return v
	}
	return math.NaN()
}

func outcomes(rs []Result) map[string]Outcome {
	m := map[string]Outcome{}
	for _, r := range rs {
		m[r.Project+"/"+r.Direction.String()] = r.Outcome
	}
	return m
}

func TestApplyWritesEveryEntityKindAndReadsBack(t *testing.T) {
	_, adm := cluster(t)
	s := newSleeps()
	a := newApplier(adm, Config{}, s)
	ctx := context.Background()
	changes := []Change{
		{Project: "a", Entity: userA, Direction: config.Produce, Quota: 10 << 20},
		{Project: "a", Entity: userA, Direction: config.Fetch, Quota: 20 << 20},
		{Project: "b", Entity: clientB, Direction: config.Produce, Quota: 5 << 20},
		{Project: "c", Entity: both, Direction: config.Fetch, Quota: 7 << 20},
	}
	rs, err := a.Apply(ctx, changes)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		if r.Outcome != Written || r.Err != nil || r.InForce != r.Change.Quota || !math.IsNaN(r.Before) {
			t.Fatalf("%s %s: %s (%v), before %v, in force %v", r.Project, r.Direction, r.Outcome, r.Err, r.Before, r.InForce)
		}
		if got := inForce(t, a, r.Entity, r.Direction); got != r.Change.Quota {
			t.Fatalf("%s %s: Kafka has %v, want %v", r.Entity, r.Direction, got, r.Change.Quota)
		}
	}
	// The user+client-id entity is distinct from either part.
	if v := inForce(t, a, config.Entity{User: "carol"}, config.Fetch); !math.IsNaN(v) {
		t.Fatalf("user=carol alone got %v", v)
	}
	// The same plan again writes nothing.
	rs, err = a.Apply(ctx, changes)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		if r.Outcome != Unchanged || r.Attempts != 0 {
			t.Fatalf("second round %s: %s after %d attempts", r.Project, r.Outcome, r.Attempts)
		}
	}
}

// TestApplyWritesWhatIsPlanned: the applier does not second-guess the
// plan. Hysteresis is the allocator's (a small change is never planned), so
// a small increase that is not urgent is written like any other.
func TestApplyWritesWhatIsPlanned(t *testing.T) {
	_, adm := cluster(t)
	s := newSleeps()
	a := newApplier(adm, Config{}, s)
	ctx := context.Background()
	const base = 100_000.0
	seed := []Change{
		{Project: "small-up", Entity: config.Entity{User: "u1"}, Quota: base},
		{Project: "urgent-up", Entity: config.Entity{User: "u2"}, Quota: base},
		{Project: "short", Entity: config.Entity{User: "u3"}, Quota: base},
		{Project: "small-cut", Entity: config.Entity{User: "u4"}, Quota: base},
		{Project: "big-up", Entity: config.Entity{User: "u5"}, Quota: base},
	}
	if _, err := a.Apply(ctx, seed); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		c    Change
		want Outcome
	}{
		{Change{Project: "small-up", Entity: config.Entity{User: "u1"}, Quota: base * 1.03, Demand: base * 0.9}, Written},
		{Change{Project: "urgent-up", Entity: config.Entity{User: "u2"}, Quota: base * 1.03, Urgent: true}, Written},
		{Change{Project: "short", Entity: config.Entity{User: "u3"}, Quota: base * 1.03, Demand: base * 1.02}, Written},
		{Change{Project: "small-cut", Entity: config.Entity{User: "u4"}, Quota: base * 0.99, Demand: base}, Written},
		{Change{Project: "big-up", Entity: config.Entity{User: "u5"}, Quota: base * 1.2}, Written},
	}
	var changes []Change
	for _, tc := range cases {
		changes = append(changes, tc.c)
	}
	rs, err := a.Apply(ctx, changes)
	if err != nil {
		t.Fatal(err)
	}
	for i, tc := range cases {
		t.Run(tc.c.Project, func(t *testing.T) {
			if rs[i].Outcome != tc.want {
				t.Fatalf("outcome %s, want %s", rs[i].Outcome, tc.want)
			}
			want := tc.c.Quota
			if got := inForce(t, a, tc.c.Entity, config.Produce); got != want || rs[i].InForce != want {
				t.Fatalf("in force %v (reported %v), want %v", got, rs[i].InForce, want)
			}
		})
	}
}

func TestApplyNeverWritesNonPositiveOrNaN(t *testing.T) {
	_, adm := cluster(t)
	s := newSleeps()
	a := newApplier(adm, Config{}, s)
	cases := []struct {
		name  string
		quota float64
	}{
		{"zero", 0}, {"negative", -5}, {"NaN", math.NaN()}, {"infinite", math.Inf(1)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := config.Entity{User: "u-" + tc.name}
			rs, err := a.Apply(context.Background(), []Change{{Project: tc.name, Entity: e, Quota: tc.quota}})
			if err != nil {
				t.Fatal(err)
			}
			if rs[0].Outcome != Refused || rs[0].Err == nil {
				t.Fatalf("outcome %s (%v), want refused", rs[0].Outcome, rs[0].Err)
			}
			if v := inForce(t, a, e, config.Produce); !math.IsNaN(v) {
				t.Fatalf("Kafka has %v", v)
			}
		})
	}
	// A value below the minimum is raised to it, never written as is.
	rs, err := a.Apply(context.Background(), []Change{{Project: "tiny", Entity: config.Entity{User: "tiny"}, Quota: 3}})
	if err != nil {
		t.Fatal(err)
	}
	if rs[0].Outcome != Written || inForce(t, a, config.Entity{User: "tiny"}, config.Produce) != limiter.DefaultMinQuota {
		t.Fatalf("tiny quota: %s, in force %v", rs[0].Outcome, rs[0].InForce)
	}
}

// TestApplyWritesWholeBytes: Kafka keeps byte-rate quotas as longs and
// rejects a fractional value (the lab enforces the same rule), so a planned
// quota is written rounded down, never above the plan.
func TestApplyWritesWholeBytes(t *testing.T) {
	_, adm := cluster(t)
	s := newSleeps()
	a := newApplier(adm, Config{}, s)
	e := config.Entity{ClientID: "fraction"}
	rs, err := a.Apply(context.Background(), []Change{{Project: "f", Entity: e, Quota: 209550.00000000003}})
	if err != nil {
		t.Fatal(err)
	}
	if rs[0].Outcome != Written || rs[0].Change.Quota != 209550 || rs[0].InForce != 209550 {
		t.Fatalf("outcome %s (%v), written %v, in force %v; want 209550", rs[0].Outcome, rs[0].Err, rs[0].Change.Quota, rs[0].InForce)
	}
	// The same plan, fractional again, is unchanged against what Kafka has.
	rs, err = a.Apply(context.Background(), []Change{{Project: "f", Entity: e, Quota: 209550.7}})
	if err != nil {
		t.Fatal(err)
	}
	if rs[0].Outcome != Unchanged {
		t.Fatalf("second round: %s, want unchanged", rs[0].Outcome)
	}
}

// TestApplyValidatesThenAltersInBatches watches the requests on the wire:
// each batch is first sent with validateOnly, then for real, and no request
// carries more than BatchSize entities; cuts go before increases.
func TestApplyValidatesThenAltersInBatches(t *testing.T) {
	c, adm := cluster(t)
	s := newSleeps()
	ctx := context.Background()
	var init []Change
	for i := range 5 {
		u := fmt.Sprintf("u%d", i)
		init = append(init, Change{Project: u, Entity: config.Entity{User: u}, Quota: 1e6})
	}
	if _, err := New(adm, Config{Clock: s}).Apply(ctx, init); err != nil {
		t.Fatal(err)
	}
	type req struct {
		validate bool
		users    []string
	}
	var mu sync.Mutex
	var seen []req
	c.ControlKey(int16(kmsg.AlterClientQuotas), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		r := kreq.(*kmsg.AlterClientQuotasRequest)
		var users []string
		for _, e := range r.Entries {
			for _, part := range e.Entity {
				if part.Name != nil {
					users = append(users, *part.Name)
				}
			}
		}
		mu.Lock()
		seen = append(seen, req{r.ValidateOnly, users})
		mu.Unlock()
		return nil, nil, false // kfake handles it
	})
	a := New(adm, Config{BatchSize: 2, Clock: s})
	rs, err := a.Apply(ctx, []Change{
		{Project: "u0", Entity: config.Entity{User: "u0"}, Quota: 2e6},
		{Project: "u1", Entity: config.Entity{User: "u1"}, Quota: 0.5e6}, // a cut
		{Project: "u2", Entity: config.Entity{User: "u2"}, Quota: 3e6},
		{Project: "u3", Entity: config.Entity{User: "u3"}, Quota: 4e6},
		{Project: "u4", Entity: config.Entity{User: "u4"}, Quota: 5e6},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		if r.Outcome != Written {
			t.Fatalf("%s: %s (%v)", r.Project, r.Outcome, r.Err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	// One batch of cuts (u1), then the four increases in batches of two:
	// three batches, each validated then altered.
	if len(seen) != 6 {
		t.Fatalf("%d AlterClientQuotas requests, want 6: %+v", len(seen), seen)
	}
	for k := 0; k < len(seen); k += 2 {
		v, w := seen[k], seen[k+1]
		if !v.validate || w.validate || !slices.Equal(v.users, w.users) || len(v.users) > 2 {
			t.Fatalf("requests %d and %d: %+v then %+v; want a validateOnly request of at most 2 entities, then the same for real", k, k+1, v, w)
		}
	}
	if !slices.Equal(seen[0].users, []string{"u1"}) {
		t.Fatalf("first batch %v; the cut goes first", seen[0].users)
	}
}

func TestApplyWriteBudgetCutsFirst(t *testing.T) {
	_, adm := cluster(t)
	s := newSleeps()
	ctx := context.Background()
	seed := New(adm, Config{Clock: s})
	var init []Change
	for _, u := range []string{"c1", "c2", "i1", "i2", "i3"} {
		init = append(init, Change{Project: u, Entity: config.Entity{User: u}, Quota: 1e6})
	}
	if _, err := seed.Apply(ctx, init); err != nil {
		t.Fatal(err)
	}
	round := []Change{
		{Project: "i1", Entity: config.Entity{User: "i1"}, Quota: 1.5e6},
		{Project: "c1", Entity: config.Entity{User: "c1"}, Quota: 0.5e6},
		{Project: "i2", Entity: config.Entity{User: "i2"}, Quota: 3e6},
		{Project: "c2", Entity: config.Entity{User: "c2"}, Quota: 0.7e6},
		{Project: "i3", Entity: config.Entity{User: "i3"}, Quota: 1.2e6},
	}
	cases := []struct {
		name   string
		budget int
		want   map[string]Outcome
	}{
		{"three writes", 3, map[string]Outcome{"c1/produce": Written, "c2/produce": Written, "i2/produce": Written, "i1/produce": Deferred, "i3/produce": Deferred}},
		{"one write", 1, map[string]Outcome{"c1/produce": Written, "c2/produce": Deferred, "i1/produce": Deferred, "i2/produce": Deferred, "i3/produce": Deferred}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := seed.Apply(ctx, init); err != nil { // back to 1e6 everywhere
				t.Fatal(err)
			}
			a := New(adm, Config{WriteBudget: tc.budget, BatchSize: 2, Clock: s})
			rs, err := a.Apply(ctx, round)
			if err != nil {
				t.Fatal(err)
			}
			got := outcomes(rs)
			for k, w := range tc.want {
				if got[k] != w {
					t.Fatalf("%s: %s, want %s (all: %v)", k, got[k], w, got)
				}
			}
			for _, r := range rs {
				want := 1e6
				if r.Outcome == Written {
					want = r.Change.Quota
				}
				if v := inForce(t, a, r.Entity, config.Produce); v != want {
					t.Fatalf("%s in force %v, want %v", r.Project, v, want)
				}
			}
		})
	}
}

func TestApplyShadowWritesNothing(t *testing.T) {
	_, adm := cluster(t)
	s := newSleeps()
	a := newApplier(adm, Config{Shadow: true}, s)
	rs, err := a.Apply(context.Background(), []Change{{Project: "a", Entity: userA, Quota: 1e6}, {Project: "b", Entity: clientB, Quota: 2e6}})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		if r.Outcome != Shadow {
			t.Fatalf("%s: %s, want shadow", r.Project, r.Outcome)
		}
		if v := inForce(t, a, r.Entity, config.Produce); !math.IsNaN(v) {
			t.Fatalf("shadow mode wrote %v for %s", v, r.Entity)
		}
	}
}

func TestApplyRetriesWithBackoff(t *testing.T) {
	c, adm := cluster(t)
	s := newSleeps()
	a := newApplier(adm, Config{Attempts: 4, Backoff: 100 * time.Millisecond, MaxBackoff: 300 * time.Millisecond}, s)
	// The broker answers the flaky entity with a retriable error three
	// times (validate and alter share the request key), then accepts it.
	h := c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.AlterClientQuotas}, Resource: "flaky", Err: kerr.NotController, Count: 3})
	defer h.Remove()
	rs, err := a.Apply(context.Background(), []Change{
		{Project: "flaky", Entity: config.Entity{User: "flaky"}, Quota: 1e6},
		{Project: "steady", Entity: config.Entity{User: "steady"}, Quota: 2e6},
	})
	if err != nil {
		t.Fatal(err)
	}
	if rs[0].Outcome != Written || rs[0].Attempts != 4 || rs[0].InForce != 1e6 {
		t.Fatalf("flaky: %s after %d attempts (%v), in force %v", rs[0].Outcome, rs[0].Attempts, rs[0].Err, rs[0].InForce)
	}
	if rs[1].Outcome != Written || rs[1].Attempts != 1 {
		t.Fatalf("steady: %s after %d attempts", rs[1].Outcome, rs[1].Attempts)
	}
	// Steps of 100ms doubling up to 300ms, each with ±50% jitter.
	steps := []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 300 * time.Millisecond}
	if len(s.d) != len(steps) {
		t.Fatalf("backoff %v, want %d waits", s.d, len(steps))
	}
	for i, step := range steps {
		if s.d[i] < step/2 || s.d[i] > step*3/2+1 {
			t.Errorf("wait %d = %v, want within 50%% of %v", i, s.d[i], step)
		}
	}
	if h.Hits() != 3 {
		t.Fatalf("fault answered %d requests, want 3", h.Hits())
	}
}

// TestApplyBackoffWaitsOnItsClock: the wait between attempts is on the
// applier's clock, and the round's context ends it: a clock that never
// moves holds the retry until the context is cancelled, and the pending
// write then fails with the context's error.
func TestApplyBackoffWaitsOnItsClock(t *testing.T) {
	c, adm := cluster(t)
	clk := clock.NewFake(time.Unix(1_000_000, 0))
	a := New(adm, Config{Clock: clk})
	h := c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.AlterClientQuotas}, Resource: "flaky", Err: kerr.NotController, Count: -1})
	defer h.Remove()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	defer close(done)
	waited := make(chan time.Duration, 1)
	go func() {
		select {
		case d := <-clk.Timers():
			waited <- d
			cancel()
		case <-done:
		}
	}()
	rs, err := a.Apply(ctx, []Change{{Project: "flaky", Entity: config.Entity{User: "flaky"}, Quota: 1e6}})
	if err != nil {
		t.Fatal(err)
	}
	if rs[0].Outcome != Failed || !errors.Is(rs[0].Err, context.Canceled) || rs[0].Attempts != 1 {
		t.Fatalf("flaky: %s (%v) after %d attempts; want failed by the cancelled wait after one", rs[0].Outcome, rs[0].Err, rs[0].Attempts)
	}
	select {
	case d := <-waited:
		if step := 200 * time.Millisecond; d < step/2 || d > step*3/2+1 {
			t.Fatalf("waited %v, want within 50%% of the default first step %v", d, step)
		}
	default:
		t.Fatal("the applier failed the write without waiting on its clock")
	}
}

func TestApplyFailureKeepsLastGoodAndHoldsIncreases(t *testing.T) {
	c, adm := cluster(t)
	s := newSleeps()
	ctx := context.Background()
	a := newApplier(adm, Config{}, s)
	if _, err := a.Apply(ctx, []Change{
		{Project: "denied", Entity: config.Entity{ClientID: "denied"}, Quota: 4e6},
		{Project: "up", Entity: config.Entity{ClientID: "up"}, Quota: 1e6},
	}); err != nil {
		t.Fatal(err)
	}
	// Not retriable: the broker refuses this entity for good.
	h := c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.AlterClientQuotas}, Resource: "denied", Err: kerr.InvalidRequest, Count: -1})
	defer h.Remove()
	rs, err := a.Apply(ctx, []Change{
		{Project: "denied", Entity: config.Entity{ClientID: "denied"}, Quota: 2e6}, // a cut
		{Project: "up", Entity: config.Entity{ClientID: "up"}, Quota: 3e6},         // an increase that counts on it
	})
	if err != nil {
		t.Fatal(err)
	}
	if rs[0].Outcome != Failed || !errors.Is(rs[0].Err, kerr.InvalidRequest) || rs[0].Attempts != 1 {
		t.Fatalf("denied: %s (%v) after %d attempts", rs[0].Outcome, rs[0].Err, rs[0].Attempts)
	}
	if rs[0].InForce != 4e6 || inForce(t, a, config.Entity{ClientID: "denied"}, config.Produce) != 4e6 {
		t.Fatalf("denied: in force %v, want the last good 4e6", rs[0].InForce)
	}
	if rs[1].Outcome != Deferred || inForce(t, a, config.Entity{ClientID: "up"}, config.Produce) != 1e6 {
		t.Fatalf("up: %s, in force %v; an increase must wait for a failed cut", rs[1].Outcome, rs[1].InForce)
	}
	if len(s.d) != 0 {
		t.Fatalf("a permanent error was retried: %v", s.d)
	}
}

func TestApplyFailsWhenQuotasCannotBeRead(t *testing.T) {
	c, adm := cluster(t)
	s := newSleeps()
	a := newApplier(adm, Config{Attempts: 2}, s)
	h := c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.DescribeClientQuotas}, TopLevel: true, Err: kerr.ClusterAuthorizationFailed, Count: -1})
	defer h.Remove()
	if _, err := a.Apply(context.Background(), []Change{{Project: "a", Entity: userA, Quota: 1e6}}); err == nil {
		t.Fatal("apply went ahead without knowing the quotas in force")
	}
}

func TestFromPlan(t *testing.T) {
	p := limiter.Plan{Group: "g", Direction: config.Fetch, Decisions: []limiter.Decision{
		{Project: "a", Before: 10, After: 20, Demand: 15, Write: true},
		{Project: "b", Before: 10, After: 10},
		{Project: "c", Before: 30, After: 20, Demand: 10, Write: true},
	}}
	cs, err := FromPlan(p, map[string]config.Entity{"a": userA, "b": clientB, "c": both})
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 2 || cs[0].Project != "a" || !cs[0].Urgent || cs[1].Urgent || cs[1].Direction != config.Fetch || cs[1].Entity != both {
		t.Fatalf("changes %+v", cs)
	}
	if _, err := FromPlan(p, map[string]config.Entity{"a": userA}); err == nil {
		t.Fatal("a project without an entity was accepted")
	}
}
