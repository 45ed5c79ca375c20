package scenario

import (
	"errors"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"gonum.org/v1/gonum/stat"

	"github.com/headroomhq/headroom/config"
)

func TestPublicSuiteLoads(t *testing.T) {
	files, err := filepath.Glob("../scenarios/*.yaml")
	if err != nil || len(files) < 8 {
		t.Fatalf("want the 8 public scenarios, found %d (%v)", len(files), err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			s, err := Load(f)
			if err != nil {
				t.Fatal(err)
			}
			if s.Rounds() < 100 {
				t.Fatalf("only %d rounds", s.Rounds())
			}
			// Demand is finite, not negative, and not all zero.
			var total float64
			for i := range s.Projects {
				for _, d := range config.Directions {
					for r := 0; r < s.Rounds(); r += s.Rounds()/50 + 1 {
						v := s.Rate(i, d, r)
						if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
							t.Fatalf("project %d %s round %d: rate %v", i, d, r, v)
						}
						total += v
					}
				}
			}
			if total == 0 {
				t.Fatal("no demand at all")
			}
		})
	}
}

func TestBadScenarios(t *testing.T) {
	tests := []struct {
		file string
		want []string
	}{
		{"unknown_field.yaml", []string{`projects[0].produce.burst: unknown field "burst" (line 4)`}},
		{"duplicate_key.yaml", []string{"projects[0].name: duplicate field (line 8)"}},
		// A broker id is an index, named like validation names it.
		{"bad_skew.yaml", []string{"brokers.skew[1]: cannot unmarshal !!str `lots` into float64 (line 2)"}},
		{"two_documents.yaml", []string{"line 5: more than one YAML document; a scenario file holds one"}},
		{"negative_capacity.yaml", []string{`brokers.capacity.produce: invalid rate "-100MiB/s": must not be negative (line 2)`}},
		{"missing_trace.yaml", []string{"projects[0].demand.produce.trace.file: open trace", "no-such-trace.csv"}},
		{"malformed_trace.yaml", []string{"projects[0].demand.produce.trace.file: read trace", "line 3: value \"lots\" is not a number"}},
		{"bad_values.yaml", []string{
			"round: must be at least 1s",
			"brokers.count: must be in [1, 10000], got 0",
			"projects[0].produce: need floor <= share <= ceiling",
			"projects[1].name: duplicate project \"a\"",
			"projects[1].demand: at least one of produce and fetch is required",
			"projects[0].demand.produce.noise: must be in [0, 1]",
			"projects[0].demand.produce.steps[1].at: steps must be in time order",
		}},
		{"enforcement_unknown_field.yaml", []string{`enforcement.window_size: unknown field "window_size" (line 3)`}},
		{"enforcement_zero_window.yaml", []string{"enforcement.window_samples: must be in [1, 1000], got 0", "enforcement.window_sample: must be above zero, got 0s"}},
		{"enforcement_negative_window.yaml", []string{"enforcement.window_samples: must be in [1, 1000], got -3"}},
		{"enforcement_negative_sample.yaml", []string{"enforcement.window_sample:", "-1s"}},
		{"enforcement_negative_buffer.yaml", []string{"enforcement.client_buffer: must not be negative, got -1MiB", "enforcement.request_size: must be above zero, got 0B"}},
		{"enforcement_uneven_sample.yaml", []string{"enforcement.window_sample: the round (10s) must be a whole number of samples, got 3s"}},
		{"exempt_bad.yaml", []string{
			`exempt[0].name: duplicate name "a"`,
			"exempt[1].placement[5]: no such broker (count 2)",
			"exempt[1].demand: at least one of produce and fetch is required",
			`exempt[2].name: duplicate name "mm2"`,
			"exempt[2].partitions: must be in [0, 100000], got -1",
			"exempt[2].demand.fetch.noise: must be in [0, 1]",
		}},
		{"exempt_unknown_field.yaml", []string{`exempt[0].quota: unknown field "quota" (line 5)`}},
		{"oversubscribed.yaml", []string{"produce shares of the projects on broker 0 sum to 100MiB/s, above its safe capacity 90MiB/s"}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			_, err := Load(filepath.Join("testdata", tt.file))
			if err == nil {
				t.Fatal("loaded")
			}
			if !strings.Contains(err.Error(), "read scenario testdata/"+tt.file) {
				t.Errorf("error does not name the file: %v", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestRateIsDeterministicAndShaped(t *testing.T) {
	s, err := Parse([]byte(`
duration: 2d
round: 60s
brokers: {count: 2, capacity: {produce: 100MiB/s, fetch: 100MiB/s}}
projects:
  - name: wave
    produce: {share: 10MiB/s}
    fetch: {share: 10MiB/s}
    demand:
      produce: {base: 10MiB/s, diurnal: {amplitude: 20MiB/s, peak: 6h}}
  - name: steps
    produce: {share: 10MiB/s}
    fetch: {share: 10MiB/s}
    demand:
      produce: {base: 1MiB/s, steps: [{at: 1h, level: 5MiB/s}], flash_crowds: [{at: 2h, peak: 10MiB/s, rise: 10m, hold: 10m, decay: 10m}]}
`), ".")
	if err != nil {
		t.Fatal(err)
	}
	const mib = 1 << 20
	hour := int(time.Hour / time.Minute)
	tests := []struct {
		name    string
		project int
		round   int
		want    float64
	}{
		{"diurnal peak", 0, 6 * hour, 30 * mib},
		{"diurnal trough", 0, 18 * hour, 10 * mib},
		{"next day's peak", 0, 30 * hour, 30 * mib},
		{"before step", 1, hour - 1, 1 * mib},
		{"after step", 1, hour, 5 * mib},
		{"flash crowd rising", 1, 2*hour + 5, 5*mib + 5*mib},
		{"flash crowd held", 1, 2*hour + 15, 15 * mib},
		{"flash crowd half decayed", 1, 2*hour + 30, 5*mib + 5*mib},
		{"no fetch demand", 1, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := config.Produce
			if tt.name == "no fetch demand" {
				d = config.Fetch
			}
			got := s.Rate(tt.project, d, tt.round)
			if math.Abs(got-tt.want) > 1e-6*mib {
				t.Fatalf("rate %v MiB/s, want %v", got/mib, tt.want/mib)
			}
			if again := s.Rate(tt.project, d, tt.round); again != got {
				t.Fatal("not deterministic")
			}
		})
	}
}

func TestNoiseAndSpikesAreSeeded(t *testing.T) {
	src := `
duration: 1d
brokers: {count: 1, capacity: {produce: 100MiB/s, fetch: 100MiB/s}}
projects:
  - name: n
    produce: {share: 10MiB/s}
    fetch: {share: 10MiB/s}
    demand: {produce: {base: 10MiB/s, noise: 0.1, spikes: {per_hour: 12, magnitude: 50MiB/s}}}
`
	a, err := Parse([]byte(src+"seed: 3\n"), ".")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Parse([]byte(src+"seed: 4\n"), ".")
	var noise []float64
	spikes, differ := 0, 0
	n := a.Rounds()
	for r := range n {
		v := a.Rate(0, config.Produce, r)
		if v > 40<<20 {
			spikes++
			continue
		}
		noise = append(noise, v/(10<<20)-1)
		if v != b.Rate(0, config.Produce, r) {
			differ++
		}
	}
	// 12 spikes an hour of one 10s round each: about 288 a day.
	if spikes < 200 || spikes > 400 {
		t.Errorf("%d spikes in a day, want about 288", spikes)
	}
	m := n - spikes
	if _, sd := stat.PopMeanStdDev(noise, nil); math.Abs(sd-0.1) > 0.01 {
		t.Errorf("noise sd %.4f, want 0.1", sd)
	}
	if differ < m/2 {
		t.Errorf("seeds 3 and 4 agree on %d of %d rounds", m-differ, m)
	}
}

func TestTraceScaledAndStretched(t *testing.T) {
	s, err := Parse([]byte(`
duration: 1h
round: 60s
brokers: {count: 1, capacity: {produce: 100MiB/s, fetch: 100MiB/s}}
projects:
  - name: t
    produce: {share: 10MiB/s}
    fetch: {share: 10MiB/s}
    demand:
      produce: {trace: {file: square.csv, scale_to_peak: 8MiB/s, time_scale: 2}}
`), "testdata")
	if err != nil {
		t.Fatal(err)
	}
	// square.csv: 0 for 10 minutes, then 4 for 10 minutes, repeating every
	// 20 minutes; played twice as fast, that is 5 minutes each.
	for _, tt := range []struct {
		round int
		want  float64
	}{{0, 0}, {3, 0}, {6, 8 << 20}, {9, 8 << 20}, {11, 0}, {16, 8 << 20}} {
		if got := s.Rate(0, config.Produce, tt.round); math.Abs(got-tt.want) > 1 {
			t.Errorf("round %d: %v MiB/s, want %v", tt.round, got/(1<<20), tt.want/(1<<20))
		}
	}
}

func TestLeaders(t *testing.T) {
	tests := []struct {
		name        string
		brokers     string // the brokers section
		project     string // the second project's placement fields
		wantBrokers []int
		wantWeights []float64
	}{
		{"explicit placement, in broker order", "{count: 3}", "placement: {2: 1, 0: 2}", []int{0, 0, 2}, []float64{1, 1, 1}},
		{"round-robin from the project's index", "{count: 3}", "partitions: 4", []int{1, 2, 0, 1}, []float64{1, 1, 1, 1}},
		{"one per broker by default", "{count: 3}", "", []int{1, 2, 0}, []float64{1, 1, 1}},
		{"skew weighs a broker's partitions", "{count: 3, skew: {1: 3}}", "partitions: 4", []int{1, 2, 0, 1}, []float64{3, 1, 1, 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := strings.Replace(tt.brokers, "{", "{capacity: {produce: 100MiB/s, fetch: 100MiB/s}, ", 1)
			s, err := Parse([]byte(`
duration: 1h
brokers: `+b+`
projects:
  - {name: a, produce: {share: 1MiB/s}, fetch: {share: 1MiB/s}, demand: {produce: {base: 1MiB/s}}}
  - {name: b, produce: {share: 1MiB/s}, fetch: {share: 1MiB/s}, demand: {produce: {base: 1MiB/s}}, `+tt.project+`}
`), "")
			if err != nil {
				t.Fatal(err)
			}
			brokers, weights := s.Leaders(1)
			if !slices.Equal(brokers, tt.wantBrokers) || !slices.Equal(weights, tt.wantWeights) {
				t.Fatalf("leaders %v weights %v, want %v %v", brokers, weights, tt.wantBrokers, tt.wantWeights)
			}
		})
	}
}

func TestPlacement(t *testing.T) {
	s, err := Load("../scenarios/hot-broker.yaml")
	if err != nil {
		t.Fatal(err)
	}
	pl := s.Placement(0)
	var sum float64
	for _, bw := range pl {
		sum += bw.Weight
	}
	if math.Abs(sum-1) > 1e-12 || len(pl) != 4 {
		t.Fatalf("placement %+v", pl)
	}
	if pl[0].Broker != 0 || math.Abs(pl[0].Weight-4.0/7) > 1e-12 {
		t.Fatalf("hot broker 0 carries %v, want 4/7", pl[0].Weight)
	}
}

func FuzzReadCSV(f *testing.F) {
	f.Add("timestamp,value\n2014-04-01 00:00:00,20.0\n2014-04-01 00:05:00,21\n")
	f.Add("1,2\n3,4\n")
	f.Add("x\n")
	f.Fuzz(func(t *testing.T, in string) {
		ts, vs, err := ReadCSV(strings.NewReader(in))
		if err != nil {
			return
		}
		if len(ts) != len(vs) {
			t.Fatal("lengths differ")
		}
		for i, v := range vs {
			if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
				t.Fatalf("bad value %v accepted", v)
			}
			if i > 0 && !ts[i].After(ts[i-1]) {
				t.Fatal("non-increasing timestamps accepted")
			}
		}
	})
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("duration: 1h\nbrokers: {count: 1, capacity: {produce: 1MiB/s, fetch: 1MiB/s}}\nprojects: [{name: a, produce: {share: 1KiB/s}, fetch: {share: 1KiB/s}, demand: {produce: {base: 1KiB/s}}}]\n"))
	f.Add([]byte("duration: 1h\nbrokers: {count: 2, capacity: {produce: 1MiB/s, fetch: 1MiB/s}}\nprojects: [{name: a, produce: {share: 1KiB/s}, fetch: {share: 1KiB/s}, demand: {produce: {base: 1KiB/s}}}]\nexempt: [{name: m, placement: {1: 2}, demand: {fetch: {base: 5KiB/s, noise: 0.5}}}]\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := Parse(b, "testdata")
		if err != nil {
			return
		}
		if s.Rounds() > 0 {
			for i := range s.Projects {
				v := s.Rate(i, config.Produce, 0)
				if v < 0 || math.IsNaN(v) {
					t.Fatalf("rate %v", v)
				}
			}
			for _, d := range config.Directions {
				load := make([]float64, s.Brokers.Count)
				s.ExemptLoad(d, 0, load)
				for b, v := range load {
					if v < 0 || math.IsNaN(v) {
						t.Fatalf("exempt %v on broker %d: %v", d, b, v)
					}
				}
			}
		}
	})
}

func TestGoodFixtures(t *testing.T) {
	files, err := filepath.Glob("testdata/good/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no good fixtures: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			s, err := Load(f)
			if err != nil {
				t.Fatal(err)
			}
			var peak float64
			for i := range s.Projects {
				for r := 0; r < s.Rounds(); r++ {
					peak = max(peak, s.Rate(i, config.Produce, r))
				}
			}
			if peak <= 0 {
				t.Fatal("no produce demand")
			}
		})
	}
}

