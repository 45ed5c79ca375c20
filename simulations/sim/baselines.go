package sim

import (
	"math"
	"slices"
)

// The baselines are the allocation rules Headroom is compared with. Each
// is written from its published description, not from its code.
//
// Doorman and Pulsar share out one capacity among clients. Kafka enforces
// a quota per entity on every broker, so the simulator applies their rules
// the way such a system would have to: each broker's safe capacity is
// shared among the projects that lead partitions there, each asking for
// what its hottest broker needs, and a project's quota is the least it is
// given on any of its brokers. Quotas on a broker therefore never sum above
// its safe capacity (strict mode). Every baseline keeps quotas within the
// project's floor and ceiling and at least MinQuota.

func init() {
	Register("static", "each project's static share; what operators run without Headroom", newStatic)
	Register("doorman-fair",
		"Doorman's FAIR_SHARE (github.com/youtube/doorman, doc/algorithms.md): iterative max-min fair share of each broker, clients asking for their estimated demand",
		func(g *Group) (Policy, error) { return newShared(g, fairShare, wantDemand), nil })
	Register("doorman-proportional",
		"Doorman's PROPORTIONAL_SHARE (github.com/youtube/doorman, doc/algorithms.md): wants if they fit, else an equal share plus the rest in proportion to the wants above it",
		func(g *Group) (Policy, error) { return newShared(g, proportionalShare, wantDemand), nil })
	Register("pulsar-rg",
		"Apache Pulsar resource groups (PIP-82, ResourceQuotaCalculatorImpl): usage + (limit - Σusage) × usage/Σusage from observed usage",
		func(g *Group) (Policy, error) { return newShared(g, usageProportional, wantUsage), nil })
}

type static struct{ shares []float64 }

func newStatic(g *Group) (Policy, error) {
	s := &static{shares: make([]float64, len(g.Projects))}
	for i, p := range g.Projects {
		s.shares[i] = p.Share
	}
	return s, nil
}

func (s *static) Plan(_ *Observation, quotas []float64) error {
	copy(quotas, s.shares)
	return nil
}

// shareRule shares capacity among the projects idx wanting want[idx[k]]
// with weights weight[idx[k]]; it writes the k-th project's part into
// out[k].
type shareRule func(capacity float64, idx []int, want, weight, out []float64, scratch []int)

// wantRule computes what each project asks for from an observation.
type wantRule func(g *Group, obs *Observation, want []float64, buf []float64)

// shared applies a share rule broker by broker.
type shared struct {
	g       *Group
	rule    shareRule
	wants   wantRule
	members [][]int // projects leading partitions on each broker
	want    []float64
	weight  []float64
	out     []float64
	buf     []float64
	scratch []int
}

func newShared(g *Group, rule shareRule, wants wantRule) *shared {
	s := &shared{
		g:       g,
		rule:    rule,
		wants:   wants,
		members: make([][]int, g.Brokers),
		want:    make([]float64, len(g.Projects)),
		weight:  make([]float64, len(g.Projects)),
	}
	most, widest := 0, 0
	for i, p := range g.Projects {
		s.weight[i] = p.Weight
		for _, bw := range p.Placement {
			s.members[bw.Broker] = append(s.members[bw.Broker], i)
		}
		widest = max(widest, len(p.Placement))
	}
	for _, m := range s.members {
		most = max(most, len(m))
	}
	s.out = make([]float64, most)
	s.scratch = make([]int, most)
	s.buf = make([]float64, widest)
	return s
}

func (s *shared) Plan(obs *Observation, quotas []float64) error {
	s.wants(s.g, obs, s.want, s.buf)
	for i, p := range s.g.Projects {
		s.want[i] = clamp(s.want[i], p.Floor, p.Ceiling)
		quotas[i] = math.Inf(1)
	}
	for b, idx := range s.members {
		if len(idx) == 0 {
			continue
		}
		// What the broker has for the projects: its safe capacity less the
		// exempt traffic it last reported, the same measurement the
		// headroom policy is given.
		capacity := s.g.SafeCapacity
		if obs.Exempt != nil {
			capacity = max(0, capacity-obs.Exempt[b])
		}
		out := s.out[:len(idx)]
		s.rule(capacity, idx, s.want, s.weight, out, s.scratch[:len(idx)])
		for k, i := range idx {
			quotas[i] = min(quotas[i], out[k])
		}
	}
	for i, p := range s.g.Projects {
		quotas[i] = max(min(quotas[i], p.Ceiling), MinQuota)
	}
	return nil
}

