package ha

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Errors of Authorize. A caller that gets any error writes nothing.
var (
	// ErrStandby: this replica is not the active one.
	ErrStandby = errors.New("not the active replica")
	// ErrLeaseExpired: the active replica could not confirm its group
	// membership within the lease.
	ErrLeaseExpired = errors.New("leadership lease expired: membership not confirmed")
	// ErrFenced: another replica took over the transactional id.
	ErrFenced = errors.New("fenced by a newer active replica")
)

// Options configure a Replica.
type Options struct {
	// Kafka are the connection options (seeds, TLS, SASL), e.g. from
	// kafkaconn.Options.
	Kafka []kgo.Opt
	// GroupID is the consumer group every replica joins. Required.
	GroupID string
	// ControlTopic carries the group's single partition and the intent
	// records. Required. Created (one partition) if missing.
	ControlTopic string
	// TransactionalID is the fencing producer's id; every replica of one
	// deployment must use the same. Default GroupID + "-fence".
	TransactionalID string
	// ReplicaID names this replica in intents, logs and status.
	ReplicaID string
	// SessionTimeout is the group session timeout. Default 10s.
	SessionTimeout time.Duration
	// Lease is how long a confirmation of membership lets the active
	// replica write; it must be shorter than SessionTimeout. Default
	// SessionTimeout/2.
	Lease time.Duration
	// Now is the clock of the lease and of status times. Default time.Now.
	Now    func() time.Time
	Logger *slog.Logger
	// OnChange, when set, receives the status whenever it changes (active,
	// epoch, writable or the leader read from the control topic), from the
	// replica's goroutines, one at a time.
	OnChange func(Status)

	// confirmOpts are added to the confirming client's options only
	// (tests cut its network while the group's stays up).
	confirmOpts []kgo.Opt
}

// Status is what a replica knows of its role.
type Status struct {
	Replica string `json:"replica"`
	// Active: the group assigned this replica the control partition and its
	// takeover record committed.
	Active bool `json:"active"`
	// Writable: active and the lease is current.
	Writable bool `json:"writable"`
	// Epoch is the generation in which this replica became active; 0 if it
	// never was.
	Epoch int32 `json:"epoch"`
	// Since is when this replica became active (or standby).
	Since time.Time `json:"since"`
	// LeaseUntil is when the lease runs out unless confirmed again.
	LeaseUntil time.Time `json:"lease_until,omitzero"`
	MemberID   string    `json:"member_id,omitempty"`
	// Leader, LeaderEpoch and LeaderSince come from the last intent on the
	// control topic: who leads as far as this replica has read, and since
	// when (its takeover, if read).
	Leader      string    `json:"leader,omitempty"`
	LeaderEpoch int32     `json:"leader_epoch,omitempty"`
	LeaderSince time.Time `json:"leader_since,omitzero"`
}

// Intent is the record committed before each batch of writes, and (with
// Round -1) on takeover.
type Intent struct {
	Replica string    `json:"replica"`
	Epoch   int32     `json:"epoch"`
	Round   int64     `json:"round"`
	Digest  string    `json:"digest"`
	At      time.Time `json:"at"`
}

// Permit allows writes until Until.
type Permit struct {
	Epoch int32
	Until time.Time
}

