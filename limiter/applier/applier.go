// Package applier writes planned quotas to a Kafka-compatible cluster
// through the admin API (franz-go kadm): it reads what is in force
// (DescribeClientQuotas), computes the diff, validates it
// (AlterClientQuotas with validateOnly), writes it in batches within a
// per-round write budget, retries with backoff (waiting on the clock it is
// given, internal/clock), and reads back to verify. On failure the value
// in force stays, and the caller learns which one it is. Zero, negative
// and non-finite quotas are never written. Shadow mode computes and
// reports everything and writes nothing.
//
// It owns no policy: which quota a project gets, and whether a change is
// worth writing (hysteresis), is limiter.Allocate's decision; every change
// it is given is written, within the write budget. It must not import the
// collector, the detector, alerting, api or store.
package applier

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/headroomhq/headroom/config"
	"github.com/headroomhq/headroom/internal/clock"
	"github.com/headroomhq/headroom/internal/retry"
	"github.com/headroomhq/headroom/limiter"
)

// Quota keys Kafka uses for byte-rate quotas.
const (
	ProducerByteRate = "producer_byte_rate"
	ConsumerByteRate = "consumer_byte_rate"
)

// KeyFor returns the quota key of a direction.
func KeyFor(d config.Direction) string {
	if d == config.Fetch {
		return ConsumerByteRate
	}
	return ProducerByteRate
}

// kadmEntity is e as kadm describes and alters it.
func kadmEntity(e config.Entity) kadm.ClientQuotaEntity {
	var out kadm.ClientQuotaEntity
	if e.User != "" {
		u := e.User
		out = append(out, kadm.ClientQuotaEntityComponent{Type: "user", Name: &u})
	}
	if e.ClientID != "" {
		c := e.ClientID
		out = append(out, kadm.ClientQuotaEntityComponent{Type: "client-id", Name: &c})
	}
	return out
}

// entityOf maps a described entity back; ok is false for defaults and
// types Headroom does not manage (ip).
func entityOf(ce kadm.ClientQuotaEntity) (config.Entity, bool) {
	var e config.Entity
	for _, c := range ce {
		if c.Name == nil {
			return config.Entity{}, false
		}
		switch c.Type {
		case "user":
			e.User = *c.Name
		case "client-id":
			e.ClientID = *c.Name
		default:
			return config.Entity{}, false
		}
	}
	return e, e.User != "" || e.ClientID != ""
}

// Change is one planned quota.
type Change struct {
	Project   string
	Entity    config.Entity
	Direction config.Direction
	// Quota is the planned value, bytes/s per broker.
	Quota float64
	// Demand is the project's estimated demand; a cut below it is always
	// written.
	Demand float64
	// Urgent changes go first among the increases, within the write
	// budget: a lender reclaiming its share, a project short of its demand.
	Urgent bool
}

// FromPlan turns the decisions of a plan that must be written into
// changes. entities maps project names to entities; a project without one
// is an error.
func FromPlan(p limiter.Plan, entities map[string]config.Entity) ([]Change, error) {
	var out []Change
	for _, d := range p.Decisions {
		if !d.Write {
			continue
		}
		e, ok := entities[d.Project]
		if !ok {
			return nil, fmt.Errorf("plan for group %s: project %s has no quota entity", p.Group, d.Project)
		}
		out = append(out, Change{
			Project: d.Project, Entity: e, Direction: p.Direction, Quota: d.After, Demand: d.Demand,
			Urgent: d.After > d.Before && d.Before < d.Demand,
		})
	}
	return out, nil
}

// Outcome says what became of a change.
type Outcome string

// Outcomes.
const (
	Written   Outcome = "written"
	Unchanged Outcome = "unchanged" // Kafka already had the value
	Deferred  Outcome = "deferred"  // over the round's write budget
	Failed    Outcome = "failed"    // Kafka refused or did not answer; the value in force stays
	Refused   Outcome = "refused"   // not a positive finite number; never sent
	Shadow    Outcome = "shadow"    // shadow mode: would have been written
)

// Result is one change's outcome.
type Result struct {
	Change
	Outcome Outcome
	// Before is the value Kafka had when the round began; InForce the value
	// it has after (read back). NaN means no quota is set.
	Before, InForce float64
	Attempts        int
	Err             error
}

