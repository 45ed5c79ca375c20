package ha

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Short timeouts so the group notices a lost member quickly; kfake's
// minimum session timeout is lowered to allow them.
const (
	testSession = time.Second
	testLease   = 400 * time.Millisecond
	waitLimit   = 20 * time.Second
)

func newCluster(t *testing.T) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.GroupMinSessionTimeout(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// cutter is a dialer whose connections can all be severed at once. It is a
// test double for a network partition between one replica and the
// cluster, which kfake cannot cause for one client only.
type cutter struct {
	mu    sync.Mutex
	cut   bool
	conns []net.Conn
}

func (c *cutter) dial(ctx context.Context, network, host string) (net.Conn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cut {
		return nil, errors.New("network cut")
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, host)
	if err == nil {
		c.conns = append(c.conns, conn)
	}
	return conn, err
}

func (c *cutter) sever() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cut = true
	for _, conn := range c.conns {
		conn.Close()
	}
	c.conns = nil
}

// tracker records every replica's latest status and holds the invariant:
// never two writable replicas at once.
type tracker struct {
	t       *testing.T
	mu      sync.Mutex
	latest  map[string]Status
	changed chan struct{} // closed and replaced on every change
}

func newTracker(t *testing.T) *tracker {
	return &tracker{t: t, latest: map[string]Status{}, changed: make(chan struct{})}
}

func (k *tracker) on(name string) func(Status) {
	return func(s Status) {
		k.mu.Lock()
		defer k.mu.Unlock()
		k.latest[name] = s
		n := 0
		for _, l := range k.latest {
			if l.Writable {
				n++
			}
		}
		if n > 1 {
			k.t.Errorf("%d replicas writable at once after %s changed to %+v", n, name, s)
		}
		close(k.changed)
		k.changed = make(chan struct{})
	}
}

// wait returns the status of name once it satisfies ok.
func (k *tracker) wait(name string, ok func(Status) bool) Status {
	k.t.Helper()
	_, s := k.waitAny([]string{name}, ok)
	return s
}

// waitAny returns the first of names (and its status) whose latest status
// satisfies ok.
func (k *tracker) waitAny(names []string, ok func(Status) bool) (string, Status) {
	k.t.Helper()
	timer := time.NewTimer(waitLimit)
	defer timer.Stop()
	for {
		k.mu.Lock()
		for _, n := range names {
			if s, seen := k.latest[n]; seen && ok(s) {
				k.mu.Unlock()
				return n, s
			}
		}
		ch := k.changed
		k.mu.Unlock()
		select {
		case <-ch:
		case <-timer.C:
			k.t.Fatalf("none of %v had a status as expected within %s", names, waitLimit)
		}
	}
}

