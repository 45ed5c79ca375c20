package kafkaadmin

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// cluster starts an in-process Kafka (kfake) and returns a client to it.
func cluster(t *testing.T, opts ...kfake.Opt) (*kgo.Client, *kadm.Client) {
	t.Helper()
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.DefaultProduceTopic("pay"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl, kadm.NewClient(cl)
}

func TestPlacement(t *testing.T) {
	_, adm := cluster(t, kfake.NumBrokers(3), kfake.SeedTopics(6, "orders"), kfake.SeedTopics(2, "pay"))
	r := NewReader(adm, time.Now, 3)
	ctx := context.Background()
	p, err := r.Placement(ctx)
	if err != nil {
		t.Fatal(err)
	}
	md, err := adm.Metadata(ctx, "orders", "pay")
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Leaders) != 3 {
		t.Errorf("brokers in placement = %d, want 3: %+v", len(p.Leaders), p.Leaders)
	}
	seen := map[TopicPartition]int32{}
	for b, tps := range p.Leaders {
		for _, tp := range tps {
			if _, dup := seen[tp]; dup {
				t.Errorf("%+v led twice", tp)
			}
			seen[tp] = b
		}
	}
	if len(seen) != 8 || len(p.Leaderless) != 0 {
		t.Fatalf("placement holds %d partitions (%d leaderless), want 8", len(seen), len(p.Leaderless))
	}
	for _, td := range md.Topics {
		for _, pd := range td.Partitions {
			if seen[TopicPartition{td.Topic, pd.Partition}] != pd.Leader {
				t.Errorf("%s/%d leader = %d in placement, %d in metadata", td.Topic, pd.Partition, seen[TopicPartition{td.Topic, pd.Partition}], pd.Leader)
			}
		}
	}
}

func produce(t *testing.T, cl *kgo.Client, n int) {
	t.Helper()
	for range n {
		if err := cl.ProduceSync(context.Background(), &kgo.Record{Value: []byte("x")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
}

func commit(t *testing.T, adm *kadm.Client, group string, offset int64) {
	t.Helper()
	var os kadm.Offsets
	os.AddOffset("pay", 0, offset, -1)
	resp, err := adm.CommitOffsets(context.Background(), group, os)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		t.Fatal(err)
	}
}

func TestLagAndStatusOverAWindow(t *testing.T) {
	cl, adm := cluster(t, kfake.NumBrokers(1), kfake.SeedTopics(1, "pay"))
	now := time.Unix(1_700_000_000, 0)
	r := NewReader(adm, func() time.Time { return now }, 3)
	ctx := context.Background()
	produce(t, cl, 10)

	var gs []GroupLag
	read := func() {
		t.Helper()
		var err error
		if gs, err = r.Lag(ctx); err != nil {
			t.Fatal(err)
		}
	}
	group := func(name string) GroupLag {
		t.Helper()
		for _, g := range gs {
			if g.Group == name {
				return g
			}
		}
		t.Fatalf("group %s not in %+v", name, gs)
		return GroupLag{}
	}

	// "stuck" never moves; "behind" advances slower than the producer;
	// "caught-up" reaches the end once.
	commit(t, adm, "stuck", 4)
	commit(t, adm, "behind", 4)
	commit(t, adm, "caught-up", 4)
	var stuck, behind, caught GroupLag
	for round := range 3 {
		if round > 0 {
			produce(t, cl, 2)
			commit(t, adm, "behind", int64(4+round))
		}
		if round == 1 {
			commit(t, adm, "caught-up", 12)
		}
		now = now.Add(15 * time.Second)
		read()
		stuck, behind, caught = group("stuck"), group("behind"), group("caught-up")
	}
	p := stuck.Partitions[0]
	if p.Committed != 4 || p.End != 14 || p.Lag != 10 || stuck.TotalLag != 10 {
		t.Errorf("stuck partition = %+v", p)
	}
	if stuck.Status != StatusStop || !stuck.Complete {
		t.Errorf("stuck (no members, no progress) = %s complete=%v, want STOP", stuck.Status, stuck.Complete)
	}
	if behind.Status != StatusWarn || behind.TotalLag != 8 {
		t.Errorf("behind = %s lag %d, want WARN lag 8", behind.Status, behind.TotalLag)
	}
	if caught.Status != StatusOK {
		t.Errorf("caught-up = %s %+v, want OK (zero lag inside the window)", caught.Status, caught)
	}
}

func TestEvaluate(t *testing.T) {
	o := func(c, l int64) Observation { return Observation{c, l} }
	cases := []struct {
		name    string
		w       []Observation
		members bool
		want    Status
	}{
		{"empty", nil, true, StatusOK},
		{"zero lag once", []Observation{o(1, 5), o(2, 0), o(3, 4)}, true, StatusOK},
		{"single reading", []Observation{o(1, 5)}, true, StatusOK},
		{"stalled with members", []Observation{o(1, 5), o(1, 6), o(1, 9)}, true, StatusStall},
		{"stopped without members", []Observation{o(1, 5), o(1, 5)}, false, StatusStop},
		{"falling behind", []Observation{o(1, 5), o(2, 5), o(3, 7)}, true, StatusWarn},
		{"catching up", []Observation{o(1, 9), o(5, 7), o(9, 8)}, true, StatusOK},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Evaluate(tc.w, tc.members); got != tc.want {
				t.Errorf("Evaluate = %s, want %s", got, tc.want)
			}
		})
	}
}

// TestStallWithAMember joins a real consumer group member (kgo) that
// commits once and then keeps its offset: lag grows, the group is not
// empty, so the status is STALL rather than STOP.
func TestStallWithAMember(t *testing.T) {
	cl, adm := cluster(t, kfake.NumBrokers(1), kfake.SeedTopics(1, "pay"))
	produce(t, cl, 5)
	consumer, err := kgo.NewClient(kgo.SeedBrokers(cl.OptValue(kgo.SeedBrokers).([]string)...),
		kgo.ConsumerGroup("slow"), kgo.ConsumeTopics("pay"), kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	got := 0
	for got < 2 {
		fs := consumer.PollRecords(ctx, 2)
		if err := ctx.Err(); err != nil {
			t.Fatalf("poll: %v", err)
		}
		got += fs.NumRecords()
	}
	if err := consumer.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_700_000_000, 0)
	r := NewReader(adm, func() time.Time { return now }, 3)
	var g GroupLag
	for range 3 {
		produce(t, cl, 1)
		now = now.Add(15 * time.Second)
		gs, err := r.Lag(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(gs) != 1 {
			t.Fatalf("groups = %+v", gs)
		}
		g = gs[0]
	}
	if g.State != "Stable" || g.Status != StatusStall || g.TotalLag <= 0 {
		t.Errorf("group = %+v, want Stable, STALL, positive lag", g)
	}
}
