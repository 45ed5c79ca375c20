// Package scenario defines Headroom's scenario format: a cluster of brokers,
// the projects on it and their demand over time. The simulator
// (simulations/sim) and the lab cluster (simulations/lab) replay the same
// files, so a policy is judged on the demand the lab then generates.
//
// A scenario is strict YAML; every error names its path. Demand is
// deterministic for a given seed: Demand evaluates a project's rate at any
// time without state, so runs can be repeated and compared.
//
// It must not import the simulator, the lab or any Headroom component.
package scenario

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v3"

	"github.com/headroomhq/headroom/config"
)

// Scenario is one scenario file.
type Scenario struct {
	// Name identifies the scenario in reports. Default: the file name.
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
	// Round is the control interval. Default 10s.
	Round model.Duration `yaml:"round"`
	// Duration is how long the scenario runs. Required.
	Duration model.Duration `yaml:"duration"`
	// Seed makes noise, spikes and observation noise repeatable. Default 1.
	Seed int64 `yaml:"seed"`
	// ObservationNoise is the relative standard deviation of the rates a
	// policy observes, e.g. 0.02. Default 0.
	ObservationNoise float64 `yaml:"observation_noise"`
	// ControlDelay is how many rounds pass before a plan takes effect, at
	// least 1. Default 1: a plan made from round t applies from round t+1.
	ControlDelay int `yaml:"control_delay"`
	// Enforcement describes how quotas are enforced (Kafka's window, the
	// client's buffer). Default: Kafka's defaults.
	Enforcement Enforcement `yaml:"enforcement"`
	// Brokers describes the cluster.
	Brokers Brokers `yaml:"brokers"`
	// Projects are the tenants.
	Projects []Project `yaml:"projects"`

	// dir is where the file lives; traces are relative to it.
	dir string
}

// Brokers describes the brokers of one resource group.
type Brokers struct {
	// Count is the number of brokers. Required, 1 to 10000.
	Count int `yaml:"count"`
	// Capacity is each broker's capacity per direction.
	Capacity config.DirectionRates `yaml:"capacity"`
	// Margin is the share of capacity that may be handed out. Default 0.9.
	Margin float64 `yaml:"margin"`
	// Skew multiplies the partition weight of individual brokers when
	// placements are spread automatically, e.g. {0: 3} makes broker 0 hot.
	Skew map[int]float64 `yaml:"skew"`
}

// Project is one tenant.
type Project struct {
	Name string `yaml:"name"`
	// Produce and Fetch are the project's entitlements per broker.
	Produce Quota `yaml:"produce"`
	Fetch   Quota `yaml:"fetch"`
	// Partitions is how many partition leaders the project has. They are
	// spread round-robin from broker (project index mod count), weighted by
	// the brokers' skew. Default: one per broker.
	Partitions int `yaml:"partitions"`
	// Placement, when set, gives the partition-leader count per broker id
	// explicitly and overrides Partitions.
	Placement map[int]int `yaml:"placement"`
	// Demand is the project's total demand per direction, across brokers.
	Demand ProjectDemand `yaml:"demand"`
	// Tier is the project's priority when capacity is short, as in
	// Headroom's configuration: critical, standard (default) or
	// best-effort. Only the headroom policy reads it.
	Tier string `yaml:"tier"`
}

// Quota is a project's entitlement in one direction, bytes/s per broker.
type Quota struct {
	Share   config.Rate `yaml:"share"`
	Floor   config.Rate `yaml:"floor"`
	Ceiling config.Rate `yaml:"ceiling"`
	Weight  float64     `yaml:"weight"`
}

// ProjectDemand holds the demand of each direction. A missing direction has
// no demand.
type ProjectDemand struct {
	Produce *Demand `yaml:"produce"`
	Fetch   *Demand `yaml:"fetch"`
}

// Load reads and validates a scenario file.
func Load(path string) (*Scenario, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read scenario %s: %w", path, err)
	}
	s, err := Parse(b, filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("read scenario %s: %w", path, err)
	}
	if s.Name == "" {
		base := filepath.Base(path)
		s.Name = base[:len(base)-len(filepath.Ext(base))]
	}
	return s, nil
}

