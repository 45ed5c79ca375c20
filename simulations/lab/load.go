package lab

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// DemandFunc gives a project's demand at wall time t, bytes/s summed over
// all brokers, per direction.
type DemandFunc func(t time.Time) Rates

// LoadOptions tune the load generators.
type LoadOptions struct {
	// RecordSize is the size of each produced value. Default 16 KiB.
	RecordSize int
	// Tick is how often a producer tops up what is due. Default 20ms.
	Tick time.Duration
	// MaxBuffered bounds what a producer holds unacknowledged, in bytes.
	// Beyond it, demand is dropped and counted as unserved, as an
	// application with a bounded buffer does. Default and minimum 1 MiB.
	MaxBuffered int
	// FetchFanout is the number of consumers per project; each reads the
	// whole topic and takes an equal part of the fetch demand. Default 1.
	FetchFanout int
	// BatchMaxBytes caps a producer's record batch. Default 256 KiB. A
	// batch much larger than a second of quota makes served rates lumpy,
	// as it would against a real broker.
	BatchMaxBytes int
}

// Load runs one producer and FetchFanout consumers per project.
type Load struct {
	gens   []*generator
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// LoadStats are a generator's running totals, in bytes.
type LoadStats struct {
	Project string
	// Demanded is what the demand curve asked for; Produced what the
	// cluster acknowledged; Dropped what did not fit the producer's buffer;
	// Consumed what the consumers read.
	Demanded, Produced, Dropped, Consumed float64
	// FetchDemanded is what the fetch curve asked for.
	FetchDemanded float64
	// Partitions are the produce totals per partition of the project's
	// placement (in Project.Leaders order): bytes of the records made for
	// it, acknowledged and dropped. A partition's records are sent and
	// acknowledged in order, so these tell how late each one's bytes are.
	Partitions []PartitionStats
}

// PartitionStats are one partition's produce totals, in bytes.
type PartitionStats struct {
	Made, Produced, Dropped float64
}

type generator struct {
	p      Project
	demand DemandFunc
	opts   LoadOptions

	mu    sync.Mutex
	stats LoadStats
	next  int // weighted round-robin state
	acc   []float64
}

// StartLoad starts the generators of every project in demands (by project
// name) against c. Producers and consumers are real kgo clients using the
// project's client-id.
func StartLoad(ctx context.Context, c *Cluster, demands map[string]DemandFunc, opts LoadOptions) (*Load, error) {
	if opts.RecordSize <= 0 {
		opts.RecordSize = 16 << 10
	}
	if opts.Tick <= 0 {
		opts.Tick = 20 * time.Millisecond
	}
	if opts.BatchMaxBytes <= 0 {
		opts.BatchMaxBytes = 256 << 10
	}
	if opts.FetchFanout <= 0 {
		opts.FetchFanout = 1
	}
	ctx, cancel := context.WithCancel(ctx)
	l := &Load{cancel: cancel}
	for _, p := range c.Projects() {
		d, ok := demands[p.Name]
		if !ok {
			continue
		}
		g := &generator{p: p, demand: d, opts: opts, acc: make([]float64, len(p.Weights))}
		g.stats.Project = p.Name
		g.stats.Partitions = make([]PartitionStats, len(p.Weights))
		prod, err := kgo.NewClient(
			kgo.SeedBrokers(c.Bootstrap()...),
			kgo.ClientID(p.ClientID),
			kgo.DefaultProduceTopic(p.Topic),
			kgo.RecordPartitioner(kgo.ManualPartitioner()),
			kgo.ProducerLinger(5*time.Millisecond),
			kgo.MaxBufferedBytes(max(opts.MaxBuffered, 1<<20)),
			kgo.ProducerBatchMaxBytes(int32(opts.BatchMaxBytes)),
			// Uncompressed, so that demand in bytes is bytes on the wire.
			kgo.ProducerBatchCompression(kgo.NoCompression()),
		)
		if err != nil {
			l.Close()
			return nil, fmt.Errorf("producer of project %s: %w", p.Name, err)
		}
		l.gens = append(l.gens, g)
		l.wg.Add(1)
		go func() { defer l.wg.Done(); defer prod.Close(); g.produce(ctx, prod) }()
		for k := range opts.FetchFanout {
			cons, err := kgo.NewClient(
				kgo.SeedBrokers(c.Bootstrap()...),
				kgo.ClientID(p.ClientID),
				kgo.ConsumeTopics(p.Topic),
				kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd()),
				kgo.FetchMaxWait(200*time.Millisecond),
			)
			if err != nil {
				l.Close()
				return nil, fmt.Errorf("consumer %d of project %s: %w", k, p.Name, err)
			}
			l.wg.Add(1)
			go func() { defer l.wg.Done(); defer cons.Close(); g.consume(ctx, cons, opts.FetchFanout) }()
		}
	}
	return l, nil
}

