//go:build ignore

// generate writes the real-trace scenario suite from the NAB series in
// traces/. Run it from this folder:
//
//	go run generate.go
//
// Each scenario replays one recorded series per project and direction (the
// fetch side replays the same series as the produce side at twice the
// volume, as a consumer group reading what was produced twice over would),
// scaled so that a project's mean demand sits below its share and its peaks
// above it, which is what makes a group's idle headroom worth lending. The
// series are never edited: what a scenario chooses is which series, how
// loud, how fast (time_scale) and where the partitions sit.
package main

import (
	"fmt"
	"os"
	"strings"
)

type project struct {
	name, trace string
	// share per broker, MiB/s; mean is the mean total demand as a
	// multiple of share × brokers the project leads partitions on.
	share, mean float64
	partitions  int
	placement   string // explicit placement, YAML flow map; "" for partitions
}

type scenario struct {
	file, name, description, comment string
	round, duration                  string
	seed                             int
	brokers                          int
	produceCap                       float64 // MiB/s per broker
	skew                             string
	timeScale                        float64
	noise                            float64 // the scenario's demand noise, relative
	projects                         []project
}

func (s scenario) write() error {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimSpace(s.comment), "\n") {
		fmt.Fprintf(&b, "# %s\n", l)
	}
	b.WriteString("# Written by generate.go from the NAB series in traces/ (MIT licence, see README.md).\n")
	fmt.Fprintf(&b, "name: %s\ndescription: %s\nround: %s\nduration: %s\nseed: %d\nobservation_noise: 0.02\n", s.name, s.description, s.round, s.duration, s.seed)
	fmt.Fprintf(&b, "brokers:\n  count: %d\n  capacity: {produce: %gMiB/s, fetch: %gMiB/s}\n", s.brokers, s.produceCap, 2*s.produceCap)
	if s.skew != "" {
		fmt.Fprintf(&b, "  skew: %s\n", s.skew)
	}
	b.WriteString("projects:\n")
	for _, p := range s.projects {
		placed := s.brokers
		if p.partitions > 0 && p.partitions < placed {
			placed = p.partitions
		}
		if p.placement != "" {
			placed = strings.Count(p.placement, ":")
		}
		mean := p.mean * p.share * float64(placed)
		where := fmt.Sprintf("partitions: %d", max(p.partitions, 1))
		if p.placement != "" {
			where = "placement: " + p.placement
		}
		noise := ""
		if s.noise > 0 {
			noise = fmt.Sprintf(", noise: %g", s.noise)
		}
		fmt.Fprintf(&b, "  - {name: %s, %s, produce: {share: %gMiB/s}, fetch: {share: %gMiB/s}, demand: {"+
			"produce: {trace: {file: traces/%s, scale_to_mean: %.4gMiB/s, time_scale: %g}%s}, "+
			"fetch: {trace: {file: traces/%s, scale_to_mean: %.4gMiB/s, time_scale: %g}%s}}}\n",
			p.name, where, p.share, 2*p.share, p.trace, mean, s.timeScale, noise, p.trace, 2*mean, s.timeScale, noise)
	}
	return os.WriteFile(s.file, []byte(b.String()), 0o644)
}

var (
	road = []string{"TravelTime_387.csv", "TravelTime_451.csv", "occupancy_6005.csv", "occupancy_t4013.csv",
		"speed_6005.csv", "speed_7578.csv", "speed_t4013.csv"}
	artificial = []string{"art_daily_jumpsdown.csv", "art_daily_jumpsup.csv", "art_daily_nojump.csv",
		"art_increase_spike_density.csv", "art_load_balancer_spikes.csv", "art_daily_small_noise.csv", "art_noisy.csv"}
)

