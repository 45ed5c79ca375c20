package sim

import (
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/headroomhq/headroom/limiter/demand"

	"github.com/headroomhq/headroom/config"
	"github.com/headroomhq/headroom/simulations/scenario"
)

// Group is the static view a policy has of one resource group in one
// direction: what an operator would have configured. Rates are bytes/s per
// broker, as Kafka enforces quotas.
type Group struct {
	// Scenario is the scenario's name, for messages.
	Scenario string
	// Direction is produce or fetch; a policy instance serves one.
	Direction config.Direction
	// Brokers is the number of brokers, numbered 0 to Brokers-1.
	Brokers int
	// Capacity is each broker's capacity and SafeCapacity is
	// margin × capacity, the most that may be served on a broker.
	Capacity, SafeCapacity float64
	// Round is the control interval.
	Round time.Duration
	// ThrottleWindow is Kafka's quota window, window_samples ×
	// window_sample of the scenario's enforcement (11 × 1s by default),
	// used in the throttle time formula.
	ThrottleWindow time.Duration
	// Projects are indexed the same way in every Observation and in the
	// quotas a policy returns.
	Projects []Project

	observationNoise float64
	// scen is the scenario, for oracle-causal's knowledge of the demand
	// without its noise draw; no causal policy may look at it.
	scen *scenario.Scenario
}

// Project is one tenant's configuration in one direction.
type Project struct {
	Name string
	// Share is the static entitlement; Floor and Ceiling bound the quota;
	// Weight weighs the project when capacity is shared out.
	Share, Floor, Ceiling, Weight float64
	// Placement lists the brokers that lead the project's partitions and
	// the fraction of its traffic each carries (fractions sum to 1). It is
	// sorted by broker id.
	Placement []scenario.BrokerWeight
	// Hottest is the largest placement fraction: the broker whose load
	// decides the quota the project needs.
	Hottest float64
	// Tier is the scenario's tier for the project ("" is standard).
	Tier string
}

// Observation is what the cluster shows a policy at the end of a round.
type Observation struct {
	// Round is the round just observed, from 0.
	Round int
	// Projects is indexed like Group.Projects.
	Projects []ProjectObservation
	// Exempt is the traffic no policy may throttle (the scenario's exempt
	// sources) that each broker reported in the round, with observation
	// noise; nil when the scenario has none.
	Exempt []float64
}

// ProjectObservation is one project's view in one round. Rate and Throttle
// are aligned with the project's Placement.
type ProjectObservation struct {
	// Quota is the quota that was in force during the round.
	Quota float64
	// Rate is the byte rate each broker reports for the project at the
	// end of the round: Kafka's windowed rate of the bytes it accepted,
	// with observation noise. A throttled project's rate is held near
	// its quota, so it understates what the project wants.
	Rate []float64
	// Throttle is the throttle time each broker reports: the mean over
	// the round's requests of the time Kafka muted the client for, from
	// (windowed rate − quota) / quota × window. A client muted at its
	// quota reports a small throttle time however much more it wants.
	Throttle []time.Duration
}

// Total returns the observed rate summed over brokers.
func (o *ProjectObservation) Total() float64 {
	var t float64
	for _, r := range o.Rate {
		t += r
	}
	return t
}

// Demand estimates the project's demand on each broker from what Kafka
// shows: the observed rate where it is not throttled and
// quota × (1 + throttle/window) where it is. It writes into dst (len of
// Rate) and returns the largest value, the demand the quota must meet.
func (o *ProjectObservation) Demand(window time.Duration, dst []float64) float64 {
	var hot float64
	for i, r := range o.Rate {
		d := r
		if th := o.Throttle[i]; th > 0 && o.Quota > 0 {
			d = max(d, demand.Formula(o.Quota, float64(th)/float64(time.Millisecond), window))
		}
		dst[i] = d
		hot = max(hot, d)
	}
	return hot
}

// Policy decides quotas. The simulator calls Plan once per round and
// direction, after the round, with what was observed in it; the quotas it
// returns take effect control_delay rounds later (one by default).
//
// A policy instance serves one Group and is called from one goroutine; it
// may keep state between rounds. It must not look at anything but the
// Group it was built for and the observations it is given.
type Policy interface {
	// Plan writes each project's quota, in bytes/s per broker, into quotas
	// (len(Group.Projects)). On entry quotas holds the plan most recently
	// returned (at first, each project's share). Non-finite or negative
	// quotas are an error of the policy and stop the run.
	Plan(obs *Observation, quotas []float64) error
}

// NewPolicy builds a policy for one group and direction.
type NewPolicy func(g *Group) (Policy, error)

var (
	registryMu sync.RWMutex
	registry   = map[string]registered{}
)

type registered struct {
	new NewPolicy
	doc string
}

// Register makes a policy available under name. Names starting with
// "test-" are for tests and are left out of DefaultPolicies. It is meant to be called
// from an init function, e.g. by the file that adapts Headroom's limiter.
// doc is one line saying what the policy is and where it comes from.
// Registering a name twice panics, as it is a programming error.
func Register(name, doc string, newPolicy NewPolicy) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, dup := registry[name]; dup {
		panic(fmt.Sprintf("sim: policy %q registered twice", name))
	}
	registry[name] = registered{new: newPolicy, doc: doc}
}

// Policies returns the registered policy names, sorted.
func Policies() []string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// PolicyDoc returns the one-line description of a registered policy.
func PolicyDoc(name string) string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	return registry[name].doc
}

func lookup(name string) (NewPolicy, error) {
	registryMu.RLock()
	defer registryMu.RUnlock()
	r, ok := registry[name]
	if !ok {
		names := make([]string, 0, len(registry))
		for n := range registry {
			names = append(names, n)
		}
		slices.Sort(names)
		return nil, fmt.Errorf("unknown policy %q (known: %v)", name, names)
	}
	return r.new, nil
}