// Config tunes an Applier.
type Config struct {
	// Shadow writes nothing.
	Shadow bool
	// WriteBudget is the most entity writes per round. Default 50.
	WriteBudget int
	// BatchSize is the most entities per AlterClientQuotas request.
	// Default 25.
	BatchSize int
	// MinQuota is the smallest value ever written. Default 1024.
	MinQuota float64
	// Attempts is how often a request is tried. Default 4.
	Attempts int
	// Backoff is the first step between attempts; it doubles up to
	// MaxBackoff, and each wait is the step with internal/retry's jitter
	// (±50%). Defaults 200ms and 5s.
	Backoff, MaxBackoff time.Duration
	// Clock times the waits between attempts. Default clock.Real.
	Clock  clock.Clock
	Logger *slog.Logger
}

// Applier writes quotas through an admin client.
type Applier struct {
	adm *kadm.Client
	cfg Config
}

// New returns an Applier. It does not own adm.
func New(adm *kadm.Client, cfg Config) *Applier {
	if cfg.WriteBudget <= 0 {
		cfg.WriteBudget = 50
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 25
	}
	if !(cfg.MinQuota > 0) || math.IsInf(cfg.MinQuota, 0) {
		cfg.MinQuota = limiter.DefaultMinQuota
	}
	if cfg.Attempts <= 0 {
		cfg.Attempts = 4
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = 200 * time.Millisecond
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 5 * time.Second
	}
	cfg.Clock = clock.OrReal(cfg.Clock)
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Applier{adm: adm, cfg: cfg}
}

type quotaKey struct {
	entity config.Entity
	key    string
}

// Describe returns the byte-rate quotas in force for user, client-id and
// user+client-id entities.
func (a *Applier) Describe(ctx context.Context) (map[config.Entity]map[string]float64, error) {
	out := map[config.Entity]map[string]float64{}
	for _, typ := range []string{"user", "client-id"} {
		var qs kadm.DescribedClientQuotas
		err := a.retry(ctx, "describe client quotas", func() error {
			var err error
			qs, err = a.adm.DescribeClientQuotas(ctx, false, []kadm.DescribeClientQuotaComponent{{Type: typ, MatchType: 2}})
			return err
		})
		if err != nil {
			return nil, err
		}
		for _, q := range qs {
			e, ok := entityOf(q.Entity)
			if !ok {
				continue
			}
			if out[e] == nil {
				out[e] = map[string]float64{}
			}
			for _, v := range q.Values {
				out[e][v.Key] = v.Value
			}
		}
	}
	return out, nil
}

// Apply writes one round's changes and reports every one of them. The
// error is non-nil only when the round could not start (the quotas in
// force could not be read); per-change failures are in the results.
//
// It goes in phases: sort the changes against what is in force (refused,
// unchanged, cuts, urgent increases, other increases), spend the write
// budget cuts first, write cuts before increases (or, in shadow mode,
// nothing), and read back what is in force.
func (a *Applier) Apply(ctx context.Context, changes []Change) ([]Result, error) {
	current, err := a.Describe(ctx)
	if err != nil {
		return nil, fmt.Errorf("apply quotas: read quotas in force: %w", err)
	}
	res, cl := a.classify(changes, current)
	order, nCuts := a.spendBudget(res, cl)
	if a.cfg.Shadow {
		for _, i := range order {
			res[i].Outcome = Shadow
		}
		return res, nil
	}
	a.writeCutsFirst(ctx, res, order[:nCuts], order[nCuts:])
	if len(order) > 0 {
		a.readBack(ctx, res, order)
	}
	return res, nil
}

// classes sorts the changes to write (indices into the results): cuts,
// urgent increases (flagged urgent, no quota yet, or below demand), and
// the other increases.
type classes struct {
	cuts, urgent, rest []int
}

