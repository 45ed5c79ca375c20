package ha

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Topic is an internal topic of the replicated state.
type Topic struct {
	Name string
	// Compacted topics are keyed (last value per key); the others are
	// append-only and deleted after Retention.
	Compacted bool
	Retention time.Duration
}

func (t Topic) policy() string {
	if t.Compacted {
		return "compact"
	}
	return "delete"
}

// EnsureTopics creates the topics that are missing, with one partition (one
// order for all of a topic's records) and their cleanup policy. A topic
// that exists with another cleanup policy is an error: a compacted audit
// trail would lose records, a deleted state topic would lose state.
func EnsureTopics(ctx context.Context, kafka []kgo.Opt, topics ...Topic) error {
	cl, err := kgo.NewClient(kafka...)
	if err != nil {
		return fmt.Errorf("ha: admin client: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	for _, t := range topics {
		cfg := map[string]*string{"cleanup.policy": kadm.StringPtr(t.policy())}
		if !t.Compacted && t.Retention > 0 {
			cfg["retention.ms"] = kadm.StringPtr(strconv.FormatInt(t.Retention.Milliseconds(), 10))
		}
		res, err := adm.CreateTopic(ctx, 1, -1, cfg, t.Name)
		if err == nil {
			err = res.Err
		}
		if err == nil {
			continue
		}
		if !errors.Is(err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("ha: create topic %s: %w", t.Name, err)
		}
		rcs, err := adm.DescribeTopicConfigs(ctx, t.Name)
		if err != nil {
			return fmt.Errorf("ha: describe topic %s: %w", t.Name, err)
		}
		rc, err := rcs.On(t.Name, nil)
		if err == nil {
			err = rc.Err
		}
		if err != nil {
			return fmt.Errorf("ha: describe topic %s: %w", t.Name, err)
		}
		got := "delete" // Kafka's default
		for _, c := range rc.Configs {
			if c.Key == "cleanup.policy" && c.Value != nil {
				got = *c.Value
			}
		}
		if got != t.policy() {
			return fmt.Errorf("ha: topic %s exists with cleanup.policy=%s, want %s; fix the topic or name another one in the ha block", t.Name, got, t.policy())
		}
	}
	return nil
}

// CheckTransactions fails when the cluster refuses transactions, before
// anything is written: it commits one probe record to topic in a
// transaction of its own id, probeID (not the fencing id, so that a running
// active replica is not fenced).
func CheckTransactions(ctx context.Context, kafka []kgo.Opt, probeID, topic string) error {
	cl, err := kgo.NewClient(append(append([]kgo.Opt(nil), kafka...), kgo.TransactionalID(probeID))...)
	if err != nil {
		return fmt.Errorf("ha: transaction probe: %w", err)
	}
	defer cl.Close()
	if err := commitIntent(ctx, cl, topic, Intent{Replica: probeID, Round: ProbeRound, At: time.Now()}); err != nil {
		return fmt.Errorf("ha: the cluster refuses transactions, which fencing needs: %w", err)
	}
	return nil
}

// Journal publishes the replicated state and materialises it: every record
// of its topics, from the first, goes to the apply function, the replica's
// own included.
type Journal struct {
	cl     *kgo.Client
	topics []string
	apply  func(ctx context.Context, topic string, key, value []byte) error
	batch  func(ctx context.Context, rs []Record) error
	log    *slog.Logger

	mu       sync.Mutex
	next     map[string]int64 // next offset to apply, per topic (one partition each)
	high     map[string]int64 // high watermark last seen
	progress chan struct{}    // closed and replaced on every applied batch
}

// NewJournal returns a journal over topics (one partition each).
func NewJournal(kafka []kgo.Opt, topics []string, apply func(ctx context.Context, topic string, key, value []byte) error, logger *slog.Logger) (*Journal, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cl, err := kgo.NewClient(append(append([]kgo.Opt(nil), kafka...),
		kgo.ConsumeTopics(topics...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.RequiredAcks(kgo.AllISRAcks()),
	)...)
	if err != nil {
		return nil, fmt.Errorf("ha: journal client: %w", err)
	}
	return &Journal{cl: cl, topics: topics, apply: apply, log: logger, next: map[string]int64{}, high: map[string]int64{}, progress: make(chan struct{})}, nil
}

// Publish writes one record and returns once the cluster has it.
func (j *Journal) Publish(ctx context.Context, topic string, key, value []byte) error {
	if err := j.cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Key: key, Value: value}).FirstErr(); err != nil {
		return fmt.Errorf("ha: publish %s to %s: %w", key, topic, err)
	}
	return nil
}