func clamp(v, lo, hi float64) float64 { return max(lo, min(v, hi)) }

// wantDemand asks for the demand on the project's hottest broker, estimated
// from the throttle time where it is throttled: Doorman clients report
// what they want, and on Kafka this estimate is the best there is.
func wantDemand(g *Group, obs *Observation, want, buf []float64) {
	for i := range obs.Projects {
		po := &obs.Projects[i]
		want[i] = po.Demand(g.ThrottleWindow, buf[:len(po.Rate)])
	}
}

// wantUsage uses the observed rate on the hottest broker: Pulsar's rule
// looks at usage only.
func wantUsage(_ *Group, obs *Observation, want, _ []float64) {
	for i := range obs.Projects {
		var hot float64
		for _, r := range obs.Projects[i].Rate {
			hot = max(hot, r)
		}
		want[i] = hot
	}
}

// fairShare is weighted max-min fairness, what Doorman's FAIR_SHARE reaches
// by iterating: capacity is split by weight; a project wanting less than
// its part gets its want and the rest is split again among the others. The
// same fixed point is found here in one pass over the projects sorted by
// want per weight.
func fairShare(capacity float64, idx []int, want, weight, out []float64, order []int) {
	var sumWant float64
	for _, i := range idx {
		sumWant += want[i]
	}
	if sumWant <= capacity {
		// Everyone's want fits: that is the max-min allocation.
		for k, i := range idx {
			out[k] = want[i]
		}
		return
	}
	for k := range order {
		order[k] = k
	}
	slices.SortFunc(order, func(a, b int) int {
		x, y := want[idx[a]]/weight[idx[a]], want[idx[b]]/weight[idx[b]]
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return a - b
	})
	var totalWeight float64
	for _, i := range idx {
		totalWeight += weight[i]
	}
	left := capacity
	for n, k := range order {
		i := idx[k]
		part := left * weight[i] / totalWeight
		if want[i] <= part {
			out[k] = want[i]
			left -= want[i]
			totalWeight -= weight[i]
			continue
		}
		// Everyone from here on wants more than their part: split the
		// rest by weight.
		for _, k2 := range order[n:] {
			out[k2] = left * weight[idx[k2]] / totalWeight
		}
		return
	}
}

// proportionalShare is Doorman's PROPORTIONAL_SHARE with weights: if the
// wants fit, everyone gets its want; otherwise each gets the smaller of its
// want and its weighted equal part, and what is left goes to those wanting
// more, in proportion to how much more they want.
func proportionalShare(capacity float64, idx []int, want, weight, out []float64, _ []int) {
	var sumWant, totalWeight float64
	for _, i := range idx {
		sumWant += want[i]
		totalWeight += weight[i]
	}
	if sumWant <= capacity {
		for k, i := range idx {
			out[k] = want[i]
		}
		return
	}
	left, extra := capacity, 0.0
	for k, i := range idx {
		equal := capacity * weight[i] / totalWeight
		out[k] = min(want[i], equal)
		left -= out[k]
		extra += want[i] - out[k]
	}
	if extra <= 0 || left <= 0 {
		return
	}
	for k, i := range idx {
		out[k] += left * (want[i] - out[k]) / extra
	}
}

// usageProportional is Pulsar's resource-group rule: each gets its usage
// plus the unused capacity in proportion to its usage,
// usage + (limit - Σusage) × usage/Σusage. With no usage at all the
// capacity is split by weight.
func usageProportional(capacity float64, idx []int, usage, weight, out []float64, _ []int) {
	var sum, totalWeight float64
	for _, i := range idx {
		sum += usage[i]
		totalWeight += weight[i]
	}
	for k, i := range idx {
		if sum <= 0 {
			out[k] = capacity * weight[i] / totalWeight
			continue
		}
		out[k] = usage[i] + (capacity-sum)*usage[i]/sum
	}
}
