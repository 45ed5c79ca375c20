package sim

import (
	"fmt"
	"time"

	"testing"

	"github.com/headroomhq/headroom/config"
	"github.com/headroomhq/headroom/detector"
	"github.com/headroomhq/headroom/simulations/scenario"
)

func init() {
	Register("test-detector-only", "feeds the detector each project's observed total, as the headroom policy does, and keeps every quota",
		func(g *Group) (Policy, error) {
			p := &detectorOnly{g: g, det: make([]*detector.Series, len(g.Projects))}
			for i := range p.det {
				s, err := detector.NewSeries(config.DefaultDetectorConfig(), detector.Options{NonNegative: true})
				if err != nil {
					return nil, err
				}
				p.det[i] = s
			}
			return p, nil
		})
}

// detectorOnly is the part of the headroom policy the issue requires it to
// run (the real detector on every project and direction) and nothing else.
type detectorOnly struct {
	g   *Group
	det []*detector.Series
}

func (p *detectorOnly) Plan(obs *Observation, _ []float64) error {
	at := time.Unix(0, 0).Add(time.Duration(obs.Round+1) * p.g.Round)
	for i := range obs.Projects {
		p.det[i].Observe(at, obs.Projects[i].Total())
	}
	return nil
}

// BenchmarkScaleFloor measures, on the scale case (1,000 projects on 100
// brokers), the time per round of pulsar-rg, of the headroom policy and of
// the detector alone. The detector alone is a floor under the headroom
// policy: its ratio to pulsar-rg says whether "headroom at most 5× pulsar-rg
// per round" is reachable by any allocator while the policy feeds the real
// detector.
//
//	go test -run '^$' -bench ScaleFloor -benchtime 300x -count 5 -cpu 1 ./simulations/sim/ | tee floor.txt
func BenchmarkScaleFloor(b *testing.B) {
	s, err := scenario.Load("../scenarios/scale-1000x100.yaml")
	if err != nil {
		b.Fatal(err)
	}
	for _, p := range []string{"pulsar-rg", "test-detector-only", "headroom"} {
		b.Run(fmt.Sprintf("%s/%s", s.Name, p), func(b *testing.B) { benchRun(b, s, p) })
	}
}