// classify starts each change's result from the value in force, refuses
// what must never be written (no entity, a quota that is not a positive
// number, an entity and key planned twice), rounds the quota to what
// Kafka keeps, marks unchanged what is already in force, and sorts the
// rest into classes.
func (a *Applier) classify(changes []Change, current map[config.Entity]map[string]float64) ([]Result, classes) {
	res := make([]Result, len(changes))
	var cl classes
	seen := map[quotaKey]bool{}
	for i, c := range changes {
		k := quotaKey{c.Entity, KeyFor(c.Direction)}
		r := &res[i]
		r.Change, r.Before = c, math.NaN()
		if v, ok := current[k.entity][k.key]; ok {
			r.Before = v
		}
		r.InForce = r.Before
		switch {
		case c.Entity == (config.Entity{}):
			r.Outcome, r.Err = Refused, fmt.Errorf("project %s: empty quota entity", c.Project)
			continue
		case math.IsNaN(c.Quota) || math.IsInf(c.Quota, 0) || c.Quota <= 0:
			r.Outcome, r.Err = Refused, fmt.Errorf("project %s %s: quota %v is not a positive number", c.Project, k.entity, c.Quota)
			continue
		case seen[k]:
			r.Outcome, r.Err = Refused, fmt.Errorf("project %s: %s %s planned twice in one round", c.Project, k.entity, k.key)
			continue
		}
		seen[k] = true
		// Kafka stores producer_byte_rate and consumer_byte_rate as longs
		// and rejects a fractional value, so a quota is written in whole
		// bytes/s, rounded down so that no broker is promised more than
		// the plan.
		q := max(math.Floor(c.Quota), math.Ceil(a.cfg.MinQuota))
		r.Change.Quota = q
		cur := r.Before
		switch {
		case !math.IsNaN(cur) && math.Abs(cur-q) <= 1e-9*max(cur, q):
			r.Outcome = Unchanged
		case !math.IsNaN(cur) && q < cur:
			cl.cuts = append(cl.cuts, i)
		case c.Urgent || math.IsNaN(cur) || (c.Demand > 0 && cur < c.Demand):
			cl.urgent = append(cl.urgent, i)
		default:
			cl.rest = append(cl.rest, i)
		}
	}
	return res, cl
}

// spendBudget picks the writes of the round within the write budget and
// defers the others: cuts first, so that no broker is promised more than
// it has while the round is half applied; then urgent increases; then the
// others, largest relative increase first. If any cut cannot be made
// within the budget, no increase is made either. It returns the writes in
// order, the first nCuts of them cuts.
func (a *Applier) spendBudget(res []Result, cl classes) (order []int, nCuts int) {
	budget := a.cfg.WriteBudget
	take := func(ids []int) bool {
		all := true
		for _, i := range ids {
			if budget == 0 {
				res[i].Outcome = Deferred
				all = false
				continue
			}
			budget--
			order = append(order, i)
		}
		return all
	}
	slices.SortStableFunc(cl.rest, func(x, y int) int { // largest relative increase first
		rx := res[x].Change.Quota / res[x].Before
		ry := res[y].Change.Quota / res[y].Before
		switch {
		case rx > ry:
			return -1
		case rx < ry:
			return 1
		}
		return 0
	})
	allCuts := take(cl.cuts)
	nCuts = len(order)
	if allCuts {
		take(cl.urgent)
		take(cl.rest)
	} else {
		for _, i := range append(cl.urgent, cl.rest...) {
			res[i].Outcome = Deferred
		}
	}
	return order, nCuts
}

// writeCutsFirst writes the cuts in their own batches, and the increases
// only once every cut is in force; otherwise the increases are deferred
// to the next round.
func (a *Applier) writeCutsFirst(ctx context.Context, res []Result, cuts, increases []int) {
	a.writeAll(ctx, res, cuts)
	for _, i := range cuts {
		if res[i].Outcome != Written {
			for _, i := range increases {
				res[i].Outcome, res[i].Err = Deferred, errors.New("a cut in the same round failed; increases wait for the next round")
			}
			return
		}
	}
	a.writeAll(ctx, res, increases)
}

// readBack reads what is in force after the writes into each written
// result: a write that did not land, or whose value cannot be read back,
// fails.
func (a *Applier) readBack(ctx context.Context, res []Result, order []int) {
	after, err := a.Describe(ctx)
	for _, i := range order {
		r := &res[i]
		k := quotaKey{r.Entity, KeyFor(r.Direction)}
		if err != nil {
			if r.Outcome == Written {
				r.Outcome, r.Err = Failed, fmt.Errorf("read back %s %s: %w", k.entity, k.key, err)
			}
			continue
		}
		v, ok := after[k.entity][k.key]
		r.InForce = math.NaN()
		if ok {
			r.InForce = v
		}
		if r.Outcome == Written && (!ok || math.Abs(v-r.Change.Quota) > 1e-9*r.Change.Quota) {
			r.Outcome, r.Err = Failed, fmt.Errorf("read back %s %s: %v in force, %v written", k.entity, k.key, r.InForce, r.Change.Quota)
		}
	}
}

func (a *Applier) writeAll(ctx context.Context, res []Result, ids []int) {
	for start := 0; start < len(ids); start += a.cfg.BatchSize {
		a.writeBatch(ctx, res, ids[start:min(start+a.cfg.BatchSize, len(ids))])
	}
}