// Replica is one replica's membership, fence and lease.
type Replica struct {
	o     Options
	group atomic.Pointer[kgo.Client]
	// confirmer sends the membership confirmations on its own
	// connections, so that they prove the replica can still reach the
	// coordinator whatever the group client's state.
	confirmer *kgo.Client
	log       *slog.Logger

	mu         sync.Mutex
	assigned   bool  // the group assigned this member the control partition
	gen        int32 // generation at assignment
	active     bool  // takeover committed, not fenced, still assigned
	since      time.Time
	settle     time.Time // no write before this (one lease after takeover)
	confirmed  time.Time // send time of the last confirmed heartbeat
	fence      *kgo.Client
	last       Status
	takeoverCh chan struct{} // poked on assignment
	leader     Intent        // the last intent read, with At of its takeover when read

	authMu sync.Mutex // one intent transaction at a time

	changeMu sync.Mutex // serialises OnChange

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// TakeoverRound is the Round of the record a replica commits on taking over.
const TakeoverRound = -1

// ProbeRound is the Round of the record CheckTransactions commits.
const ProbeRound = -2

// Start creates the control topic if it is missing, joins the group and
// returns the replica. Close leaves the group.
func Start(ctx context.Context, o Options) (*Replica, error) {
	if o.GroupID == "" {
		return nil, errors.New("ha: group_id is required")
	}
	if o.ControlTopic == "" {
		return nil, errors.New("ha: control topic is required")
	}
	if o.TransactionalID == "" {
		o.TransactionalID = o.GroupID + "-fence"
	}
	if o.SessionTimeout <= 0 {
		o.SessionTimeout = 10 * time.Second
	}
	if o.Lease <= 0 {
		o.Lease = o.SessionTimeout / 2
	}
	if o.Lease >= o.SessionTimeout {
		return nil, fmt.Errorf("ha: lease %s must be shorter than the session timeout %s", o.Lease, o.SessionTimeout)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if err := ensureControlTopic(ctx, o); err != nil {
		return nil, err
	}
	r := &Replica{o: o, log: o.Logger, takeoverCh: make(chan struct{}, 1)}
	r.since = o.Now()
	r.last = Status{Replica: o.ReplicaID, Since: r.since}
	hb := o.SessionTimeout / 10
	if hb < 50*time.Millisecond {
		hb = 50 * time.Millisecond
	}
	opts := append(append([]kgo.Opt(nil), o.Kafka...),
		kgo.ConsumerGroup(o.GroupID),
		kgo.ConsumeTopics(o.ControlTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd()),
		kgo.DisableAutoCommit(),
		kgo.SessionTimeout(o.SessionTimeout),
		kgo.RebalanceTimeout(o.SessionTimeout),
		kgo.HeartbeatInterval(hb),
		kgo.OnPartitionsAssigned(func(_ context.Context, cl *kgo.Client, m map[string][]int32) { r.onAssigned(cl, m) }),
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { r.onRemoved(m, "revoked") }),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { r.onRemoved(m, "lost") }),
	)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("ha: group client: %w", err)
	}
	r.group.Store(cl)
	conf, err := kgo.NewClient(append(append(append([]kgo.Opt(nil), o.Kafka...), o.confirmOpts...),
		// The last intents tell a starting replica who leads.
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{o.ControlTopic: {0: kgo.NewOffset().AtEnd().Relative(-64)}}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))...)
	if err != nil {
		cl.Close()
		return nil, fmt.Errorf("ha: confirming client: %w", err)
	}
	r.confirmer = conf
	rctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	r.wg.Add(4)
	go func() { defer r.wg.Done(); r.poll(rctx) }()
	go func() { defer r.wg.Done(); r.watch(rctx) }()
	go func() { defer r.wg.Done(); r.confirmLoop(rctx) }()
	go func() { defer r.wg.Done(); r.takeoverLoop(rctx) }()
	return r, nil
}

// ensureControlTopic creates the control topic with one partition if it
// is missing.
func ensureControlTopic(ctx context.Context, o Options) error {
	cl, err := kgo.NewClient(o.Kafka...)
	if err != nil {
		return fmt.Errorf("ha: admin client: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	res, err := adm.CreateTopic(ctx, 1, -1, map[string]*string{"cleanup.policy": kadm.StringPtr("delete")}, o.ControlTopic)
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("ha: create control topic %s: %w", o.ControlTopic, err)
	}
	if res.Err != nil && !errors.Is(res.Err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("ha: create control topic %s: %w", o.ControlTopic, res.Err)
	}
	return nil
}

// poll drains the group client; the group needs a consumer that polls.
func (r *Replica) poll(ctx context.Context) {
	for ctx.Err() == nil {
		if r.group.Load().PollFetches(ctx).IsClientClosed() {
			return
		}
	}
}

// watch reads the intents on the control topic (committed ones only), on
// every replica: the group assigns the partition to the active replica
// alone, so standbys learn who leads from here.
func (r *Replica) watch(ctx context.Context) {
	for ctx.Err() == nil {
		fs := r.confirmer.PollFetches(ctx)
		if fs.IsClientClosed() {
			return
		}
		fs.EachRecord(func(rec *kgo.Record) {
			var in Intent
			if json.Unmarshal(rec.Value, &in) != nil || in.Round == ProbeRound || in.Replica == "" {
				return
			}
			r.mu.Lock()
			changed := in.Round == TakeoverRound || in.Replica != r.leader.Replica || in.Epoch != r.leader.Epoch
			if changed {
				// A takeover, or the first intent read of a leader whose
				// takeover this replica did not read.
				r.leader = in
			}
			r.mu.Unlock()
			if changed {
				r.notify()
			}
		})
	}
}

func (r *Replica) owns(m map[string][]int32) bool {
	for _, p := range m[r.o.ControlTopic] {
		if p == 0 {
			return true
		}
	}
	return false
}

func (r *Replica) onAssigned(cl *kgo.Client, m map[string][]int32) {
	if !r.owns(m) {
		return
	}
	_, gen := cl.GroupMetadata()
	r.mu.Lock()
	r.assigned, r.gen = true, gen
	r.mu.Unlock()
	r.log.Info("assigned the control partition; taking over", "generation", gen)
	select {
	case r.takeoverCh <- struct{}{}:
	default:
	}
}

func (r *Replica) onRemoved(m map[string][]int32, how string) {
	if !r.owns(m) {
		return
	}
	r.mu.Lock()
	was := r.active
	r.assigned = false
	r.stepDownLocked()
	r.mu.Unlock()
	if was {
		r.log.Warn("control partition "+how+"; standing by", "replica", r.o.ReplicaID)
	}
	r.notify()
}

// stepDownLocked drops the active role and the fence producer.
func (r *Replica) stepDownLocked() {
	if r.active {
		r.since = r.o.Now()
	}
	r.active = false
	if r.fence != nil {
		f := r.fence
		r.fence = nil
		// Closing waits for in-flight requests; never under the lock's
		// callers' feet.
		r.wg.Add(1)
		go func() { defer r.wg.Done(); f.Close() }()
	}
}

// takeoverLoop commits the takeover record whenever the group assigns this
// replica the control partition, retrying while it stays assigned.
func (r *Replica) takeoverLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.takeoverCh:
		}
		for attempt := 0; ; attempt++ {
			r.mu.Lock()
			assigned, active, gen := r.assigned, r.active, r.gen
			r.mu.Unlock()
			if !assigned || active {
				break
			}
			err := r.takeover(ctx, gen)
			if err == nil {
				break
			}
			r.log.Error("take over failed", "generation", gen, "attempt", attempt, "err", err)
			t := time.NewTimer(r.o.Lease / 4)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
	}
}

