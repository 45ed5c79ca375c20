// Package whatif answers "what would this change have done?": it replays
// the demand the ledger recorded for one resource group over a recent
// window through the simulator, once with the policy in force and once with
// a proposed override, and reports throttled bytes and overload for both.
//
// Approximations, stated in every answer: the ledger records each project's
// demand on its hottest broker, which is replayed as demand spread evenly
// over the group's brokers; a pin is replayed as floor = share = ceiling;
// a frozen group is replayed under static quotas.
package whatif

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/headroomhq/headroom/config"
	"github.com/headroomhq/headroom/limiter/overrides"
	"github.com/headroomhq/headroom/simulations/scenario"
	"github.com/headroomhq/headroom/simulations/sim"
	"github.com/headroomhq/headroom/store"
)

// Change is a proposed override.
type Change struct {
	Kind string         `json:"kind"`
	Name string         `json:"name"`
	Spec overrides.Spec `json:"spec"`
}

// Outcome is one replay's figures.
type Outcome struct {
	Policy         string  `json:"policy"`
	DemandBytes    float64 `json:"demand_bytes"`
	ThrottledBytes float64 `json:"throttled_bytes"`
	OverloadRounds int     `json:"overload_rounds"`
	OverloadBytes  float64 `json:"overload_bytes"`
	Writes         int     `json:"writes"`
}

// Answer compares the policy in force with the proposed change.
type Answer struct {
	Group    string    `json:"group"`
	From     time.Time `json:"from"`
	To       time.Time `json:"to"`
	Rounds   int       `json:"rounds"`
	Current  Outcome   `json:"current"`
	Proposed Outcome   `json:"proposed"`
	// Static is what the projects' configured shares alone would have done.
	Static Outcome  `json:"static"`
	Notes  []string `json:"notes"`
}

// The replay window's bounds.
const (
	MinWindow = time.Minute
	MaxWindow = 7 * 24 * time.Hour
)

// ErrNoData means the ledger holds too little demand to replay.
var ErrNoData = errors.New("no recorded demand to replay")

// Run replays the last window of recorded demand.
func Run(ctx context.Context, db *store.DB, cfg *config.Config, change Change, window time.Duration, now time.Time) (*Answer, error) {
	if window < MinWindow || window > MaxWindow {
		return nil, fmt.Errorf("window %s: want %s to %s", window, MinWindow, MaxWindow)
	}
	if errs := overrides.Validate(cfg, change.Kind, change.Name, change.Spec, now); len(errs) > 0 {
		return nil, fmt.Errorf("invalid change: %s: %s", errs[0].Path, errs[0].Msg)
	}
	group := change.Name
	if change.Kind == overrides.KindProject {
		for _, p := range cfg.Projects {
			if p.Name == change.Name {
				group = p.Group
			}
		}
	}
	ovs, err := db.Overrides(ctx, now)
	if err != nil {
		return nil, err
	}
	current, _ := overrides.Apply(cfg, ovs, now)
	spec, _ := json.Marshal(change.Spec)
	var proposedOvs []store.Override
	for _, o := range ovs {
		if !(o.Kind == change.Kind && o.Name == change.Name) {
			proposedOvs = append(proposedOvs, o)
		}
	}
	proposedOvs = append(proposedOvs, store.Override{Kind: change.Kind, Name: change.Name, Spec: spec})
	proposed, errs := overrides.Apply(cfg, proposedOvs, now)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}

	dir, err := os.MkdirTemp("", "headroom-whatif-")
	if err != nil {
		return nil, fmt.Errorf("what-if: %w", err)
	}
	defer os.RemoveAll(dir)
	from := now.Add(-window)
	g, _ := cfg.Group(group)
	traces, err := writeTraces(ctx, db, cfg, group, len(g.Brokers), from, now, dir)
	if err != nil {
		return nil, err
	}
	ans := &Answer{Group: group, From: from, To: now, Notes: []string{
		"demand is each project's recorded demand on its hottest broker, replayed spread evenly over the group's brokers",
		"a pin is replayed as floor = share = ceiling; a frozen group under static quotas",
	}}
	for _, run := range []struct {
		out *Outcome
		eff overrides.Effective
	}{{&ans.Current, current}, {&ans.Proposed, proposed}} {
		policy := "headroom"
		if run.eff.Frozen[group] {
			policy = "static"
		}
		res, err := replay(run.eff, group, traces, from, now, dir, policy)
		if err != nil {
			return nil, err
		}
		*run.out = outcome(res, policy)
		ans.Rounds = res.Rounds
	}
	res, err := replay(overrides.Effective{Config: cfg}, group, traces, from, now, dir, "static")
	if err != nil {
		return nil, err
	}
	ans.Static = outcome(res, "static")
	return ans, nil
}

