package sim

import (
	"github.com/headroomhq/headroom/simulations/scenario"
)

// Series holds sampled per-project rates of the produce direction for the
// plots, all in bytes/s and comparable: each project's total demand, the
// total its quota lets through (the per-broker quota divided by the traffic
// fraction of its hottest broker: the demand at which it starts to be
// throttled) and what it was served in total.
type Series struct {
	// Hours is the time of each sample since the start, in hours.
	Hours []float64
	// Projects names the projects recorded, in scenario order.
	Projects []string
	// Demand, Quota and Served are indexed [project][sample].
	Demand, Quota, Served [][]float64

	every int
}

func newSeries(s *scenario.Scenario, rounds, points, projects int) *Series {
	every := max(1, (rounds+points-1)/points)
	n := rounds/every + 1
	se := &Series{
		Hours:    make([]float64, 0, n),
		Projects: make([]string, projects),
		Demand:   make([][]float64, projects),
		Quota:    make([][]float64, projects),
		Served:   make([][]float64, projects),
		every:    every,
	}
	for i := range projects {
		se.Projects[i] = s.Projects[i].Name
		se.Demand[i] = make([]float64, 0, n)
		se.Quota[i] = make([]float64, 0, n)
		se.Served[i] = make([]float64, 0, n)
	}
	return se
}

func (se *Series) record(r int, demand []float64, rn *runner) {
	if r%se.every != 0 {
		return
	}
	se.Hours = append(se.Hours, float64(r)*rn.g.Round.Hours())
	for i := range se.Projects {
		se.Demand[i] = append(se.Demand[i], demand[i])
		se.Quota[i] = append(se.Quota[i], rn.inForce[i]/rn.g.Projects[i].Hottest)
		se.Served[i] = append(se.Served[i], rn.served[i])
	}
}

func (se *Series) finish() {}
