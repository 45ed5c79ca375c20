package lab

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// BenchmarkProduceThroughput measures the produce throughput the lab
// sustains with enforcement on (quotas far above the load, so every
// request is measured and checked but none is delayed) and off. Three
// brokers, one project, 16 KiB records, uncompressed. Besides MB/s (wall
// clock, sensitive to other load on the machine) it reports the process's
// CPU time per produced MB (getrusage; brokers and client share the
// process), which shows the cost of enforcement on a busy machine too.
func BenchmarkProduceThroughput(b *testing.B) {
	for _, enforce := range []bool{true, false} {
		b.Run(fmt.Sprintf("enforcement=%v", enforce), func(b *testing.B) {
			c, err := Start(b.Context(), Config{
				Brokers:            3,
				DisableEnforcement: !enforce,
				Projects:           []Project{{Name: "a", Leaders: []int32{0, 1, 2, 0, 1, 2}, Quota: Rates{Produce: 1 << 40, Fetch: 1 << 40}}},
			})
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			cl, err := kgo.NewClient(kgo.SeedBrokers(c.Bootstrap()...), kgo.ClientID("a"), kgo.DefaultProduceTopic("a.events"),
				kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.ProducerLinger(0))
			if err != nil {
				b.Fatal(err)
			}
			defer cl.Close()
			value := make([]byte, 16<<10)
			b.SetBytes(int64(len(value)))
			b.ResetTimer()
			cpu0 := cpuTime()
			for range b.N {
				cl.Produce(b.Context(), &kgo.Record{Value: value}, func(_ *kgo.Record, err error) {
					if err != nil {
						b.Error(err)
					}
				})
			}
			if err := cl.Flush(b.Context()); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric((cpuTime()-cpu0).Seconds()*1e3/(float64(b.N)*float64(len(value))/1e6), "cpu-ms/MB")
		})
	}
}

// cpuTime is this process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