// takeover opens the fence producer (its InitProducerID fences every older
// holder of the transactional id) and commits a takeover record.
func (r *Replica) takeover(ctx context.Context, gen int32) error {
	r.authMu.Lock()
	defer r.authMu.Unlock()
	f, err := r.newFence()
	if err != nil {
		return err
	}
	at := r.o.Now()
	if err := commitIntent(ctx, f, r.o.ControlTopic, Intent{Replica: r.o.ReplicaID, Epoch: gen, Round: TakeoverRound, At: at}); err != nil {
		f.Close()
		return err
	}
	// Confirm membership now rather than at the next tick: confirmations
	// during the rebalance that made this replica active may have failed.
	r.confirm(ctx)
	r.mu.Lock()
	if !r.assigned || r.gen != gen {
		r.mu.Unlock()
		f.Close()
		return nil // assignment moved on while committing; a new takeover follows if needed
	}
	r.active, r.fence, r.since = true, f, at
	// A predecessor may hold a permit that lasts up to a lease after its
	// last intent, which was sent before this commit.
	r.settle = r.o.Now().Add(r.o.Lease)
	r.mu.Unlock()
	r.log.Info("active", "replica", r.o.ReplicaID, "epoch", gen)
	r.notify()
	return nil
}

func (r *Replica) newFence() (*kgo.Client, error) {
	opts := append(append([]kgo.Opt(nil), r.o.Kafka...),
		kgo.TransactionalID(r.o.TransactionalID),
		kgo.TransactionTimeout(r.o.SessionTimeout),
		kgo.DefaultProduceTopic(r.o.ControlTopic),
	)
	f, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("ha: fence producer: %w", err)
	}
	return f, nil
}

// commitIntent commits one intent record in its own transaction.
func commitIntent(ctx context.Context, f *kgo.Client, topic string, in Intent) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	if err := f.BeginTransaction(); err != nil {
		return fmt.Errorf("begin intent transaction: %w", err)
	}
	perr := f.ProduceSync(ctx, &kgo.Record{Topic: topic, Key: []byte("intent"), Value: b}).FirstErr()
	how := kgo.TryCommit
	if perr != nil {
		how = kgo.TryAbort
	}
	if err := f.EndTransaction(ctx, how); err != nil {
		return fmt.Errorf("end intent transaction: %w", errors.Join(perr, err))
	}
	if perr != nil {
		return fmt.Errorf("produce intent: %w", perr)
	}
	return nil
}

// fencedErr says whether err means another producer took the id.
func fencedErr(err error) bool {
	return errors.Is(err, kerr.ProducerFenced) || errors.Is(err, kerr.InvalidProducerEpoch) ||
		errors.Is(err, kerr.TransactionalIDAuthorizationFailed) || errors.Is(err, kerr.InvalidProducerIDMapping)
}

