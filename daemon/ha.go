package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/headroomhq/headroom/config"
	"github.com/headroomhq/headroom/ha"
	"github.com/headroomhq/headroom/internal/kafkaconn"
	"github.com/headroomhq/headroom/limiter/applier"
	"github.com/headroomhq/headroom/round"
	"github.com/headroomhq/headroom/store"
)

// StatusPath serves which replica leads and since when.
const StatusPath = "/api/v1/status"

// replication wires one replica of several: the state topics materialised
// into the store, the store's changes published to them, the election and
// the gate of the round loop. A nil *replication is a single replica.
type replication struct {
	cfg     config.HAConfig
	kafka   []kgo.Opt
	id      string
	db      *store.DB
	journal *ha.Journal
	replica *ha.Replica
	loop    *round.Loop
	logger  *slog.Logger

	mu      sync.Mutex
	resumed bool // active, caught up with the state topics and resumed
	changes chan ha.Status
	// The last publish that failed and the last that succeeded: while the
	// state topics cannot be written, the leader writes no quota.
	pubFailed, pubOK time.Time
	pubErr           error

	publishErrors prometheus.Counter
	alerts        *haAlerts // set once the engine exists; guarded by mu
}

// startReplication checks the cluster (topics and their policies,
// transactions), materialises the state topics into db and starts
// publishing db's changes. Nothing is written to the clusters' quotas
// until the election says so.
func startReplication(ctx context.Context, cfg *config.Config, db *store.DB, listen net.Addr, reg prometheus.Registerer, logger *slog.Logger) (*replication, error) {
	hc := *cfg.HA
	var cc *config.ClusterConfig
	for i := range cfg.Clusters {
		if cfg.Clusters[i].Name == hc.Cluster {
			cc = &cfg.Clusters[i]
		}
	}
	if cc == nil {
		return nil, fmt.Errorf("ha.cluster: unknown cluster %q", hc.Cluster)
	}
	kafka, err := kafkaconn.Options(*cc)
	if err != nil {
		return nil, fmt.Errorf("ha: %w", err)
	}
	id := hc.ReplicaID
	if id == "" {
		host, _ := os.Hostname()
		id = host + "/" + listen.String()
	}
	r := &replication{cfg: hc, kafka: kafka, id: id, db: db, logger: logger.With("component", "ha", "replica", id),
		changes: make(chan ha.Status, 16)}
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := ha.EnsureTopics(sctx, kafka,
		ha.Topic{Name: hc.ControlTopic, Retention: 7 * 24 * time.Hour},
		ha.Topic{Name: hc.StateTopic, Compacted: true},
		ha.Topic{Name: hc.EventsTopic, Retention: time.Duration(hc.EventsRetention)},
	); err != nil {
		return nil, err
	}
	// Each replica probes with an id of its own: probes must not fence
	// one another, nor the active replica.
	if err := ha.CheckTransactions(sctx, kafka, hc.TransactionalID+"-probe-"+id, hc.ControlTopic); err != nil {
		return nil, err
	}
	j, err := ha.NewJournal(kafka, []string{hc.StateTopic, hc.EventsTopic}, r.apply, r.logger)
	if err != nil {
		return nil, err
	}
	j.SetApplyBatch(r.applyBatch)
	r.journal = j
	r.publishErrors = prometheus.NewCounter(prometheus.CounterOpts{Name: "headroom_state_publish_errors_total",
		Help: "Changes of the shared state that could not be published to the state topics."})
	reg.MustRegister(r.publishErrors,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "headroom_state_lag_records",
			Help: "Records of the state topics not yet materialised into this replica's store."}, func() float64 { return float64(j.Lag()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "headroom_leader",
			Help: "1 on the active replica, 0 on standbys."}, func() float64 {
			if r.replica != nil && r.replica.Status().Active {
				return 1
			}
			return 0
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "headroom_leader_epoch",
			Help: "The group generation in which this replica became active; 0 on standbys."}, func() float64 {
			if r.replica == nil {
				return 0
			}
			return float64(r.replica.Status().Epoch)
		}),
	)
	db.SetChangeSink(r.publish)
	return r, nil
}

// apply materialises one record of the state topics.
func (r *replication) apply(ctx context.Context, _ string, _, value []byte) error {
	return r.applyBatch(ctx, []ha.Record{{Value: value}})
}

// applyBatch materialises a batch of records of one state topic in one
// transaction.
func (r *replication) applyBatch(ctx context.Context, rs []ha.Record) error {
	cs := make([]store.Change, 0, len(rs))
	var errs []error
	for _, rec := range rs {
		var c store.Change
		if err := json.Unmarshal(rec.Value, &c); err != nil {
			errs = append(errs, fmt.Errorf("decode change %s: %w", rec.Key, err))
			continue
		}
		cs = append(cs, c)
	}
	if err := r.db.ApplyChanges(ctx, cs); err != nil {
		if ctx.Err() != nil {
			return nil // stopping: the records are applied again at the next start
		}
		errs = append(errs, err)
	}
	r.mu.Lock()
	alerts := r.alerts
	r.mu.Unlock()
	forced := false
	for _, c := range cs {
		if alerts != nil {
			alerts.applied(c)
		}
		// An override made through another replica takes effect on the
		// leader at once, every change written however small (a pin back
		// to the share is one).
		if c.Kind == store.ChangeOverride && !forced && r.loop != nil && r.Active() {
			forced = true
			_ = r.loop.ForceRound(ctx, "", true)
		}
	}
	return errors.Join(errs...)
}