// Stats returns each generator's totals.
func (l *Load) Stats() []LoadStats {
	out := make([]LoadStats, 0, len(l.gens))
	for _, g := range l.gens {
		g.mu.Lock()
		st := g.stats
		st.Partitions = append([]PartitionStats(nil), g.stats.Partitions...)
		out = append(out, st)
		g.mu.Unlock()
	}
	return out
}

// Close stops the generators and waits for their clients to close.
func (l *Load) Close() {
	l.cancel()
	l.wg.Wait()
}

// pick chooses the next partition by smooth weighted round robin, so that
// each partition (and so each leader broker) gets its weight's share.
func (g *generator) pick() int32 {
	var total float64
	best := 0
	for i, w := range g.p.Weights {
		g.acc[i] += w
		total += w
		if g.acc[i] > g.acc[best] {
			best = i
		}
	}
	g.acc[best] -= total
	return int32(best)
}

func (g *generator) produce(ctx context.Context, cl *kgo.Client) {
	t := time.NewTicker(g.opts.Tick)
	defer t.Stop()
	value := make([]byte, g.opts.RecordSize)
	last := time.Now()
	var due float64
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			rate := g.demand(now).Produce
			dt := now.Sub(last).Seconds()
			last = now
			due += rate * dt
			g.mu.Lock()
			g.stats.Demanded += rate * dt
			g.mu.Unlock()
			for due >= float64(len(value)) {
				due -= float64(len(value))
				r := &kgo.Record{Value: value, Partition: g.pick()}
				g.mu.Lock()
				g.stats.Partitions[r.Partition].Made += float64(len(value))
				g.mu.Unlock()
				cl.TryProduce(ctx, r, func(r *kgo.Record, err error) {
					g.mu.Lock()
					defer g.mu.Unlock()
					ps := &g.stats.Partitions[r.Partition]
					switch {
					case err == nil:
						g.stats.Produced += float64(len(r.Value))
						ps.Produced += float64(len(r.Value))
					case errors.Is(err, kgo.ErrMaxBuffered):
						g.stats.Dropped += float64(len(r.Value))
						ps.Dropped += float64(len(r.Value))
					}
				})
			}
		}
	}
}

// consume reads the project's topic, pausing while it is ahead of its share
// of the fetch demand.
func (g *generator) consume(ctx context.Context, cl *kgo.Client, fanout int) {
	last := time.Now()
	var allowance float64
	for ctx.Err() == nil {
		now := time.Now()
		rate := g.demand(now).Fetch / float64(fanout)
		dt := now.Sub(last).Seconds()
		last = now
		allowance = min(allowance+rate*dt, rate) // at most one second of backlog
		g.mu.Lock()
		g.stats.FetchDemanded += rate * dt
		g.mu.Unlock()
		if allowance <= 0 {
			wait(ctx, g.opts.Tick)
			continue
		}
		fs := cl.PollRecords(ctx, 256)
		var n float64
		fs.EachRecord(func(r *kgo.Record) { n += float64(len(r.Value)) })
		allowance -= n
		g.mu.Lock()
		g.stats.Consumed += n
		g.mu.Unlock()
	}
}

func wait(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