func TestSurgeFixture(t *testing.T) {
	s, err := Load("testdata/good/surge.yaml")
	if err != nil {
		t.Fatal(err)
	}
	const mib = 1 << 20
	shop, ok := s.ProjectIndex("shop")
	if !ok || s.Projects[shop].Produce.Weight != 2 || s.Projects[shop].Produce.Ceiling != 80*mib {
		t.Fatalf("shop: %+v", s.Projects[shop])
	}
	if _, ok := s.ProjectIndex("nobody"); ok {
		t.Fatal("found a project that does not exist")
	}
	// Noise is 5%: compare means over ten minutes around each phase.
	mean := func(from time.Duration) float64 {
		var sum float64
		for k := range 60 {
			sum += s.RateAt(shop, config.Produce, from+time.Duration(k)*10*time.Second)
		}
		return sum / 60
	}
	for _, tt := range []struct {
		name string
		at   time.Duration
		want float64
	}{
		{"base", 10 * time.Minute, 30 * mib},
		{"first step", 70 * time.Minute, 60 * mib},
		{"flash crowd held", 2*time.Hour + 5*time.Minute, 210 * mib},
		{"second step", 5 * time.Hour, 20 * mib},
	} {
		if got := mean(tt.at); math.Abs(got-tt.want) > 0.05*tt.want {
			t.Errorf("%s: mean %.1f MiB/s, want about %.0f", tt.name, got/mib, tt.want/mib)
		}
	}
	// The trace is scaled to a mean of 30MiB/s.
	replay, _ := s.ProjectIndex("replay")
	var sum float64
	for r := range s.Rounds() {
		sum += s.Rate(replay, config.Produce, r)
	}
	if got := sum / float64(s.Rounds()); math.Abs(got-30*mib) > 0.05*30*mib {
		t.Errorf("replay mean %.1f MiB/s, want 30", got/mib)
	}
}

