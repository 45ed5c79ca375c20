package control

import (
	"fmt"
	"time"

	"github.com/headroomhq/headroom/config"
	"github.com/headroomhq/headroom/limiter"
	"github.com/headroomhq/headroom/limiter/applier"
)

// Options returns the allocator options the limiter section configures.
func Options(c config.LimiterConfig) limiter.Options {
	return limiter.Options{
		Overcommit:     c.Overcommit,
		Hysteresis:     c.Hysteresis,
		Headroom:       c.DemandHeadroom,
		LenderSpare:    c.LenderSpare,
		ThrottleWindow: time.Duration(c.ThrottleWindow),
		MinQuota:       float64(c.MinQuota),
	}
}

// ApplierConfig returns the applier settings the limiter section
// configures.
func ApplierConfig(c config.LimiterConfig) applier.Config {
	return applier.Config{
		Shadow:      c.Mode != config.ModeEnforce,
		WriteBudget: c.WriteBudget,
		BatchSize:   c.BatchSize,
		MinQuota:    float64(c.MinQuota),
		Attempts:    c.WriteAttempts,
		Backoff:     time.Duration(c.WriteBackoff),
	}
}

// Skeleton is the static part of every round's states, from the
// configuration: per group and direction, the brokers with their
// capacities and the projects with their entitlements. Signals (Loads,
// Stale) and quotas in force are the wiring's to fill each round; BrokerIndex
// maps a Kafka node id to its index in State.Brokers.
type Skeleton struct {
	// States has two entries per group, produce then fetch, in
	// configuration order.
	States      []*limiter.State
	BrokerIndex map[string]map[int32]int // group -> node id -> index
	Entities    map[string]config.Entity
}

// NewSkeleton builds the states for a validated configuration.
func NewSkeleton(c *config.Config) (*Skeleton, error) {
	sk := &Skeleton{BrokerIndex: map[string]map[int32]int{}, Entities: map[string]config.Entity{}}
	opts := Options(c.Limiter)
	byGroup := map[string][2]*limiter.State{}
	for _, g := range c.ResourceGroups {
		idx := map[int32]int{}
		var pair [2]*limiter.State
		for d, capacity := range []config.Rate{g.Capacity.Produce, g.Capacity.Fetch} {
			s := &limiter.State{Group: g.Name, Direction: config.Direction(d), Margin: g.Margin, Options: opts}
			for i, b := range g.Brokers {
				s.Brokers = append(s.Brokers, limiter.Broker{ID: b.ID, Capacity: float64(capacity)})
				idx[b.ID] = i
			}
			pair[d] = s
			sk.States = append(sk.States, s)
		}
		sk.BrokerIndex[g.Name] = idx
		byGroup[g.Name] = pair
	}
	for _, p := range c.Projects {
		pair, ok := byGroup[p.Group]
		if !ok {
			return nil, fmt.Errorf("project %s: unknown resource group %q", p.Name, p.Group)
		}
		sk.Entities[p.Name] = config.Entity{User: p.Entity.User, ClientID: p.Entity.ClientID}
		for d, q := range []config.QuotaConfig{p.Produce, p.Fetch} {
			pair[d].Projects = append(pair[d].Projects, limiter.Project{
				Name: p.Name, Share: float64(q.Share), Floor: float64(q.Floor), Ceiling: float64(q.Ceiling), Weight: q.Weight,
				Tier: limiter.ParseTier(p.Tier),
			})
		}
	}
	return sk, nil
}