// Parse decodes and validates a scenario. dir resolves relative trace
// paths.
func Parse(b []byte, dir string) (*Scenario, error) {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	s := &Scenario{}
	if err := dec.Decode(s); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("empty scenario")
		}
		return nil, fmt.Errorf("decode: %w", indexPaths(b).explain(err))
	}
	if err := dec.Decode(&yaml.Node{}); !errors.Is(err, io.EOF) {
		return nil, errors.New("decode: a scenario file holds one YAML document, found more")
	}
	s.dir = dir
	s.applyDefaults()
	if errs := s.validate(); len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if err := s.loadTraces(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Scenario) applyDefaults() {
	if s.Round == 0 {
		s.Round = model.Duration(10 * time.Second)
	}
	if s.Seed == 0 {
		s.Seed = 1
	}
	if s.ControlDelay == 0 {
		s.ControlDelay = 1
	}
	if s.Brokers.Margin == 0 {
		s.Brokers.Margin = 0.9
	}
	for i := range s.Projects {
		p := &s.Projects[i]
		for _, q := range []*Quota{&p.Produce, &p.Fetch} {
			if q.Weight == 0 {
				q.Weight = 1
			}
			if q.Floor == 0 {
				q.Floor = q.Share / 10
			}
		}
		if p.Produce.Ceiling == 0 {
			p.Produce.Ceiling = config.Rate(float64(s.Brokers.Capacity.Produce) * s.Brokers.Margin)
		}
		if p.Fetch.Ceiling == 0 {
			p.Fetch.Ceiling = config.Rate(float64(s.Brokers.Capacity.Fetch) * s.Brokers.Margin)
		}
	}
}

func (s *Scenario) validate() []error {
	var errs []error
	add := func(path, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...)))
	}
	if s.Round < model.Duration(time.Second) {
		add("round", "must be at least 1s, got %s", s.Round)
	}
	if s.Duration <= 0 {
		add("duration", "required and must be positive")
	} else if s.Round > 0 && int64(s.Duration)/int64(s.Round) > 10_000_000 {
		add("duration", "more than 10,000,000 rounds")
	}
	if s.ObservationNoise < 0 || s.ObservationNoise > 1 || math.IsNaN(s.ObservationNoise) {
		add("observation_noise", "must be in [0, 1], got %v", s.ObservationNoise)
	}
	if s.ControlDelay < 1 || s.ControlDelay > 100 {
		add("control_delay", "must be in [1, 100] rounds, got %d", s.ControlDelay)
	}
	errs = append(errs, s.Enforcement.validate(time.Duration(s.Round))...)
	b := s.Brokers
	if b.Count < 1 || b.Count > 10000 {
		add("brokers.count", "must be in [1, 10000], got %d", b.Count)
	}
	if b.Capacity.Produce <= 0 {
		add("brokers.capacity.produce", "required and must be above zero")
	}
	if b.Capacity.Fetch <= 0 {
		add("brokers.capacity.fetch", "required and must be above zero")
	}
	if !(b.Margin > 0 && b.Margin <= 1) {
		add("brokers.margin", "must be in (0, 1], got %v", b.Margin)
	}
	for id, w := range b.Skew {
		if id < 0 || id >= b.Count {
			add(fmt.Sprintf("brokers.skew[%d]", id), "no such broker (count %d)", b.Count)
		}
		if !(w > 0) || math.IsInf(w, 0) {
			add(fmt.Sprintf("brokers.skew[%d]", id), "must be a finite number above zero, got %v", w)
		}
	}
	if len(s.Projects) == 0 {
		add("projects", "at least one project is required")
	}
	names := map[string]bool{}
	for i, p := range s.Projects {
		pp := fmt.Sprintf("projects[%d]", i)
		switch {
		case p.Name == "":
			add(pp+".name", "required")
		case names[p.Name]:
			add(pp+".name", "duplicate project %q", p.Name)
		}
		names[p.Name] = true
		for _, q := range []struct {
			name string
			q    Quota
			cap  config.Rate
		}{{"produce", p.Produce, b.Capacity.Produce}, {"fetch", p.Fetch, b.Capacity.Fetch}} {
			qp := pp + "." + q.name
			if q.q.Share <= 0 {
				add(qp+".share", "required and must be above zero")
			}
			if q.q.Floor > q.q.Share || q.q.Share > q.q.Ceiling {
				add(qp, "need floor <= share <= ceiling, got %s <= %s <= %s", q.q.Floor, q.q.Share, q.q.Ceiling)
			}
			if safe := float64(q.cap) * b.Margin; q.cap > 0 && float64(q.q.Ceiling) > safe*(1+1e-9) {
				add(qp+".ceiling", "%s exceeds safe capacity %s", q.q.Ceiling, config.Rate(safe))
			}
			if !(q.q.Weight > 0) || math.IsInf(q.q.Weight, 0) {
				add(qp+".weight", "must be a finite number above zero, got %v", q.q.Weight)
			}
		}
		switch p.Tier {
		case "", config.TierCritical, config.TierStandard, config.TierBestEffort:
		default:
			add(pp+".tier", "must be %s, %s or %s, got %q", config.TierCritical, config.TierStandard, config.TierBestEffort, p.Tier)
		}
		if p.Partitions < 0 || p.Partitions > 100000 {
			add(pp+".partitions", "must be in [0, 100000], got %d", p.Partitions)
		}
		for id, n := range p.Placement {
			if id < 0 || id >= b.Count {
				add(fmt.Sprintf("%s.placement[%d]", pp, id), "no such broker (count %d)", b.Count)
			}
			if n < 0 {
				add(fmt.Sprintf("%s.placement[%d]", pp, id), "must not be negative")
			}
		}
		if len(p.Placement) > 0 && sumInts(p.Placement) == 0 {
			add(pp+".placement", "needs at least one partition")
		}
		if p.Demand.Produce == nil && p.Demand.Fetch == nil {
			add(pp+".demand", "at least one of produce and fetch is required")
		}
		if d := p.Demand.Produce; d != nil {
			errs = append(errs, d.validate(pp+".demand.produce")...)
		}
		if d := p.Demand.Fetch; d != nil {
			errs = append(errs, d.validate(pp+".demand.fetch")...)
		}
	}
	if len(errs) == 0 {
		errs = append(errs, s.checkShareSums()...)
	}
	return errs
}

