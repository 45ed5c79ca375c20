// Package scenario defines Headroom's scenario format: a cluster of brokers,
// the projects on it and their demand over time. The simulator
// (simulations/sim) and the lab cluster (simulations/lab) replay the same
// files, so a policy is judged on the demand the lab then generates.
//
// A scenario is strict YAML, read by the configuration's engine
// (config.DecodeStrict); every error is a config.FieldError naming its
// path. Demand is
// deterministic for a given seed: Demand evaluates a project's rate at any
// time without state, so runs can be repeated and compared.
//
// It must not import the simulator, the lab or any Headroom component.
package scenario

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/common/model"

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
	// Exempt is traffic no policy may throttle (mirroring, rebalancing,
	// canaries): it loads the brokers, and a policy sees it only as a
	// live round would, measured per broker.
	Exempt []Exempt `yaml:"exempt"`

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
	s := &Scenario{}
	if _, err := config.DecodeStrict(b, s, "scenario"); err != nil {
		if errors.Is(err, config.ErrNoDocument) {
			return nil, errors.New("empty scenario")
		}
		return nil, fmt.Errorf("decode: %w", err)
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

// validate reports every problem of the scenario, section by section, and
// then, if there is none, whether static quotas would be safe.
func (s *Scenario) validate() []error {
	var errs problems
	s.validateRun(&errs)
	errs = append(errs, s.Enforcement.validate(time.Duration(s.Round))...)
	s.Brokers.validate(&errs)
	if len(s.Projects) == 0 {
		errs.add("projects", "at least one project is required")
	}
	names := map[string]bool{}
	for i := range s.Projects {
		s.validateProject(&errs, i, names)
	}
	errs = append(errs, s.validateExempt(names)...)
	if len(errs) == 0 {
		errs = append(errs, s.checkShareSums()...)
	}
	return errs
}

// problems collects validation errors, each a config.FieldError with the
// path of its field.
type problems []error

func (ps *problems) add(path, format string, args ...any) {
	*ps = append(*ps, config.FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
}

// validateRun checks the fields that say how the scenario runs.
func (s *Scenario) validateRun(errs *problems) {
	if s.Round < model.Duration(time.Second) {
		errs.add("round", "must be at least 1s, got %s", s.Round)
	}
	if s.Duration <= 0 {
		errs.add("duration", "required and must be positive")
	} else if s.Round > 0 && int64(s.Duration)/int64(s.Round) > 10_000_000 {
		errs.add("duration", "more than 10,000,000 rounds")
	}
	if s.ObservationNoise < 0 || s.ObservationNoise > 1 || math.IsNaN(s.ObservationNoise) {
		errs.add("observation_noise", "must be in [0, 1], got %v", s.ObservationNoise)
	}
	if s.ControlDelay < 1 || s.ControlDelay > 100 {
		errs.add("control_delay", "must be in [1, 100] rounds, got %d", s.ControlDelay)
	}
}

func (b Brokers) validate(errs *problems) {
	if b.Count < 1 || b.Count > 10000 {
		errs.add("brokers.count", "must be in [1, 10000], got %d", b.Count)
	}
	if b.Capacity.Produce <= 0 {
		errs.add("brokers.capacity.produce", "required and must be above zero")
	}
	if b.Capacity.Fetch <= 0 {
		errs.add("brokers.capacity.fetch", "required and must be above zero")
	}
	if !(b.Margin > 0 && b.Margin <= 1) {
		errs.add("brokers.margin", "must be in (0, 1], got %v", b.Margin)
	}
	for id, w := range b.Skew {
		if id < 0 || id >= b.Count {
			errs.add(fmt.Sprintf("brokers.skew[%d]", id), "no such broker (count %d)", b.Count)
		}
		if !(w > 0) || math.IsInf(w, 0) {
			errs.add(fmt.Sprintf("brokers.skew[%d]", id), "must be a finite number above zero, got %v", w)
		}
	}
}

// validateProject checks project i; names holds the names of the projects
// before it.
func (s *Scenario) validateProject(errs *problems, i int, names map[string]bool) {
	p, b := s.Projects[i], s.Brokers
	pp := fmt.Sprintf("projects[%d]", i)
	switch {
	case p.Name == "":
		errs.add(pp+".name", "required")
	case names[p.Name]:
		errs.add(pp+".name", "duplicate project %q", p.Name)
	}
	names[p.Name] = true
	p.Produce.validate(errs, pp+".produce", b.Capacity.Produce, b.Margin)
	p.Fetch.validate(errs, pp+".fetch", b.Capacity.Fetch, b.Margin)
	switch p.Tier {
	case "", config.TierCritical, config.TierStandard, config.TierBestEffort:
	default:
		errs.add(pp+".tier", "must be %s, %s or %s, got %q", config.TierCritical, config.TierStandard, config.TierBestEffort, p.Tier)
	}
	if p.Partitions < 0 || p.Partitions > 100000 {
		errs.add(pp+".partitions", "must be in [0, 100000], got %d", p.Partitions)
	}
	for id, n := range p.Placement {
		if id < 0 || id >= b.Count {
			errs.add(fmt.Sprintf("%s.placement[%d]", pp, id), "no such broker (count %d)", b.Count)
		}
		if n < 0 {
			errs.add(fmt.Sprintf("%s.placement[%d]", pp, id), "must not be negative")
		}
	}
	if len(p.Placement) > 0 && sumInts(p.Placement) == 0 {
		errs.add(pp+".placement", "needs at least one partition")
	}
	if p.Demand.Produce == nil && p.Demand.Fetch == nil {
		errs.add(pp+".demand", "at least one of produce and fetch is required")
	}
	if d := p.Demand.Produce; d != nil {
		*errs = append(*errs, d.validate(pp+".demand.produce")...)
	}
	if d := p.Demand.Fetch; d != nil {
		*errs = append(*errs, d.validate(pp+".demand.fetch")...)
	}
}

// validate checks one direction's quota, at path qp, against a broker's
// capacity and the margin.
func (q Quota) validate(errs *problems, qp string, capacity config.Rate, margin float64) {
	if q.Share <= 0 {
		errs.add(qp+".share", "required and must be above zero")
	}
	if q.Floor > q.Share || q.Share > q.Ceiling {
		errs.add(qp, "need floor <= share <= ceiling, got %s <= %s <= %s", q.Floor, q.Share, q.Ceiling)
	}
	if safe := float64(capacity) * margin; capacity > 0 && float64(q.Ceiling) > safe*(1+1e-9) {
		errs.add(qp+".ceiling", "%s exceeds safe capacity %s", q.Ceiling, config.Rate(safe))
	}
	if !(q.Weight > 0) || math.IsInf(q.Weight, 0) {
		errs.add(qp+".weight", "must be a finite number above zero, got %v", q.Weight)
	}
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

// Leaders returns project i's partition leaders, one entry a partition,
// with each one's weight: the explicit placement in broker order, weight 1
// each, or else Partitions (default one per broker) spread round-robin
// from broker i mod count, each weighted by its broker's skew. The
// simulator (through Placement) and the lab place leaders with it.
func (s *Scenario) Leaders(i int) (brokers []int, weights []float64) {
	p := s.Projects[i]
	return s.leaders(i, p.Partitions, p.Placement)
}

// leaders places partition leaders: the explicit per-broker counts in
// broker order, or partitions (default one per broker) round-robin from
// broker start mod count, each weighted by its broker's skew.
func (s *Scenario) leaders(start, partitions int, explicit map[int]int) (brokers []int, weights []float64) {
	if len(explicit) > 0 {
		for id := range s.Brokers.Count {
			for range explicit[id] {
				brokers, weights = append(brokers, id), append(weights, 1)
			}
		}
		return brokers, weights
	}
	n := partitions
	if n == 0 {
		n = s.Brokers.Count
	}
	for k := range n {
		id := (start + k) % s.Brokers.Count
		w := 1.0
		if sk, ok := s.Brokers.Skew[id]; ok {
			w = sk
		}
		brokers, weights = append(brokers, id), append(weights, w)
	}
	return brokers, weights
}

// Placement returns the brokers project i's partition leaders sit on, with
// the fraction of its traffic each one carries.
func (s *Scenario) Placement(i int) []BrokerWeight {
	return s.weigh(s.Leaders(i))
}

// weigh turns partition leaders into each broker's fraction of the
// traffic, in broker order.
func (s *Scenario) weigh(brokers []int, weights []float64) []BrokerWeight {
	counts := map[int]float64{}
	for j, id := range brokers {
		counts[id] += weights[j]
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