func TestRateAtAgreesWithRateAndIsSmooth(t *testing.T) {
	s, err := Load("../scenarios/vivo-two-projects.yaml")
	if err != nil {
		t.Fatal(err)
	}
	round := s.RoundInterval()
	for _, r := range []int{0, 1, 777, 4320, s.Rounds() - 1} {
		for i := range s.Projects {
			if a, b := s.Rate(i, config.Produce, r), s.RateAt(i, config.Produce, time.Duration(r)*round); a != b {
				t.Errorf("project %d round %d: Rate %v, RateAt %v", i, r, a, b)
			}
		}
	}
	// Within a round the noise draw is fixed and the wave moves smoothly:
	// the value half a round in lies between the round's two ends' smooth
	// values times the same noise factor, so it differs from the start by
	// far less than the noise.
	a := s.RateAt(0, config.Produce, 8*time.Hour) // during project a's rise
	b := s.RateAt(0, config.Produce, 8*time.Hour+round/2)
	if a == b || math.Abs(a-b) > 1e-3*a {
		t.Errorf("rate moves from %v to %v within half a round", a, b)
	}
	if s.RateAt(0, config.Produce, -time.Hour) != s.Rate(0, config.Produce, 0) {
		t.Error("negative time is not the start")
	}
}

func TestReadCSVTimestamps(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []float64 // values, one per distinct timestamp
		err      string
	}{
		{"increasing", "1,2\n2,4\n", []float64{2, 4}, ""},
		{"a repeated timestamp is the mean of its rows", "1,2\n2,4\n2,8\n2,6\n3,1\n", []float64{2, 6, 1}, ""},
		{"backwards is an error with the line", "1,2\n3,4\n2,5\n", nil, "line 3: timestamp 2 goes backwards"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts, vs, err := ReadCSV(strings.NewReader(tc.in))
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(ts) != len(tc.want) || len(vs) != len(tc.want) {
				t.Fatalf("%d timestamps, %d values, want %d", len(ts), len(vs), len(tc.want))
			}
			for i, v := range vs {
				if math.Abs(v-tc.want[i]) > 1e-12 {
					t.Fatalf("value %d = %v, want %v", i, v, tc.want[i])
				}
			}
		})
	}
}

