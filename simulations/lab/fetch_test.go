package lab

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestFetchThrottling: a consumer reading a backlog as fast as it can, with
// a fetch quota, is served at the quota (±10%) and its Fetch throttle time
// is above zero. Batches are small (32 KiB): a fetch returns whole batches,
// and one response must be a small lump of a window's worth of quota.
func TestFetchThrottling(t *testing.T) {
	t.Parallel()
	const quota = 1 << 20
	w := Window{Samples: 11, SampleWindow: 400 * time.Millisecond}
	window := time.Duration(w.Samples) * w.SampleWindow
	c := startLab(t, Config{
		Brokers:  1,
		Window:   w,
		Projects: []Project{{Name: "a", Leaders: []int32{0, 0, 0, 0, 0, 0, 0, 0}, Quota: Rates{Fetch: quota}}},
	})
	prod, err := kgo.NewClient(kgo.SeedBrokers(c.Bootstrap()...), kgo.ClientID("a"), kgo.DefaultProduceTopic("a.events"),
		kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.ProducerBatchMaxBytes(32<<10))
	if err != nil {
		t.Fatal(err)
	}
	backlog := 4 * quota * int(window.Seconds()+1) // more than the test reads
	for range backlog / (16 << 10) {
		prod.Produce(t.Context(), &kgo.Record{Value: make([]byte, 16<<10)}, func(_ *kgo.Record, err error) {
			if err != nil {
				t.Errorf("produce: %v", err)
			}
		})
	}
	if err := prod.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	prod.Close()

	cons, err := kgo.NewClient(kgo.SeedBrokers(c.Bootstrap()...), kgo.ClientID("a"), kgo.ConsumeTopics("a.events"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxBytes(256<<10), kgo.FetchMaxPartitionBytes(32<<10))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	var read float64
	poll := func(until time.Time) {
		ctx, cancel := context.WithDeadline(t.Context(), until)
		defer cancel()
		for ctx.Err() == nil {
			fs := cons.PollFetches(ctx)
			fs.EachRecord(func(r *kgo.Record) { read += float64(len(r.Value)) })
		}
	}
	poll(time.Now().Add(2 * window)) // past the fresh sensor's transient
	url := c.MetricsURLs()[0]
	topic := map[string]string{"topic": "a.events"}
	a, _ := value(scrape(t, url), "kafka_server_brokertopicmetrics_bytesout_total", topic)
	start := time.Now()
	poll(start.Add(2 * window))
	mfs := scrape(t, url)
	b, _ := value(mfs, "kafka_server_brokertopicmetrics_bytesout_total", topic)
	served := (b - a) / time.Since(start).Seconds()
	t.Logf("fetch served %.0f B/s (quota %d)", served, quota)
	if served < 0.9*quota || served > 1.1*quota {
		t.Errorf("fetch served %.0f B/s, want %d ±10%%", served, quota)
	}
	if th, ok := value(mfs, "kafka_server_quota_throttle_time", map[string]string{"resource": "Fetch", "clientId": "a"}); !ok || th <= 0 {
		t.Errorf("fetch throttle time %v (present %v), want > 0", th, ok)
	}
	checkThrottledBytes(t, mfs, "Fetch", "refused", "delayed")
}
