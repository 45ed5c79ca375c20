package ha

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestEnsureTopics(t *testing.T) {
	c := newCluster(t)
	kafka := []kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)}
	state := Topic{Name: "_headroom_state", Compacted: true}
	events := Topic{Name: "_headroom_events", Retention: time.Hour}
	if err := EnsureTopics(t.Context(), kafka, state, events); err != nil {
		t.Fatal(err)
	}
	// A second start finds them with the right policies.
	if err := EnsureTopics(t.Context(), kafka, state, events); err != nil {
		t.Fatalf("second start: %v", err)
	}
	for _, tc := range []struct {
		name string
		t    Topic
		want string
	}{
		{"events as compacted", Topic{Name: "_headroom_events", Compacted: true}, "exists with cleanup.policy=delete, want compact"},
		{"state as deleted", Topic{Name: "_headroom_state"}, "exists with cleanup.policy=compact, want delete"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := EnsureTopics(t.Context(), kafka, tc.t)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.t.Name) {
				t.Errorf("err %v, want one naming %s and %q", err, tc.t.Name, tc.want)
			}
		})
	}
}

func TestCheckTransactions(t *testing.T) {
	c := newCluster(t)
	kafka := []kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)}
	if err := EnsureTopics(t.Context(), kafka, Topic{Name: "ctl"}); err != nil {
		t.Fatal(err)
	}
	if err := CheckTransactions(t.Context(), kafka, "headroom-probe", "ctl"); err != nil {
		t.Fatalf("kfake supports transactions: %v", err)
	}
	// A cluster that answers InitProducerID with an error refuses
	// transactions. kfake supports them, so the refusal is injected with
	// its request hook: the one fault here that kfake cannot cause.
	c.ControlKey(int16(kmsg.InitProducerID), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		resp := kreq.ResponseKind().(*kmsg.InitProducerIDResponse)
		resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
		return resp, nil, true
	})
	err := CheckTransactions(t.Context(), kafka, "headroom-probe-2", "ctl")
	if err == nil || !strings.Contains(err.Error(), "refuses transactions") {
		t.Fatalf("err %v, want a refusal", err)
	}
}

func TestJournalMaterialisesEveryReplica(t *testing.T) {
	c := newCluster(t)
	kafka := []kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)}
	topics := []Topic{{Name: "s", Compacted: true}, {Name: "e", Retention: time.Hour}}
	if err := EnsureTopics(t.Context(), kafka, topics...); err != nil {
		t.Fatal(err)
	}
	type replica struct {
		j   *Journal
		mu  sync.Mutex
		kv  map[string]string
		n   int
		end context.CancelFunc
		wg  sync.WaitGroup
	}
	open := func() *replica {
		r := &replica{kv: map[string]string{}}
		j, err := NewJournal(kafka, []string{"s", "e"}, func(_ context.Context, topic string, k, v []byte) error {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.kv[topic+"/"+string(k)] = string(v)
			r.n++
			return nil
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
		r.j = j
		ctx, cancel := context.WithCancel(context.Background())
		r.end = cancel
		r.wg.Add(1)
		go func() { defer r.wg.Done(); j.Run(ctx) }()
		return r
	}
	stop := func(r *replica) { r.end(); r.j.Close(); r.wg.Wait() }
	a, b := open(), open()
	defer stop(b)
	for i, kv := range [][3]string{{"s", "override/p", "v1"}, {"e", "audit/1", "x"}, {"s", "override/p", "v2"}, {"e", "audit/2", "y"}} {
		w := a
		if i%2 == 1 {
			w = b // a standby's writes go through the topic too
		}
		if err := w.j.Publish(t.Context(), kv[0], []byte(kv[1]), []byte(kv[2])); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]string{"s/override/p": "v2", "e/audit/1": "x", "e/audit/2": "y"}
	for name, r := range map[string]*replica{"a": a, "b": b} {
		if err := r.j.CatchUp(t.Context()); err != nil {
			t.Fatal(err)
		}
		r.mu.Lock()
		if !mapsEqual(r.kv, want) || r.n != 4 {
			t.Errorf("replica %s has %v after %d records, want %v after 4", name, r.kv, r.n, want)
		}
		r.mu.Unlock()
		if lag := r.j.Lag(); lag != 0 {
			t.Errorf("replica %s lag %d after catching up", name, lag)
		}
	}
	stop(a)
	// A replica started afresh (local state lost) rebuilds it from the
	// topics alone.
	fresh := open()
	defer stop(fresh)
	if err := fresh.j.CatchUp(t.Context()); err != nil {
		t.Fatal(err)
	}
	fresh.mu.Lock()
	defer fresh.mu.Unlock()
	if !mapsEqual(fresh.kv, want) {
		t.Errorf("fresh replica has %v, want %v", fresh.kv, want)
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