// writeBatch validates then alters one batch, retrying what fails with a
// retriable error.
func (a *Applier) writeBatch(ctx context.Context, res []Result, batch []int) {
	pending := slices.Clone(batch)
	backoff := retry.New(a.cfg.Backoff, a.cfg.MaxBackoff)
	for attempt := 1; len(pending) > 0; attempt++ {
		entries := make([]kadm.AlterClientQuotaEntry, len(pending))
		for j, i := range pending {
			r := &res[i]
			r.Attempts = attempt
			entries[j] = kadm.AlterClientQuotaEntry{
				Entity: kadmEntity(r.Entity),
				Ops:    []kadm.AlterClientQuotaOp{{Key: KeyFor(r.Direction), Value: r.Change.Quota}},
			}
		}
		var again []int
		fail := func(i int, err error, retriable bool) {
			if retriable && attempt < a.cfg.Attempts {
				again = append(again, i)
				return
			}
			res[i].Outcome, res[i].Err = Failed, err
		}
		valid, err := a.adm.ValidateAlterClientQuotas(ctx, entries)
		if err != nil {
			for _, i := range pending {
				fail(i, fmt.Errorf("validate quota of %s: %w", res[i].Entity, err), retriableRequest(err))
			}
		} else {
			errs := byEntity(valid)
			var ok []int
			var okEntries []kadm.AlterClientQuotaEntry
			for j, i := range pending {
				if e := errs[entries[j].Entity.String()]; e != nil {
					fail(i, fmt.Errorf("validate quota of %s: %w", res[i].Entity, e), retriable(e))
					continue
				}
				ok = append(ok, i)
				okEntries = append(okEntries, entries[j])
			}
			if len(ok) > 0 {
				altered, err := a.adm.AlterClientQuotas(ctx, okEntries)
				if err != nil {
					for _, i := range ok {
						fail(i, fmt.Errorf("alter quota of %s: %w", res[i].Entity, err), retriableRequest(err))
					}
				} else {
					errs := byEntity(altered)
					for j, i := range ok {
						if e := errs[okEntries[j].Entity.String()]; e != nil {
							fail(i, fmt.Errorf("alter quota of %s: %w", res[i].Entity, e), retriable(e))
							continue
						}
						res[i].Outcome, res[i].Err = Written, nil
					}
				}
			}
		}
		pending = again
		if len(pending) == 0 {
			return
		}
		wait := backoff.Next()
		a.cfg.Logger.Warn("retrying quota writes", "entities", len(pending), "attempt", attempt, "backoff", wait)
		if err := clock.Sleep(ctx, a.cfg.Clock, wait); err != nil {
			for _, i := range pending {
				res[i].Outcome, res[i].Err = Failed, fmt.Errorf("write quota of %s: %w", res[i].Entity, err)
			}
			return
		}
	}
}

// retry runs a read with the applier's backoff.
func (a *Applier) retry(ctx context.Context, what string, fn func() error) error {
	backoff := retry.New(a.cfg.Backoff, a.cfg.MaxBackoff)
	var err error
	for attempt := 1; ; attempt++ {
		if err = fn(); err == nil {
			return nil
		}
		if attempt >= a.cfg.Attempts || !retriableRequest(err) {
			return fmt.Errorf("%s (attempt %d): %w", what, attempt, err)
		}
		if serr := clock.Sleep(ctx, a.cfg.Clock, backoff.Next()); serr != nil {
			return fmt.Errorf("%s: %w (last error: %v)", what, serr, err)
		}
	}
}

func byEntity(as kadm.AlteredClientQuotas) map[string]error {
	m := make(map[string]error, len(as))
	for _, a := range as {
		if a.Err != nil {
			err := a.Err
			if a.ErrMessage != "" {
				err = fmt.Errorf("%w: %s", a.Err, a.ErrMessage)
			}
			m[a.Entity.String()] = err
		}
	}
	return m
}

// retriable reports whether a per-entity error may go away on its own.
func retriable(err error) bool {
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Retriable || ke == kerr.RequestTimedOut || ke == kerr.NotController
	}
	return false
}

// retriableRequest reports whether a request-level error may go away:
// network errors and retriable Kafka errors are; authorization and
// malformed requests are not.
func retriableRequest(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return retriable(err)
	}
	return !strings.Contains(err.Error(), "authoriz")
}
