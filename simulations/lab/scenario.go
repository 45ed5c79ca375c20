package lab

import (
	"fmt"
	"time"

	"github.com/headroomhq/headroom/config"
	"github.com/headroomhq/headroom/simulations/scenario"
)

// FromScenario builds a lab configuration from a scenario: its brokers and
// capacity, one project per scenario project (client-id = project name,
// topic "<name>.events"), leaders placed as the scenario places them (skew
// becomes partition weights), and each project's share as its initial
// quota. scale multiplies every rate (capacity, shares, and demand through
// ScenarioDemand) so that a scenario sized for a real cluster fits this
// machine; 1 keeps it as written.
func FromScenario(s *scenario.Scenario, scale float64) (Config, error) {
	if !(scale > 0) {
		return Config{}, fmt.Errorf("scenario %s: scale must be above zero, got %v", s.Name, scale)
	}
	if len(s.Exempt) > 0 {
		// Replaying it would take exempt clients in the lab and exempt
		// entities in the daemon's configuration; until then, refuse
		// rather than replay a different scenario.
		return Config{}, fmt.Errorf("scenario %s: exempt traffic is simulated only; the lab does not replay it", s.Name)
	}
	cfg := Config{
		Brokers: s.Brokers.Count,
		Capacity: Rates{
			Produce: float64(s.Brokers.Capacity.Produce) * scale,
			Fetch:   float64(s.Brokers.Capacity.Fetch) * scale,
		},
	}
	for i, sp := range s.Projects {
		p := Project{
			Name: sp.Name,
			Quota: Rates{
				Produce: float64(sp.Produce.Share) * scale,
				Fetch:   float64(sp.Fetch.Share) * scale,
			},
		}
		brokers, weights := s.Leaders(i)
		for _, id := range brokers {
			p.Leaders = append(p.Leaders, int32(id))
		}
		p.Weights = weights
		cfg.Projects = append(cfg.Projects, p)
	}
	return cfg, nil
}

// ScenarioDemand returns each project's demand curve, replaying the
// scenario from start with time compressed by compression (60 plays an hour
// per minute) and rates multiplied by scale.
func ScenarioDemand(s *scenario.Scenario, start time.Time, compression, scale float64) map[string]DemandFunc {
	out := map[string]DemandFunc{}
	round := s.RoundInterval().Seconds()
	rounds := s.Rounds()
	for i, p := range s.Projects {
		out[p.Name] = func(t time.Time) Rates {
			sec := t.Sub(start).Seconds() * compression
			r := int(sec / round)
			if r < 0 {
				r = 0
			}
			if rounds > 0 {
				r %= rounds
			}
			return Rates{
				Produce: s.Rate(i, config.Produce, r) * scale,
				Fetch:   s.Rate(i, config.Fetch, r) * scale,
			}
		}
	}
	return out
}