func outcome(r *sim.Result, policy string) Outcome {
	for _, p := range r.Policies {
		if p.Name == policy {
			return Outcome{Policy: policy, DemandBytes: p.DemandBytes, ThrottledBytes: p.ThrottledBytes,
				OverloadRounds: p.OverloadRounds, OverloadBytes: p.OverloadBytes, Writes: p.Writes}
		}
	}
	return Outcome{Policy: policy}
}

// writeTraces writes one CSV per project and direction with recorded
// demand, and returns their file names by "project/direction".
func writeTraces(ctx context.Context, db *store.DB, cfg *config.Config, group string, brokers int, from, to time.Time, dir string) (map[string]string, error) {
	out := map[string]string{}
	for _, p := range cfg.Projects {
		if p.Group != group {
			continue
		}
		for _, d := range config.Directions {
			es, err := db.DecisionHistory(ctx, p.Name, d.String(), from, to, 100000)
			if err != nil {
				return nil, err
			}
			var b strings.Builder
			b.WriteString("timestamp,value\n")
			n := 0
			var last time.Time
			for _, e := range es {
				if !e.At.After(last) || e.Demand != e.Demand || e.Demand < 0 { // skip repeats and NaN
					continue
				}
				fmt.Fprintf(&b, "%s,%g\n", e.At.UTC().Format(time.RFC3339Nano), e.Demand*float64(brokers))
				last = e.At
				n++
			}
			if n < 2 {
				continue
			}
			name := fmt.Sprintf("%s-%s.csv", sanitize(p.Name), d)
			if err := os.WriteFile(filepath.Join(dir, name), []byte(b.String()), 0o600); err != nil {
				return nil, fmt.Errorf("what-if: %w", err)
			}
			out[p.Name+"/"+d.String()] = name
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("group %s, %s to %s: %w", group, from.Format(time.RFC3339), to.Format(time.RFC3339), ErrNoData)
	}
	return out, nil
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, s)
}

// replay builds the group's scenario from eff and the traces and runs
// policy (and static, for reference).
func replay(eff overrides.Effective, group string, traces map[string]string, from, to time.Time, dir, policy string) (*sim.Result, error) {
	cfg := eff.Config
	g, _ := cfg.Group(group)
	var b strings.Builder
	fmt.Fprintf(&b, "name: whatif-%s\nround: %s\nduration: %s\ncontrol_delay: 1\n", sanitize(group), cfg.Global.RoundInterval, to.Sub(from).Round(time.Second))
	fmt.Fprintf(&b, "brokers:\n  count: %d\n  capacity: {produce: %g, fetch: %g}\n  margin: %g\nprojects:\n",
		len(g.Brokers), float64(g.Capacity.Produce), float64(g.Capacity.Fetch), g.Margin)
	for _, p := range cfg.Projects {
		if p.Group != group {
			continue
		}
		fmt.Fprintf(&b, "  - name: %q\n", p.Name)
		for _, d := range []struct {
			name string
			q    config.QuotaConfig
		}{{"produce", p.Produce}, {"fetch", p.Fetch}} {
			q := d.q
			if pin, ok := eff.Pins[p.Name][d.name]; ok {
				q.Share, q.Floor, q.Ceiling = config.Rate(pin), config.Rate(pin), config.Rate(pin)
			}
			fmt.Fprintf(&b, "    %s: {share: %g, floor: %g, ceiling: %g, weight: %g}\n", d.name, float64(q.Share), float64(q.Floor), float64(q.Ceiling), q.Weight)
		}
		b.WriteString("    demand:\n")
		any := false
		for _, d := range config.Directions {
			if f, ok := traces[p.Name+"/"+d.String()]; ok {
				fmt.Fprintf(&b, "      %s: {trace: {file: %q}}\n", d, f)
				any = true
			}
		}
		if !any {
			b.WriteString("      produce: {base: 0}\n")
		}
	}
	path := filepath.Join(dir, "scenario-"+policy+".yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		return nil, fmt.Errorf("what-if: %w", err)
	}
	s, err := scenario.Load(path)
	if err != nil {
		return nil, fmt.Errorf("what-if: the change does not make a valid group: %w", err)
	}
	policies := []string{policy}
	if policy != "static" {
		policies = append(policies, "static")
	}
	return sim.Run(s, sim.Options{Policies: policies, Headroom: new(sim.HeadroomConfigFor(cfg))})
}