// confirmLoop confirms membership with the coordinator every quarter lease.
func (r *Replica) confirmLoop(ctx context.Context) {
	t := time.NewTicker(r.o.Lease / 4)
	defer t.Stop()
	for {
		r.confirm(ctx)
		r.notify() // the lease may have run out
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// confirm sends one Heartbeat with this member's id and generation; a
// success (or a rebalance in progress, which still knows the member) moves
// the lease to a lease after the send time.
func (r *Replica) confirm(ctx context.Context) {
	member, gen := r.group.Load().GroupMetadata()
	if member == "" {
		return
	}
	sent := r.o.Now()
	req := kmsg.NewPtrHeartbeatRequest()
	req.Group, req.MemberID, req.Generation = r.o.GroupID, member, gen
	cctx, cancel := context.WithTimeout(ctx, r.o.Lease/2)
	resp, err := req.RequestWith(cctx, r.confirmer)
	cancel()
	if err != nil {
		return
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil && !errors.Is(err, kerr.RebalanceInProgress) {
		r.log.Debug("membership not confirmed", "err", err)
		return
	}
	r.mu.Lock()
	if sent.After(r.confirmed) {
		r.confirmed = sent
	}
	r.mu.Unlock()
}

// Status returns the replica's status now.
func (r *Replica) Status() Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.statusLocked()
}

func (r *Replica) statusLocked() Status {
	var member string
	if g := r.group.Load(); g != nil {
		member, _ = g.GroupMetadata()
	}
	s := Status{Replica: r.o.ReplicaID, Active: r.active, Since: r.since, MemberID: member,
		Leader: r.leader.Replica, LeaderEpoch: r.leader.Epoch, LeaderSince: r.leader.At}
	if r.active {
		s.Leader, s.LeaderEpoch, s.LeaderSince = r.o.ReplicaID, r.gen, r.since
	}
	if r.active {
		s.Epoch = r.gen
		s.LeaseUntil = r.confirmed.Add(r.o.Lease)
		s.Writable = r.o.Now().Before(s.LeaseUntil)
	}
	return s
}

func (r *Replica) notify() {
	r.changeMu.Lock()
	defer r.changeMu.Unlock()
	r.mu.Lock()
	s := r.statusLocked()
	changed := s.Active != r.last.Active || s.Writable != r.last.Writable || s.Epoch != r.last.Epoch ||
		s.Leader != r.last.Leader || s.LeaderEpoch != r.last.LeaderEpoch
	r.last = s
	r.mu.Unlock()
	if changed {
		if s.Active && !s.Writable {
			r.log.Warn("lease lapsed: writing nothing until membership is confirmed", "epoch", s.Epoch)
		}
		if r.o.OnChange != nil {
			r.o.OnChange(s)
		}
	}
}

// Authorize commits an intent for a batch of writes of round with the
// plan's digest and returns how long the writes may go on. Any error means
// nothing may be written. A newly active replica waits here until its
// predecessor's permits have run out.
func (r *Replica) Authorize(ctx context.Context, round int64, digest string) (Permit, error) {
	r.authMu.Lock()
	defer r.authMu.Unlock()
	r.mu.Lock()
	if !r.active {
		r.mu.Unlock()
		return Permit{}, ErrStandby
	}
	settle, gen, f := r.settle, r.gen, r.fence
	r.mu.Unlock()
	if wait := settle.Sub(r.o.Now()); wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return Permit{}, ctx.Err()
		case <-t.C:
		}
	}
	sent := r.o.Now()
	r.mu.Lock()
	leaseUntil := r.confirmed.Add(r.o.Lease)
	active := r.active && r.fence == f
	r.mu.Unlock()
	if !active {
		return Permit{}, ErrStandby
	}
	if !sent.Before(leaseUntil) {
		r.notify()
		return Permit{}, ErrLeaseExpired
	}
	err := commitIntent(ctx, f, r.o.ControlTopic, Intent{Replica: r.o.ReplicaID, Epoch: gen, Round: round, Digest: digest, At: sent})
	if err != nil {
		if fencedErr(err) {
			r.mu.Lock()
			if r.fence == f {
				r.stepDownLocked()
			}
			r.mu.Unlock()
			r.log.Error("fenced: stopped writing", "epoch", gen, "err", err)
			r.notify()
			return Permit{}, fmt.Errorf("%w: %w", ErrFenced, err)
		}
		return Permit{}, fmt.Errorf("commit intent: %w", err)
	}
	until := sent.Add(r.o.Lease)
	if leaseUntil.Before(until) {
		until = leaseUntil
	}
	if !r.o.Now().Before(until) {
		return Permit{}, ErrLeaseExpired
	}
	return Permit{Epoch: gen, Until: until}, nil
}

// Close leaves the group (so that another replica takes over at once) and
// closes the clients.
func (r *Replica) Close() {
	r.mu.Lock()
	r.assigned = false
	r.stepDownLocked()
	r.mu.Unlock()
	r.cancel()
	r.group.Load().Close() // leaves the group
	r.confirmer.Close()
	r.wg.Wait()
}