// checkShareSums checks that on every broker the shares of the projects
// placed there fit its safe capacity, so that static quotas are safe.
func (s *Scenario) checkShareSums() []error {
	var errs []error
	for _, d := range config.Directions {
		sums := make([]float64, s.Brokers.Count)
		for i := range s.Projects {
			for _, bw := range s.Placement(i) {
				sums[bw.Broker] += float64(s.Projects[i].Quota(d).Share)
			}
		}
		safe := s.Brokers.SafeCapacity(d)
		for b, sum := range sums {
			if sum > safe*(1+1e-9) {
				errs = append(errs, fmt.Errorf("projects: %s shares of the projects on broker %d sum to %s, above its safe capacity %s",
					d, b, config.Rate(sum), config.Rate(safe)))
				break
			}
		}
	}
	return errs
}

func sumInts(m map[int]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// Quota returns the project's entitlement in direction d.
func (p *Project) Quota(d config.Direction) Quota {
	if d == config.Produce {
		return p.Produce
	}
	return p.Fetch
}

// DemandSpec returns the project's demand in direction d, or nil.
func (p *Project) DemandSpec(d config.Direction) *Demand {
	if d == config.Produce {
		return p.Demand.Produce
	}
	return p.Demand.Fetch
}

// SafeCapacity is margin × capacity per broker in direction d.
func (b Brokers) SafeCapacity(d config.Direction) float64 {
	c := b.Capacity.Produce
	if d == config.Fetch {
		c = b.Capacity.Fetch
	}
	return float64(c) * b.Margin
}

// Rounds is the number of rounds in the scenario.
func (s *Scenario) Rounds() int { return int(int64(s.Duration) / int64(s.Round)) }

// RoundInterval is the round as a time.Duration.
func (s *Scenario) RoundInterval() time.Duration { return time.Duration(s.Round) }

// BrokerWeight is one broker's share of a project's partitions.
type BrokerWeight struct {
	Broker int
	// Weight is the fraction of the project's traffic the broker leads, in
	// (0, 1]; a project's weights sum to 1.
	Weight float64
}

// Placement returns the brokers project i's partition leaders sit on, with
// the fraction of its traffic each one carries.
func (s *Scenario) Placement(i int) []BrokerWeight {
	p := s.Projects[i]
	counts := map[int]float64{}
	if len(p.Placement) > 0 {
		for id, n := range p.Placement {
			if n > 0 {
				counts[id] = float64(n)
			}
		}
	} else {
		n := p.Partitions
		if n == 0 {
			n = s.Brokers.Count
		}
		for k := range n {
			id := (i + k) % s.Brokers.Count
			w := 1.0
			if sk, ok := s.Brokers.Skew[id]; ok {
				w = sk
			}
			counts[id] += w
		}
	}
	var total float64
	for _, c := range counts {
		total += c
	}
	out := make([]BrokerWeight, 0, len(counts))
	for id := range s.Brokers.Count {
		if c, ok := counts[id]; ok {
			out = append(out, BrokerWeight{Broker: id, Weight: c / total})
		}
	}
	return out
}
