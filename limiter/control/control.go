// Package control runs the limiter's round: plan every group and direction
// with limiter.Allocate, write the plans through the applier, and record
// every decision with its outcome in the ledger, all or nothing per round.
// It keeps the last-good quota of each project and direction (what the
// cluster confirmed) and feeds it into the next round's state, so a failed
// write is planned from what is really in force.
//
// It must not import the collector, the detector, alerting or api: the
// caller builds limiter.State values from their outputs.
package control

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/headroomhq/headroom/config"
	"github.com/headroomhq/headroom/limiter"
	"github.com/headroomhq/headroom/limiter/applier"
	"github.com/headroomhq/headroom/limiter/record"
	"github.com/headroomhq/headroom/store"
)

// Ledger is where rounds are recorded; *store.DB implements it.
type Ledger interface {
	RecordDecisions(ctx context.Context, es []store.LedgerEntry) error
}

// Writer writes quotas; *applier.Applier implements it.
type Writer interface {
	Apply(ctx context.Context, changes []applier.Change) ([]applier.Result, error)
}

// Controller runs rounds. It is not safe for concurrent use: one round at
// a time.
type Controller struct {
	writer   Writer
	ledger   Ledger
	mode     string
	entities map[string]config.Entity
	names    map[string]string
	lastGood map[key]float64
	// owed is each project's Decision.Owed from its last plan, fed back
	// as Project.Owed.
	owed  map[key]float64
	round int64
}

type key struct {
	project string
	dir     config.Direction
}

// New returns a Controller. mode is "shadow" or "enforce" and is recorded
// with every decision; the applier decides what is written. entities maps
// each project to its quota entity.
func New(w Writer, l Ledger, mode string, entities map[string]config.Entity) *Controller {
	names := make(map[string]string, len(entities))
	for p, e := range entities {
		names[p] = e.String()
	}
	return &Controller{writer: w, ledger: l, mode: mode, entities: entities, names: names, lastGood: map[key]float64{}, owed: map[key]float64{}}
}

// Round is one round's outcome.
type Round struct {
	Index   int64
	Plans   []limiter.Plan
	Results []applier.Result
}

// Step plans, applies and records one round at time at. Each state's
// project quotas are overwritten with the last-good values the controller
// knows (a project it has not seen keeps the state's value, e.g. one read
// from the cluster at start). A Kafka error on one group is recorded in
// that group's entries and does not stop the others; an error is returned
// only when nothing could be applied or the round could not be recorded.
func (c *Controller) Step(ctx context.Context, at time.Time, states []*limiter.State) (Round, error) {
	r := Round{Index: c.round}
	c.round++
	var entries []store.LedgerEntry
	var firstErr error
	for _, s := range states {
		for i := range s.Projects {
			k := key{s.Projects[i].Name, s.Direction}
			if q, ok := c.lastGood[k]; ok {
				s.Projects[i].Quota = q
			}
			s.Projects[i].Owed = c.owed[k]
		}
		plan := limiter.Allocate(s)
		r.Plans = append(r.Plans, plan)
		for _, d := range plan.Decisions {
			if k := (key{d.Project, plan.Direction}); d.Owed > 0 {
				c.owed[k] = d.Owed
			} else {
				delete(c.owed, k)
			}
		}
		changes, err := applier.FromPlan(plan, c.entities)
		var results []applier.Result
		if err == nil && len(changes) > 0 {
			results, err = c.writer.Apply(ctx, changes)
		}
		if err != nil {
			err = fmt.Errorf("round %d group %s %s: %w", r.Index, plan.Group, plan.Direction, err)
			if firstErr == nil {
				firstErr = err
			}
			// Nothing was written for this group: record every planned
			// write as failed, with the quota kept.
			results = failAll(changes, plan, err)
		}
		r.Results = append(r.Results, results...)
		// The last good value is what the cluster has, whatever became
		// of the plan.
		for _, res := range results {
			if v := res.InForce; v > 0 && !math.IsInf(v, 0) {
				c.lastGood[key{res.Project, res.Direction}] = v
			}
		}
		entries = append(entries, record.Entries(at, r.Index, c.mode, plan, c.names, results)...)
	}
	if err := c.ledger.RecordDecisions(ctx, entries); err != nil {
		return r, fmt.Errorf("round %d: record decisions: %w", r.Index, err)
	}
	return r, firstErr
}

func failAll(changes []applier.Change, plan limiter.Plan, err error) []applier.Result {
	before := map[string]float64{}
	for _, d := range plan.Decisions {
		before[d.Project] = d.Before
	}
	out := make([]applier.Result, 0, len(changes))
	for _, ch := range changes {
		out = append(out, applier.Result{Change: ch, Outcome: applier.Failed, Before: before[ch.Project], InForce: before[ch.Project], Err: err})
	}
	if len(changes) == 0 {
		for _, d := range plan.Decisions {
			if d.Write {
				out = append(out, applier.Result{Change: applier.Change{Project: d.Project, Direction: plan.Direction, Quota: d.After}, Outcome: applier.Failed, Before: d.Before, InForce: d.Before, Err: err})
			}
		}
	}
	return out
}
