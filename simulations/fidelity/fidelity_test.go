package fidelity

import (
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/headroomhq/headroom/config"
	"github.com/headroomhq/headroom/internal/labrig"
	"github.com/headroomhq/headroom/limiter"
	"github.com/headroomhq/headroom/simulations/demo"
	"github.com/headroomhq/headroom/simulations/lab"
	"github.com/headroomhq/headroom/simulations/scenario"
	"github.com/headroomhq/headroom/simulations/sim"
)

// replay is one public scenario played at lab scale: a stretch of its
// rounds, every stride-th one, becomes one second of wall time, with its
// rates multiplied by scale. Produce only: the lab's consumers read what
// its producers wrote, so its fetch demand is not an independent curve the
// simulator could be given.
type replay struct {
	file          string
	from          time.Duration // scenario time of the first round compared
	stride, count int           // rounds compared: count, every stride-th of the scenario's
	scale         float64
}

// rounds is how many rounds the replay plays: the warm-up, then those
// compared.
func (rp replay) rounds() int { return warmRounds + rp.count }

// fidelityFlag runs TestSimulatorMatchesLab: five minutes of real traffic
// through two lab clusters.
var fidelityFlag = flag.Bool("fidelity", false, "run the simulator-versus-lab fidelity test (about 5 minutes of real traffic)")

// warmRounds are played before the rounds compared, in both the simulator
// and the lab, with the scenario's demand of the rounds before rp.from.
// Both start with every project's window empty, a state no running
// cluster is in: for one window the windowed rates the policy reads are a
// fraction of demand that depends on when, within a second, each lab
// producer sent its first batch, and a throttle time recorded as the
// window fills stays in Kafka's throttle-time sensor for one more window.
// Two windows of rounds play that start out before anything is compared.
var warmRounds = 2 * lab.DefaultWindow.Samples

// TestSimulatorMatchesLab replays vivo and hot-broker at lab scale in the
// simulator and on the lab cluster with the same daemon policy, and holds
// the simulator to what the lab did: throttled bytes within 25% (or 0.2%
// of demand, whichever is larger), and each project's quota within 15% on
// at least 90% of rounds.
func TestSimulatorMatchesLab(t *testing.T) {
	if !*fidelityFlag {
		t.Skip("the fidelity test runs with -fidelity: go test -v ./simulations/fidelity/ -args -fidelity")
	}
	for _, rp := range []replay{
		// 06:00 to 18:00: both peaks, six minutes of the day per second.
		{file: "vivo-two-projects.yaml", from: 6 * time.Hour, stride: 36, count: 120, scale: 0.025},
		// 05:00 to 21:00: both diurnal peaks on the hot broker.
		{file: "hot-broker.yaml", from: 5 * time.Hour, stride: 48, count: 120, scale: 0.025},
	} {
		t.Run(strings.TrimSuffix(rp.file, ".yaml"), func(t *testing.T) { fidelity(t, rp) })
	}
}