// publish sends committed changes to their topics; the write that made
// them returns once the cluster has them.
func (r *replication) publish(ctx context.Context, cs []store.Change) {
	if col, ok := ctx.Value(collectKey{}).(*collected); ok {
		col.cs = append(col.cs, cs...)
		return
	}
	// No longer than a lease: a round waiting on the state topics
	// holds its quotas rather than write late.
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Duration(r.cfg.Lease))
	err := r.publishNow(pctx, cs)
	cancel()
	r.mu.Lock()
	if err != nil {
		r.pubFailed, r.pubErr = time.Now(), err
	} else {
		r.pubOK = time.Now()
	}
	r.mu.Unlock()
	if err != nil {
		r.publishErrors.Inc()
		r.logger.Error("publish a change of the shared state", "changes", len(cs), "first_key", cs[0].Key, "err", err)
	}
}

type collectKey struct{}

// collected gathers the changes written under a context made by
// collecting, to be published together by their writer.
type collected struct{ cs []store.Change }

func collecting(ctx context.Context) (context.Context, *collected) {
	col := &collected{}
	return context.WithValue(ctx, collectKey{}, col), col
}

// publishNow sends changes to their topics and says whether the cluster
// has them all.
func (r *replication) publishNow(ctx context.Context, cs []store.Change) error {
	rs := make([]ha.Record, 0, len(cs))
	for _, c := range cs {
		topic := r.cfg.StateTopic
		if store.ChangeTopicKind(c) == "events" {
			topic = r.cfg.EventsTopic
		}
		b, err := json.Marshal(c)
		if err != nil {
			return fmt.Errorf("encode change %s: %w", c.Key, err)
		}
		rs = append(rs, ha.Record{Topic: topic, Key: []byte(c.Key), Value: b})
	}
	return r.journal.PublishAll(ctx, rs...)
}

// elect joins the election once the round loop exists.
func (r *replication) elect(ctx context.Context, loop *round.Loop) error {
	r.loop = loop
	rep, err := ha.Start(ctx, ha.Options{
		Kafka: r.kafka, GroupID: r.cfg.GroupID, ControlTopic: r.cfg.ControlTopic, TransactionalID: r.cfg.TransactionalID,
		ReplicaID: r.id, SessionTimeout: time.Duration(r.cfg.SessionTimeout), Lease: time.Duration(r.cfg.Lease),
		Logger: r.logger, OnChange: func(s ha.Status) {
			select {
			case r.changes <- s:
			default: // the follower reads Status again anyway
				r.logger.Warn("status change dropped: the follower is behind")
			}
		},
	})
	if err != nil {
		return err
	}
	r.replica = rep
	return nil
}

// follow reacts to the election: a replica that becomes active catches up
// with the state topics, resumes the detector from the saved state and
// plays a round at once; one that stands by plays none.
func (r *replication) follow(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.changes:
		}
		s := r.replica.Status()
		r.mu.Lock()
		was := r.resumed
		r.mu.Unlock()
		switch {
		case s.Active && !was:
			if err := r.journal.CatchUp(ctx); err != nil {
				r.logger.Error("active but not caught up with the state topics; playing no round", "err", err)
				continue
			}
			r.loop.Resume()
			r.mu.Lock()
			r.resumed = true
			r.mu.Unlock()
			r.logger.Info("leading", "epoch", s.Epoch, "state_lag_records", r.journal.Lag())
			r.mu.Lock()
			alerts := r.alerts
			r.mu.Unlock()
			if alerts != nil {
				// What the previous leader received or was asked and did
				// not handle.
				alerts.wake()
			}
			_ = r.loop.ForceRound(ctx, "", false)
		case !s.Active && was:
			r.mu.Lock()
			r.resumed = false
			r.mu.Unlock()
			r.logger.Info("standing by")
		}
	}
}

// Active implements round.Gate.
func (r *replication) Active() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.resumed && r.replica != nil && r.replica.Status().Active
}

// Authorize implements round.Gate.
func (r *replication) Authorize(ctx context.Context, idx int64, digest string) (time.Time, error) {
	if r.replica == nil {
		return time.Time{}, ha.ErrStandby
	}
	r.mu.Lock()
	failing, perr := r.pubFailed.After(r.pubOK), r.pubErr
	r.mu.Unlock()
	if failing {
		// What this round decided could not be saved where the next
		// leader would find it: hold the quotas in force.
		return time.Time{}, fmt.Errorf("state topics unreachable, holding the quotas in force: %w", perr)
	}
	p, err := r.replica.Authorize(ctx, idx, digest)
	if err != nil {
		return time.Time{}, err
	}
	return p.Until, nil
}

// logWrites logs a round that wrote quotas, with the epoch it wrote
// under: with several replicas, who wrote what and when is worth a line.
func (r *replication) logWrites(out round.Outcome) {
	n := 0
	for _, res := range out.Results {
		if res.Outcome == applier.Written {
			n++
		}
	}
	if n > 0 {
		var epoch int32
		if r.replica != nil {
			epoch = r.replica.Status().Epoch
		}
		r.logger.Info("quotas written", "round", out.Index, "written", n, "epoch", epoch)
	}
}

// close leaves the group and stops publishing.
func (r *replication) close() {
	r.db.SetChangeSink(nil)
	if r.replica != nil {
		r.replica.Close()
	}
	r.journal.Close()
}

// statusBody is /api/v1/status.
type statusBody struct {
	Mode string `json:"mode"` // single or replicated
	ha.Status
	StateLagRecords int64 `json:"state_lag_records"`
}

func statusHandler(r *replication, started time.Time) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		var b statusBody
		if r == nil {
			b = statusBody{Mode: "single", Status: ha.Status{Active: true, Writable: true, Since: started, Leader: "self", LeaderSince: started}}
		} else {
			b.Mode = "replicated"
			if r.replica != nil {
				b.Status = r.replica.Status()
			}
			b.StateLagRecords = r.journal.Lag()
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(b)
	})
}
