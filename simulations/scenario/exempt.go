package scenario

import (
	"fmt"
	"time"

	"github.com/headroomhq/headroom/config"
)

// Exempt is one source of traffic no policy may throttle: a mirror maker,
// a rebalancer, a canary. Headroom's configuration lists such clients as
// a cluster's exempt entities; here they only load the brokers.
type Exempt struct {
	Name string `yaml:"name"`
	// Partitions and Placement place the traffic as a project's are
	// placed (round-robin from broker (index mod count), or explicit
	// per-broker counts).
	Partitions int         `yaml:"partitions"`
	Placement  map[int]int `yaml:"placement"`
	// Demand is the traffic per direction, across brokers.
	Demand ProjectDemand `yaml:"demand"`
}

// exemptKey seeds exempt traffic's spikes and noise apart from every
// project's.
const exemptKey = 1 << 40

// ExemptLoad adds to dst (one entry per broker) the exempt traffic in
// direction d during round r, bytes/s, noise drawn.
func (s *Scenario) ExemptLoad(d config.Direction, r int, dst []float64) {
	sec := float64(r) * time.Duration(s.Round).Seconds()
	for k := range s.Exempt {
		x := &s.Exempt[k]
		dem := x.Demand.Produce
		if d == config.Fetch {
			dem = x.Demand.Fetch
		}
		if dem == nil {
			continue
		}
		v := s.demandAt(dem, exemptKey+uint64(k), d, r, sec, true)
		for _, bw := range s.ExemptPlacement(k) {
			dst[bw.Broker] += v * bw.Weight
		}
	}
}

// ExemptPlacement is exempt source k's share of its traffic per broker.
func (s *Scenario) ExemptPlacement(k int) []BrokerWeight {
	x := &s.Exempt[k]
	return s.weigh(s.leaders(k, x.Partitions, x.Placement))
}

// validateExempt checks the exempt sources: names unique among them and
// the projects, a demand, placements on existing brokers.
func (s *Scenario) validateExempt(projects map[string]bool) []error {
	var errs []error
	add := func(path, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...)))
	}
	names := map[string]bool{}
	for k, x := range s.Exempt {
		p := fmt.Sprintf("exempt[%d]", k)
		switch {
		case x.Name == "":
			add(p+".name", "required")
		case projects[x.Name] || names[x.Name]:
			add(p+".name", "duplicate name %q (projects and exempt sources share one namespace)", x.Name)
		}
		names[x.Name] = true
		if x.Partitions < 0 || x.Partitions > 100000 {
			add(p+".partitions", "must be in [0, 100000], got %d", x.Partitions)
		}
		for id, n := range x.Placement {
			if id < 0 || id >= s.Brokers.Count {
				add(fmt.Sprintf("%s.placement[%d]", p, id), "no such broker (count %d)", s.Brokers.Count)
			}
			if n < 0 {
				add(fmt.Sprintf("%s.placement[%d]", p, id), "must not be negative")
			}
		}
		if len(x.Placement) > 0 && sumInts(x.Placement) == 0 {
			add(p+".placement", "needs at least one partition")
		}
		if x.Demand.Produce == nil && x.Demand.Fetch == nil {
			add(p+".demand", "at least one of produce and fetch is required")
		}
		if d := x.Demand.Produce; d != nil {
			errs = append(errs, d.validate(p+".demand.produce")...)
		}
		if d := x.Demand.Fetch; d != nil {
			errs = append(errs, d.validate(p+".demand.fetch")...)
		}
	}
	return errs
}