// Record is one record to publish.
type Record struct {
	Topic      string
	Key, Value []byte
}

// PublishAll writes records, in order per topic, and returns once the
// cluster has every one of them (or the first error).
func (j *Journal) PublishAll(ctx context.Context, rs ...Record) error {
	krs := make([]*kgo.Record, len(rs))
	for i, r := range rs {
		krs[i] = &kgo.Record{Topic: r.Topic, Key: r.Key, Value: r.Value}
	}
	if err := j.cl.ProduceSync(ctx, krs...).FirstErr(); err != nil {
		return fmt.Errorf("ha: publish %d records: %w", len(rs), err)
	}
	return nil
}

// SetApplyBatch makes Run hand each fetched batch of a topic's records to
// f at once (one write to the store for many records) instead of one by
// one. Call it before Run.
func (j *Journal) SetApplyBatch(f func(ctx context.Context, rs []Record) error) { j.batch = f }

// Run applies records until ctx is done.
func (j *Journal) Run(ctx context.Context) {
	for {
		fs := j.cl.PollFetches(ctx)
		if fs.IsClientClosed() || ctx.Err() != nil {
			return
		}
		fs.EachError(func(t string, p int32, err error) {
			j.log.Warn("state topic fetch", "topic", t, "partition", p, "err", err)
		})
		fs.EachPartition(func(p kgo.FetchTopicPartition) {
			if j.batch != nil && len(p.Records) > 0 {
				rs := make([]Record, len(p.Records))
				for i, r := range p.Records {
					rs[i] = Record{Topic: r.Topic, Key: r.Key, Value: r.Value}
				}
				if err := j.batch(ctx, rs); err != nil {
					j.log.Error("apply replicated records", "topic", p.Topic, "from_offset", p.Records[0].Offset, "records", len(rs), "err", err)
				}
			}
			for _, r := range p.Records {
				if j.batch != nil {
					break
				}
				if err := j.apply(ctx, r.Topic, r.Key, r.Value); err != nil {
					j.log.Error("apply replicated record", "topic", r.Topic, "offset", r.Offset, "key", string(r.Key), "err", err)
				}
			}
			j.mu.Lock()
			if n := len(p.Records); n > 0 {
				j.next[p.Topic] = p.Records[n-1].Offset + 1
			}
			if p.HighWatermark > j.high[p.Topic] {
				j.high[p.Topic] = p.HighWatermark
			}
			j.mu.Unlock()
		})
		j.mu.Lock()
		close(j.progress)
		j.progress = make(chan struct{})
		j.mu.Unlock()
	}
}

// Lag is the number of records the cluster has that are not applied yet,
// as of the last fetch.
func (j *Journal) Lag() int64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	var n int64
	for t, h := range j.high {
		if d := h - j.next[t]; d > 0 {
			n += d
		}
	}
	return n
}

// CatchUp reads the topics' end offsets and waits until every record
// before them is applied: a new leader calls it before its first round so
// that it starts from the last saved state.
func (j *Journal) CatchUp(ctx context.Context) error {
	adm := kadm.NewClient(j.cl)
	ends, err := adm.ListEndOffsets(ctx, j.topics...)
	if err != nil {
		return fmt.Errorf("ha: end offsets of the state topics: %w", err)
	}
	if err := ends.Error(); err != nil {
		return fmt.Errorf("ha: end offsets of the state topics: %w", err)
	}
	for {
		j.mu.Lock()
		behind := false
		ends.Each(func(o kadm.ListedOffset) {
			if j.next[o.Topic] < o.Offset {
				behind = true
			}
		})
		ch := j.progress
		j.mu.Unlock()
		if !behind {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("ha: catching up with the state topics: %w", ctx.Err())
		case <-ch:
		}
	}
}

// Close closes the journal's client.
func (j *Journal) Close() { j.cl.Close() }