// main writes every scenario of the suite into the current folder.
func main() {
	for _, s := range []scenario{manySmall(), largeSkewed(), nearSaturation(), weekRealtime(), levelShifts(), burstyUneven()} {
		if err := s.write(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
}

// manySmall is many small projects on a few brokers.
func manySmall() scenario {
	s := scenario{file: "real-many-small.yaml", name: "real-many-small", description: "fifteen small projects on three brokers, real series compressed 12×",
		comment: `Fifteen small projects, each on all three brokers, each replaying a
different recorded series compressed twelve times (a five-minute sample
lasts 25 s), so each round sees real bursts and level shifts.`,
		round: "10s", duration: "1d", seed: 101, brokers: 3, produceCap: 100, timeScale: 12}
	for i, tr := range append(append([]string{}, road...), artificial...) {
		s.projects = append(s.projects, project{name: fmt.Sprintf("svc%02d", i), trace: tr, share: 6, mean: 0.6, partitions: 3})
	}
	return s
}

// largeSkewed is a few large projects with skewed placement.
func largeSkewed() scenario {
	return scenario{file: "real-large-skewed.yaml", name: "real-large-skewed", description: "four large projects, one hot broker, real series at real time",
		comment: `Four large projects on four brokers; broker 0 leads three times the
partitions of the others, so it decides each project's quota. The series
play at real time, with 3% demand noise standing for what a five-minute
sample averages away.`,
		round: "10s", duration: "2d", seed: 102, brokers: 4, produceCap: 100, skew: "{0: 3}", timeScale: 1, noise: 0.03,
		projects: []project{
			{name: "orders", trace: "occupancy_6005.csv", share: 22, mean: 0.55, partitions: 8},
			{name: "clicks", trace: "speed_t4013.csv", share: 22, mean: 0.6, partitions: 8},
			{name: "billing", trace: "TravelTime_387.csv", share: 22, mean: 0.5, partitions: 8},
			{name: "search", trace: "occupancy_t4013.csv", share: 22, mean: 0.55, partitions: 8},
		}}
}

// nearSaturation is a group near saturation.
func nearSaturation() scenario {
	sat := scenario{file: "real-near-saturation.yaml", name: "real-near-saturation", description: "eight projects whose mean demand is 85% of the safe capacity",
		comment: `Eight projects on two brokers whose mean demand adds up to 85% of the
brokers' safe capacity: at most times someone is throttled whatever the
policy, and what matters is whom and by how much. Compressed 6×.`,
		round: "10s", duration: "1d", seed: 103, brokers: 2, produceCap: 100, timeScale: 6}
	for i, tr := range []string{"TravelTime_451.csv", "occupancy_t4013.csv", "speed_6005.csv", "art_daily_jumpsup.csv",
		"art_load_balancer_spikes.csv", "speed_7578.csv", "occupancy_6005.csv"} {
		sat.projects = append(sat.projects, project{name: fmt.Sprintf("t%d", i), trace: tr, share: 11.25, mean: 0.85, partitions: 2})
	}
	return sat
}

// weekRealtime is a week of the road series at real time.
func weekRealtime() scenario {
	wk := scenario{file: "real-week-realtime.yaml", name: "real-week-realtime", description: "the road-traffic series at real time for a week on one broker",
		comment: `The seven road-traffic series at real time for a week on one broker
(weekly as well as daily rhythm, gaps in the recordings), with 3% demand
noise standing for what a five-minute sample averages away.`,
		round: "15s", duration: "7d", seed: 104, brokers: 1, produceCap: 100, timeScale: 1, noise: 0.03}
	for i, tr := range road {
		wk.projects = append(wk.projects, project{name: fmt.Sprintf("road%d", i), trace: tr, share: 12.5, mean: 0.6, partitions: 1})
	}
	return wk
}

// levelShifts is series with permanent level shifts.
func levelShifts() scenario {
	ls := scenario{file: "real-level-shifts.yaml", name: "real-level-shifts", description: "permanent level shifts and spikes, compressed 24×",
		comment: `Series with permanent jumps up and down and growing
spike density, with two road series, on two brokers, compressed 24×
(a fortnight's recording in fourteen hours).`,
		round: "10s", duration: "14h", seed: 105, brokers: 2, produceCap: 100, timeScale: 24}
	for i, tr := range []string{"art_daily_jumpsup.csv", "art_daily_jumpsdown.csv", "art_increase_spike_density.csv",
		"occupancy_6005.csv", "TravelTime_387.csv"} {
		ls.projects = append(ls.projects, project{name: fmt.Sprintf("s%d", i), trace: tr, share: 15, mean: 0.6, partitions: 2})
	}
	return ls
}

// burstyUneven is bursty series with uneven placement.
func burstyUneven() scenario {
	return scenario{file: "real-bursty-uneven.yaml", name: "real-bursty-uneven", description: "bursty series with uneven explicit placement, compressed 30×",
		comment: `Bursty series (load-balancer spikes, travel times, noisy occupancy) on
three brokers with uneven explicit placements, compressed 30× (a sample
every 10 s): short bursts the policy must ride out, and borrowers whose
hottest broker differs.`,
		round: "10s", duration: "12h", seed: 106, brokers: 3, produceCap: 100, timeScale: 30,
		projects: []project{
			{name: "lb", trace: "art_load_balancer_spikes.csv", share: 20, mean: 0.5, placement: "{0: 4, 1: 1}"},
			{name: "travel", trace: "TravelTime_451.csv", share: 20, mean: 0.6, placement: "{1: 3, 2: 1}"},
			{name: "occ", trace: "occupancy_t4013.csv", share: 20, mean: 0.6, placement: "{0: 1, 2: 3}"},
			{name: "speed", trace: "speed_7578.csv", share: 20, mean: 0.55, placement: "{0: 1, 1: 1, 2: 1}"},
			{name: "spiky", trace: "art_increase_spike_density.csv", share: 10, mean: 0.5, placement: "{1: 2, 2: 2}"},
		}}
}
