package limiter

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// benchGroup builds a contended group: every project on placement brokers,
// a third idle, a third within share, a third borrowing, all throttled
// where demand exceeds the share.
func benchGroup(r *rand.Rand, projects, brokers, perProject int) *State {
	s := &State{Group: "bench", Margin: 0.9, Options: Options{Hysteresis: 0.05, Headroom: 0.1, LenderSpare: 0.1}}
	for b := range brokers {
		s.Brokers = append(s.Brokers, Broker{ID: int32(b), Capacity: 1 << 30})
	}
	perBroker := float64(projects*perProject) / float64(brokers)
	share := 0.9 * (1 << 30) / perBroker * 0.8
	for i := range projects {
		p := Project{Name: fmt.Sprintf("p%05d", i), Share: share, Floor: share / 10, Ceiling: share * 8, Weight: 1 + float64(i%3), Quota: share}
		var level float64
		switch i % 3 {
		case 0:
			level = share * 0.05
		case 1:
			level = share * 0.7
		default:
			level = share * 3
		}
		start := r.IntN(brokers)
		for k := range perProject {
			d := level * (0.5 + 0.5*r.Float64())
			l := Load{Broker: (start + k) % brokers, Rate: min(d, p.Quota), Observed: min(d, p.Quota), Forecast: d * 1.1}
			if d > p.Quota {
				l.ThrottleMs = (d - p.Quota) / p.Quota * 11000
				l.Rate, l.FromThrottle = d, true // the demand stage's onset estimate
			}
			p.Loads = append(p.Loads, l)
		}
		s.Projects = append(s.Projects, p)
	}
	return s
}

func BenchmarkAllocate(b *testing.B) {
	cases := []struct {
		projects, brokers, perProject int
	}{
		{50, 5, 5},     // one group of the 10,000 × 200 × 1,000 fleet
		{500, 30, 10},  // a large group
		{500, 30, 30},  // every project on every broker
		{1000, 100, 8}, // scale-1000x100's size
	}
	for _, c := range cases {
		b.Run(fmt.Sprintf("projects=%d/brokers=%d/placement=%d", c.projects, c.brokers, c.perProject), func(b *testing.B) {
			s := benchGroup(rand.New(rand.NewPCG(1, 1)), c.projects, c.brokers, c.perProject)
			var a allocator
			b.ReportAllocs()
			for b.Loop() {
				a.allocate(s)
			}
		})
	}
}

// BenchmarkAllocateFleet plans a whole fleet: 10,000 projects in 200
// groups of 50 over 1,000 brokers (5 per group), one direction, one core.
func BenchmarkAllocateFleet(b *testing.B) {
	r := rand.New(rand.NewPCG(2, 2))
	groups := make([]*State, 200)
	for g := range groups {
		groups[g] = benchGroup(r, 50, 5, 3)
	}
	var a allocator
	b.ReportAllocs()
	for b.Loop() {
		for _, s := range groups {
			a.allocate(s)
		}
	}
}