func start(t *testing.T, c *kfake.Cluster, k *tracker, name string, cut, confirmCut *cutter) *Replica {
	t.Helper()
	opts := []kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)}
	if cut != nil {
		opts = append(opts, kgo.Dialer(cut.dial))
	}
	var confirmOpts []kgo.Opt
	if confirmCut != nil {
		confirmOpts = append(confirmOpts, kgo.Dialer(confirmCut.dial))
	}
	r, err := Start(t.Context(), Options{
		Kafka: opts, GroupID: "headroom", ControlTopic: "_headroom_control", ReplicaID: name,
		SessionTimeout: testSession, Lease: testLease, OnChange: k.on(name), confirmOpts: confirmOpts,
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func isActive(s Status) bool    { return s.Active && s.Writable }
func notWritable(s Status) bool { return !s.Writable }

func TestExactlyOneActive(t *testing.T) {
	for _, n := range []int{2, 3} {
		t.Run(fmt.Sprintf("%d replicas", n), func(t *testing.T) {
			c := newCluster(t)
			k := newTracker(t)
			rs := map[string]*Replica{}
			var names []string
			for i := range n {
				name := fmt.Sprintf("r%d", i)
				names = append(names, name)
				rs[name] = start(t, c, k, name, nil, nil)
			}
			defer func() {
				for _, r := range rs {
					r.Close()
				}
			}()
			leader, s := k.waitAny(names, isActive)
			if s.Epoch <= 0 {
				t.Errorf("leader %s has epoch %d, want a group generation > 0", leader, s.Epoch)
			}
			// Every standby reads who leads from the control topic.
			for _, name := range names {
				if name != leader {
					k.wait(name, func(s Status) bool { return s.Leader == leader && s.LeaderEpoch == s0Epoch(s, leader, rs) })
				}
			}
			// Every replica asks for a permit: only the leader gets one.
			for _, name := range names {
				_, err := rs[name].Authorize(t.Context(), 1, "digest")
				switch {
				case name == leader && err != nil:
					t.Errorf("leader %s: %v", name, err)
				case name != leader && !errors.Is(err, ErrStandby):
					t.Errorf("standby %s: err %v, want ErrStandby", name, err)
				}
			}
		})
	}
}

func TestFailover(t *testing.T) {
	for _, how := range []string{"leaves", "cut off"} {
		t.Run(how, func(t *testing.T) {
			c := newCluster(t)
			k := newTracker(t)
			rs := map[string]*Replica{}
			cuts := map[string]*cutter{}
			var names []string
			for i := range 3 {
				name := fmt.Sprintf("r%d", i)
				names = append(names, name)
				cuts[name] = &cutter{}
				rs[name] = start(t, c, k, name, cuts[name], nil)
			}
			closed := map[string]bool{}
			defer func() {
				for n, r := range rs {
					if !closed[n] {
						r.Close()
					}
				}
			}()
			old, s := k.waitAny(names, isActive)
			p, err := rs[old].Authorize(t.Context(), 1, "before")
			if err != nil {
				t.Fatalf("leader %s: %v", old, err)
			}
			var rest []string
			for _, n := range names {
				if n != old {
					rest = append(rest, n)
				}
			}
			lost := time.Now()
			switch how {
			case "leaves":
				rs[old].Close()
				closed[old] = true
			case "cut off":
				cuts[old].sever()
				k.wait(old, notWritable)
				if _, err := rs[old].Authorize(t.Context(), 2, "cut"); err == nil {
					t.Errorf("a replica cut off was authorised to write")
				}
			}
			next, ns := k.waitAny(rest, isActive)
			if ns.Epoch <= s.Epoch {
				t.Errorf("new leader %s epoch %d, not above the old one's %d", next, ns.Epoch, s.Epoch)
			}
			np, err := rs[next].Authorize(t.Context(), 2, "after")
			if err != nil {
				t.Fatalf("new leader %s: %v", next, err)
			}
			// The new leader's first permit starts after the old one's
			// last permit ran out.
			first := np.Until.Add(-testLease)
			if !first.After(p.Until) {
				t.Errorf("new leader's first permit starts at %s, before the old permit ended at %s", first, p.Until)
			}
			t.Logf("%s: new leader %s writable %s after the old one was lost", how, next, time.Since(lost).Round(time.Millisecond))
		})
	}
}

func TestFencedZombieCannotCommit(t *testing.T) {
	c := newCluster(t)
	k := newTracker(t)
	r := start(t, c, k, "zombie", nil, nil)
	defer r.Close()
	k.wait("zombie", isActive)
	if _, err := r.Authorize(t.Context(), 1, "a"); err != nil {
		t.Fatal(err)
	}
	// Another process takes the transactional id, as a new leader's
	// takeover does: its InitProducerID fences this replica's producer
	// while this replica still believes it is active.
	other, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.TransactionalID("headroom-fence"))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := commitIntent(t.Context(), other, "_headroom_control", Intent{Replica: "newer", Epoch: 99, Round: TakeoverRound}); err != nil {
		t.Fatal(err)
	}
	_, err = r.Authorize(t.Context(), 2, "b")
	if !errors.Is(err, ErrFenced) {
		t.Fatalf("zombie's intent: err %v, want ErrFenced", err)
	}
	if s := r.Status(); s.Active || s.Writable {
		t.Errorf("fenced replica still reports %+v", s)
	}
	if _, err := r.Authorize(t.Context(), 3, "c"); !errors.Is(err, ErrStandby) {
		t.Errorf("after fencing: err %v, want ErrStandby", err)
	}
}

func TestLeaseExpiryStopsWriting(t *testing.T) {
	c := newCluster(t)
	k := newTracker(t)
	// Only the confirmations are cut: the group client keeps its session,
	// so what stops the writes is the lease alone.
	cut := &cutter{}
	r := start(t, c, k, "alone", nil, cut)
	defer r.Close()
	k.wait("alone", isActive)
	p, err := r.Authorize(t.Context(), 1, "a")
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Until(p.Until); d > testLease {
		t.Errorf("permit lasts %s, longer than the lease %s", d, testLease)
	}
	cut.sever()
	severed := time.Now()
	s := k.wait("alone", notWritable)
	if !s.Active {
		t.Errorf("the group client kept its session, yet the replica dropped its assignment: %+v", s)
	}
	// The lease ran out before the session could: nobody else could have
	// been elected yet.
	if lapsed := time.Since(severed); lapsed >= testSession {
		t.Errorf("writing stopped %s after the cut, not within the session timeout %s", lapsed, testSession)
	}
	if _, err := r.Authorize(t.Context(), 2, "b"); !errors.Is(err, ErrLeaseExpired) {
		t.Errorf("after the lease: err %v, want ErrLeaseExpired", err)
	}
}

func TestStartErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    Options
		want string
	}{
		{"no group", Options{ControlTopic: "x"}, "group_id is required"},
		{"no topic", Options{GroupID: "g"}, "control topic is required"},
		{"lease too long", Options{GroupID: "g", ControlTopic: "x", SessionTimeout: time.Second, Lease: time.Second}, "must be shorter"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Start(t.Context(), tc.o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err %v, want %q", err, tc.want)
			}
		})
	}
}

// s0Epoch is the epoch the leader reports.
func s0Epoch(_ Status, leader string, rs map[string]*Replica) int32 { return rs[leader].Status().Epoch }