func TestEnforcementDefaultsAndFixture(t *testing.T) {
	s, err := Load("testdata/good/enforcement.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if n, w := s.Enforcement.Window(); n != 5 || w != 2*time.Second {
		t.Errorf("window %d × %s, want 5 × 2s", n, w)
	}
	if b, r := s.Enforcement.Buffer(), s.Enforcement.Request(); b != 8<<20 || r != 512<<10 {
		t.Errorf("buffer %v request %v, want 8MiB and 512KiB", b, r)
	}
	var none Enforcement
	if n, w := none.Window(); n != 11 || w != time.Second {
		t.Errorf("default window %d × %s, want Kafka's 11 × 1s", n, w)
	}
	if none.Buffer() != 32<<20 || none.Request() != 1<<20 {
		t.Errorf("default buffer %v request %v", none.Buffer(), none.Request())
	}
}

func TestRateMeanIsRateWithoutNoise(t *testing.T) {
	s, err := Load("testdata/good/enforcement.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Noise(0, config.Produce); got != 0.1 {
		t.Fatalf("noise %v, want 0.1", got)
	}
	if got := s.Noise(0, config.Fetch); got != 0 {
		t.Fatalf("fetch noise %v, want 0 (no fetch demand)", got)
	}
	// Rate = RateMean × (1 + 0.1 z) with z the seeded draw: recover z
	// and check its spread looks like a standard normal.
	n := s.Rounds()
	z := make([]float64, n)
	for r := range n {
		m := s.RateMean(0, config.Produce, r)
		if m != 30<<20 {
			t.Fatalf("round %d: mean %v, want the 30MiB/s base", r, m)
		}
		z[r] = (s.Rate(0, config.Produce, r)/m - 1) / 0.1
	}
	mean, sd := stat.PopMeanStdDev(z, nil)
	if math.Abs(mean) > 0.4 || sd < 0.7 || sd > 1.3 {
		t.Errorf("noise draws: mean %.3f sd %.3f over %d rounds, want about 0 and 1", mean, sd, n)
	}
}

// Validation problems are config.FieldErrors, so that a caller can read
// the path of each one; the first of bad_values.yaml is about the round.
func TestValidationErrorsCarryPaths(t *testing.T) {
	_, err := Load("testdata/bad_values.yaml")
	var fe config.FieldError
	if !errors.As(err, &fe) || fe.Path != "round" || fe.Msg != "must be at least 1s, got 100ms" {
		t.Fatalf("first problem %+v, from %v", fe, err)
	}
}