func fidelity(t *testing.T, rp replay) {
	orig, err := scenario.Load(filepath.Join("..", "scenarios", rp.file))
	if err != nil {
		t.Fatal(err)
	}
	text, demand := labScale(t, orig, rp)
	rounds := rp.rounds()

	// The lab, with the daemon playing one round per second of traffic.
	rig := labrig.NewWithLoad(t, text, lab.DefaultWindow, lab.LoadOptions{RecordSize: 4 << 10, BatchMaxBytes: 64 << 10, MaxBuffered: clientBuffer})
	cfgText := rig.Config(demo.ConfigOptions{RoundInterval: time.Second})
	rig.WriteConfig(cfgText)
	cfg, err := config.Load([]byte(cfgText))
	if err != nil {
		t.Fatal(err)
	}
	rig.Start()
	names := make([]string, len(orig.Projects))
	for i, p := range orig.Projects {
		names[i] = p.Name
	}
	labQuota := make([][]float64, len(names)) // [project][round]: planned at the end of the round
	labDemand := make([][]float64, len(names))
	labThrottled := make([][]float64, len(names))
	labWhy := make([][]string, len(names))
	// The producers' totals when each round's demand is set and one
	// second later. A round of the daemon that runs long on a busy
	// machine lets traffic flow past the second; those bytes are in no
	// round's demand (the simulator's rounds last a second), but what
	// they leave in the window and the producer's buffer is in the next
	// round's.
	for r := range rounds {
		at := rig.Load.Stats()
		for i, n := range names {
			rig.Set(n, demand[i][r])
		}
		read := make(chan []lab.LoadStats, 1)
		time.AfterFunc(time.Second, func() { read <- rig.Load.Stats() })
		o := rig.Step(time.Second)
		end := <-read
		planned := map[string]limiter.Decision{}
		for _, p := range o.Plans {
			if p.Direction != config.Produce {
				continue
			}
			for _, d := range p.Decisions {
				planned[d.Project] = d
			}
		}
		for i, n := range names {
			d := planned[n]
			labQuota[i] = append(labQuota[i], d.After)
			labWhy[i] = append(labWhy[i], fmt.Sprintf("obs %.0f rate %.0f thr %.0f fc %.0f dem %.0f tgt %.0f ideal %.0f %v %s", d.Observed, d.Rate, d.ThrottleMs, d.Forecast, d.Demand, d.Target, d.Ideal, d.Reasons, d.Note))
			dem, th := roundThrottled(byName(at, n), byName(end, n))
			labDemand[i] = append(labDemand[i], dem)
			labThrottled[i] = append(labThrottled[i], th)
		}
	}
	enf := rig.Lab.Enforcement()

	// The simulator, on the same scenario text, with the policy the
	// daemon's configuration sets.
	s, err := scenario.Parse([]byte(text), ".")
	if err != nil {
		t.Fatal(err)
	}
	hc := sim.HeadroomConfigFor(cfg)
	res, err := sim.Run(s, sim.Options{Policies: []string{"headroom"}, Headroom: &hc, SeriesPoints: rounds, SeriesProjects: len(names)})
	if err != nil {
		t.Fatal(err)
	}
	pr := res.Policies[0]
	if got := len(pr.Series.Quota[0]); got < rounds {
		t.Fatalf("the simulator's series has %d rounds, want %d", got, rounds)
	}

	// Throttled bytes over the rounds compared: the simulator's are each
	// round's demand less what was served (one-second rounds).
	var labTh, labDem, simTh, simDem float64
	for i := range names {
		for r := warmRounds; r < rounds; r++ {
			labTh += labThrottled[i][r]
			labDem += labDemand[i][r]
			simTh += pr.Series.Demand[i][r] - pr.Series.Served[i][r]
			simDem += pr.Series.Demand[i][r]
		}
	}
	t.Logf("%s: throttled bytes over %d rounds after %d of warm-up: simulator %.0f of %.0f demanded (%.2f%%), lab %.0f of %.0f (%.2f%%); lab brokers' accounting, warm-up included, %v",
		rp.file, rp.count, warmRounds, simTh, simDem, 100*simTh/simDem, labTh, labDem, 100*labTh/labDem, enf)
	if tol := max(0.25*labTh, 0.002*labDem); math.Abs(simTh-labTh) > tol {
		t.Errorf("%s: throttled bytes: simulator %.0f, lab %.0f: apart by %.0f, more than %.0f (25%% of the lab's, or 0.2%% of demand)",
			rp.file, simTh, labTh, math.Abs(simTh-labTh), tol)
	}
	// Quotas: the lab's round r plans the quota in force from round r+1,
	// as the simulator's plan at the end of round r takes effect in round
	// r+1 (control delay 1). The simulator's series holds the quota as the
	// total rate it lets through where the project is hottest; Kafka's
	// quota is the hottest broker's share of it.
	for i, n := range names {
		hottest := 0.0
		for _, bw := range s.Placement(i) {
			hottest = max(hottest, bw.Weight)
		}
		var agree int
		var rows []string
		for r := warmRounds; r+1 < rounds; r++ {
			simQ, labQ := pr.Series.Quota[i][r+1]*hottest, labQuota[i][r]
			ok := math.Abs(simQ-labQ) <= 0.15*labQ
			if ok {
				agree++
			}
			rows = append(rows, fmt.Sprintf("%3d: demand %8.0f  quota sim %8.0f lab %8.0f %s  lab throttled %8.0f  lab round: %s",
				r, labDemand[i][r], simQ, labQ, map[bool]string{true: " ", false: "✗"}[ok], labThrottled[i][r], labWhy[i][r]))
		}
		share := float64(agree) / float64(len(rows))
		t.Logf("%s, project %s: quotas within 15%% on %d of %d rounds (%.1f%%)", rp.file, n, agree, len(rows), 100*share)
		if share < 0.9 {
			t.Errorf("%s, project %s: quotas within 15%% on %.1f%% of rounds, want at least 90%%:\n%s", rp.file, n, 100*share, strings.Join(rows, "\n"))
		} else if testing.Verbose() {
			t.Logf("%s:\n%s", n, strings.Join(rows, "\n"))
		}
	}
}

// labScale writes the lab-scale scenario: the original's brokers,
// placement, shares, seed and noise, scaled; one round per second; each
// project's produce demand the original's (noise draw included) at every
// stride-th round from warmRounds strides before rp.from, as a trace. It
// returns the scenario text and the demand per project and round.
func labScale(t *testing.T, s *scenario.Scenario, rp replay) (string, [][]float64) {
	t.Helper()
	dir := t.TempDir()
	rounds := rp.rounds()
	first := int(rp.from/time.Duration(s.Round)) - warmRounds*rp.stride
	if first < 0 {
		t.Fatalf("%s: %d warm-up rounds of %d strides start before the scenario", rp.file, warmRounds, rp.stride)
	}
	demand := make([][]float64, len(s.Projects))
	var b strings.Builder
	fmt.Fprintf(&b, "name: %s-lab\nround: 1s\nduration: %ds\nseed: %d\nobservation_noise: %g\ncontrol_delay: %d\n",
		s.Name, rounds, s.Seed, s.ObservationNoise, s.ControlDelay)
	// The lab's clients: batches of at most 64 KiB, one partition per
	// broker and project, so one produce request carries at most 64 KiB.
	fmt.Fprintf(&b, "enforcement: {window_samples: %d, window_sample: %s, request_size: 64KiB, client_buffer: %dB}\n",
		lab.DefaultWindow.Samples, lab.DefaultWindow.SampleWindow, clientBuffer)
	fmt.Fprintf(&b, "brokers:\n  count: %d\n  capacity: {produce: %.0fB/s, fetch: %.0fB/s}\n", s.Brokers.Count,
		float64(s.Brokers.Capacity.Produce)*rp.scale, float64(s.Brokers.Capacity.Fetch)*rp.scale)
	if s.Brokers.Margin > 0 {
		fmt.Fprintf(&b, "  margin: %g\n", s.Brokers.Margin)
	}
	if len(s.Brokers.Skew) > 0 {
		b.WriteString("  skew: {")
		var parts []string
		for id := range s.Brokers.Count {
			if w, ok := s.Brokers.Skew[id]; ok {
				parts = append(parts, fmt.Sprintf("%d: %g", id, w))
			}
		}
		b.WriteString(strings.Join(parts, ", ") + "}\n")
	}
	b.WriteString("projects:\n")
	for i, p := range s.Projects {
		var rows strings.Builder
		rows.WriteString("timestamp,value\n")
		for r := range rounds {
			v := s.Rate(i, config.Produce, first+r*rp.stride) * rp.scale
			demand[i] = append(demand[i], v)
			fmt.Fprintf(&rows, "%d,%.3f\n", 1_000_000+r, v)
		}
		file := filepath.Join(dir, p.Name+".csv")
		if err := os.WriteFile(file, []byte(rows.String()), 0o600); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "  - name: %s\n", p.Name)
		if p.Partitions > 0 {
			fmt.Fprintf(&b, "    partitions: %d\n", p.Partitions)
		}
		if len(p.Placement) > 0 {
			var parts []string
			for id := range s.Brokers.Count {
				if n, ok := p.Placement[id]; ok {
					parts = append(parts, fmt.Sprintf("%d: %d", id, n))
				}
			}
			fmt.Fprintf(&b, "    placement: {%s}\n", strings.Join(parts, ", "))
		}
		fmt.Fprintf(&b, "    produce: {share: %.0fB/s}\n    fetch: {share: %.0fB/s}\n", float64(p.Produce.Share)*rp.scale, float64(p.Fetch.Share)*rp.scale)
		fmt.Fprintf(&b, "    demand: {produce: {trace: {file: %q}}}\n", file)
	}
	return b.String(), demand
}

// clientBuffer is what a lab producer may hold unacknowledged. The
// simulator models one buffer per client and broker; a real producer has
// one for all its brokers, and once a throttled broker's backlog fills it,
// it refuses new records for every broker. The buffer is made large enough
// that no run fills it, so that the two agree on what a client holds; what
// a full shared buffer does is not modelled (see the package comment of
// simulations/sim).
const clientBuffer = 256 << 20

func byName(st []lab.LoadStats, name string) lab.LoadStats {
	for _, s := range st {
		if s.Project == name {
			return s
		}
	}
	return lab.LoadStats{}
}

// roundThrottled is the simulator's measure of throttling applied to the
// lab's producer in one round, per partition: the bytes made for it
// between readings a and b (the round's start and end), and how many more
// of them there were than the bytes the brokers acknowledged in the round,
// those that waited in the producer from an earlier round included (see
// the simulator's package comment).
func roundThrottled(a, b lab.LoadStats) (demanded, throttled float64) {
	for k := range b.Partitions {
		pa, pb := a.Partitions[k], b.Partitions[k]
		made := pb.Made - pa.Made
		demanded += made
		throttled += made - min(made, pb.Produced-pa.Produced)
	}
	return demanded, throttled
}
