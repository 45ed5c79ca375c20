package detector

import (
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/headroomhq/headroom/config"
)

var t0 = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)

const round = 15 * time.Second

func newTestSeries(t testing.TB, opts Options) *Series {
	t.Helper()
	s, err := NewSeries(config.DefaultDetectorConfig(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestHampelMedianMAD(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{3, 4, 5, 7, 8, 21} {
		t.Run("", func(t *testing.T) {
			h := newHampel(n, 3)
			var all []float64
			for i := 0; i < 200; i++ {
				x := math.Round(rng.NormFloat64() * 10) // ties on purpose
				h.push(x, 1e-9)
				all = append(all, x)
				w := all[max(0, len(all)-n):]
				if len(w) < 3 {
					continue
				}
				med, mad := h.medianMAD()
				wantMed := median(w)
				dev := make([]float64, len(w))
				for j, v := range w {
					dev[j] = math.Abs(v - wantMed)
				}
				if wantMAD := median(dev); med != wantMed || mad != wantMAD {
					t.Fatalf("n=%d after %d: median, MAD = %v, %v; want %v, %v", n, i, med, mad, wantMed, wantMAD)
				}
				if !sort.Float64sAreSorted(h.sorted) {
					t.Fatalf("sorted window out of order: %v", h.sorted)
				}
			}
		})
	}
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// run feeds values at one round apart and returns the results.
func run(s *Series, start time.Time, values []float64) []Result {
	out := make([]Result, len(values))
	for i, v := range values {
		out[i] = s.Observe(start.Add(time.Duration(i)*round), v)
	}
	return out
}

func noise(rng *rand.Rand, n int, level, rel float64) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = level * (1 + rel*rng.NormFloat64())
	}
	return v
}

func events(rs []Result, from int) []int {
	var idx []int
	for i := from; i < len(rs); i++ {
		if rs[i].Event != NoShift {
			idx = append(idx, i)
		}
	}
	return idx
}

func TestIsolatedSpikesRaiseNoEventAndDoNotMoveTheForecast(t *testing.T) {
	for _, width := range []int{1, 2, 3} {
		t.Run("", func(t *testing.T) {
			rng := rand.New(rand.NewPCG(3, uint64(width)))
			v := noise(rng, 3000, 1000, 0.03)
			var spikes []int
			for at := 500; at+width < len(v); at += 200 {
				for j := 0; j < width; j++ {
					v[at+j] *= 10
				}
				spikes = append(spikes, at)
			}
			rs := run(newTestSeries(t, Options{NonNegative: true}), t0, v)
			if ev := events(rs, 0); len(ev) != 0 {
				t.Fatalf("width %d: events at %v, want none", width, ev)
			}
			for _, at := range spikes {
				before := rs[at-1].Forecast
				for j := at; j < at+width+5; j++ {
					if d := math.Abs(rs[j].Forecast-before) / before; d >= 0.05 {
						t.Fatalf("width %d spike at %d: forecast moved %.1f%% at %d (%v -> %v)", width, at, 100*d, j, before, rs[j].Forecast)
					}
				}
			}
		})
	}
}

func TestSustainedStepIsFlaggedWithinThreeSamples(t *testing.T) {
	for _, tt := range []struct {
		name   string
		factor float64
		want   Shift
	}{
		{"+50%", 1.5, Surge},
		{"-50%", 0.5, Drop},
		{"x3", 3, Surge},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(4, 4))
			v := noise(rng, 1200, 1000, 0.03)
			const onset = 1000
			for i := onset; i < len(v); i++ {
				v[i] *= tt.factor
			}
			rs := run(newTestSeries(t, Options{NonNegative: true}), t0, v)
			ev := events(rs, 0)
			if len(ev) != 1 {
				t.Fatalf("events at %v, want exactly one", ev)
			}
			if ev[0] < onset || ev[0] > onset+3 {
				t.Fatalf("event at sample %d, want within 3 samples of the onset %d", ev[0], onset)
			}
			if rs[ev[0]].Event != tt.want {
				t.Fatalf("event %v, want %v", rs[ev[0]].Event, tt.want)
			}
		})
	}
}

func TestNoiseOnlyWeekRaisesNoEvent(t *testing.T) {
	week := int(7 * 24 * time.Hour / round)
	for _, tt := range []struct {
		name string
		gen  func(rng *rand.Rand) float64
	}{
		{"gaussian 5%", func(rng *rand.Rand) float64 { return 1000 * (1 + 0.05*rng.NormFloat64()) }},
		{"gaussian 20%", func(rng *rand.Rand) float64 { return math.Max(0, 1000*(1+0.2*rng.NormFloat64())) }},
		{"uniform", func(rng *rand.Rand) float64 { return 500 + 1000*rng.Float64() }},
		{"poisson-like small counts", func(rng *rand.Rand) float64 { return float64(rng.IntN(7)) }},
		{"exponential", func(rng *rand.Rand) float64 { return 1000 * rng.ExpFloat64() }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(5, 5))
			s := newTestSeries(t, Options{NonNegative: true})
			var got []int
			for i := 0; i < week; i++ {
				if r := s.Observe(t0.Add(time.Duration(i)*round), tt.gen(rng)); r.Event != NoShift {
					got = append(got, i)
				}
			}
			if len(got) != 0 {
				t.Fatalf("%d events over a week of noise, first at %v", len(got), got[0])
			}
		})
	}
}

func TestDailyPatternIsLearntWithinTwoDays(t *testing.T) {
	day := int(24 * time.Hour / round)
	for _, tt := range []struct {
		name    string
		pattern func(h float64) float64 // hour of day -> level
	}{
		{"sine", func(h float64) float64 { return 1000 * (1 + 0.6*math.Sin(2*math.Pi*h/24)) }},
		{"business hours x3", func(h float64) float64 {
			if h >= 9 && h < 17 {
				return 3000
			}
			return 1000
		}},
		{"evening peak", func(h float64) float64 { return 500 + 4000*math.Exp(-math.Pow(h-20, 2)/2) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(6, 6))
			s := newTestSeries(t, Options{NonNegative: true})
			var errSum, sum float64
			for i := 0; i < 3*day; i++ {
				ts := t0.Add(time.Duration(i) * round)
				h := float64(ts.Sub(t0)%(24*time.Hour)) / float64(time.Hour)
				truth := tt.pattern(h)
				r := s.Observe(ts, truth*(1+0.03*rng.NormFloat64()))
				if i < 2*day {
					continue
				}
				if r.Event != NoShift {
					t.Fatalf("day 3 is a normal day but raised %v at %s", r.Event, ts.Format("15:04:05"))
				}
				// r.Expected was made before seeing the sample.
				errSum += math.Abs(r.Expected - truth)
				sum += truth
			}
			if rel := errSum / sum; rel > 0.05 {
				t.Fatalf("day 3 mean absolute forecast error %.1f%% of the level, want under 5%%", 100*rel)
			}
		})
	}
}

func TestRefractoryGivesOneEventPerIncident(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	v := noise(rng, 2000, 1000, 0.02)
	// Two steps 20 samples apart are one incident; one 200 samples later
	// is another.
	for i := 1000; i < len(v); i++ {
		v[i] *= 2
	}
	for i := 1020; i < len(v); i++ {
		v[i] *= 2
	}
	for i := 1220; i < len(v); i++ {
		v[i] *= 2
	}
	rs := run(newTestSeries(t, Options{}), t0, v)
	if ev := events(rs, 0); !slices.Equal(ev, []int{1003, 1223}) {
		t.Fatalf("events at %v, want [1003 1223]", ev)
	}
	sawTransient := false
	v2 := noise(rng, 1100, 1000, 0.02)
	v2[1000], v2[1001] = 5000, 5000
	for _, r := range run(newTestSeries(t, Options{}), t0, v2) {
		sawTransient = sawTransient || r.State == StateTransient
	}
	if !sawTransient {
		t.Fatal("a 2-sample burst never showed as transient")
	}
}

func TestBadSamplesAreSkippedWithoutChangingState(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 8))
	v := noise(rng, 600, 1000, 0.05)
	clean := run(newTestSeries(t, Options{NonNegative: true}), t0, v)

	s := newTestSeries(t, Options{NonNegative: true})
	bad := []struct {
		dt   time.Duration // offset from the last good sample
		v    float64
		want Skip
	}{
		{time.Second, math.NaN(), SkipNotFinite},
		{time.Second, math.Inf(1), SkipNotFinite},
		{time.Second, math.Inf(-1), SkipNotFinite},
		{0, 1000, SkipNotAfter},
		{-time.Minute, 1000, SkipNotAfter},
		{time.Second, -5e6, SkipNegative},
	}
	for i, x := range v {
		ts := t0.Add(time.Duration(i) * round)
		got := s.Observe(ts, x)
		if got.Score != clean[i].Score || got.Forecast != clean[i].Forecast || got.Event != clean[i].Event {
			t.Fatalf("sample %d: bad samples changed the result: %+v, want %+v", i, got, clean[i])
		}
		if i%50 == 10 {
			b := bad[(i/50)%len(bad)]
			r := s.Observe(ts.Add(b.dt), b.v)
			if r.Skipped != b.want {
				t.Fatalf("sample %d: value %v at %+v skipped as %v, want %v", i, b.v, b.dt, r.Skipped, b.want)
			}
			if r.Score != 0 || r.Event != NoShift {
				t.Fatalf("skipped sample scored %v, event %v", r.Score, r.Event)
			}
		}
	}
}

func TestGapKeepsLevelAndRaisesNoEvent(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	s := newTestSeries(t, Options{})
	for i := 0; i < 500; i++ {
		s.Observe(t0.Add(time.Duration(i)*round), 1000*(1+0.02*rng.NormFloat64()))
	}
	after := t0.Add(500*round + 6*time.Hour)
	for i := 0; i < 100; i++ {
		r := s.Observe(after.Add(time.Duration(i)*round), 1000*(1+0.02*rng.NormFloat64()))
		if r.Event != NoShift {
			t.Fatalf("sample %d after a 6h gap raised %v", i, r.Event)
		}
		if math.Abs(r.Forecast-1000) > 50 {
			t.Fatalf("sample %d after a 6h gap: forecast %v, want about 1000", i, r.Forecast)
		}
	}
}

func TestScoreIsInUnitInterval(t *testing.T) {
	rng := rand.New(rand.NewPCG(10, 10))
	s := newTestSeries(t, Options{})
	for i := 0; i < 20000; i++ {
		x := 1000 * (1 + 0.1*rng.NormFloat64())
		switch rng.IntN(200) {
		case 0:
			x *= 1e6
		case 1:
			x = 0
		case 2:
			x = -1e9
		}
		r := s.Observe(t0.Add(time.Duration(i)*round), x)
		for _, v := range []float64{r.Score, r.RawScore} {
			if !(v >= 0 && v <= 1) {
				t.Fatalf("sample %d: score %v outside [0,1]", i, v)
			}
		}
		if math.IsNaN(r.Forecast) || math.IsNaN(r.Upper) || r.Upper < r.Forecast {
			t.Fatalf("sample %d: forecast %v upper %v", i, r.Forecast, r.Upper)
		}
	}
}

func TestOfflineScoresAreCausal(t *testing.T) {
	f, err := os.Open("testdata/nab/data/realTraffic/speed_t4013.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := ReadCSV(f)
	if err != nil {
		t.Fatal(err)
	}
	full, err := Scores(config.DefaultDetectorConfig(), rows)
	if err != nil {
		t.Fatal(err)
	}
	nonzero := 0
	for _, s := range full {
		if s > 0 {
			nonzero++
		}
	}
	if nonzero == 0 {
		t.Fatal("every score is zero: the causality check would prove nothing")
	}
	for _, cut := range []int{1, 2, 7, 100, 1000, 2144, 2150, len(rows) - 1} {
		part, err := Scores(config.DefaultDetectorConfig(), rows[:cut])
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(part, full[:cut]) {
			for i := range part {
				if part[i] != full[i] {
					t.Fatalf("cut at %d: score %d is %v truncated, %v in the full run", cut, i, part[i], full[i])
				}
			}
		}
	}
}

// A weekly rhythm (quiet weekends) is learnt within two weeks: in the third
// week the expectation follows the weekend within 5% and the weekend's
// start and end raise no event. Sampled every 5 minutes.
func TestWeeklyPatternIsLearntWithinTwoWeeks(t *testing.T) {
	const step = 5 * time.Minute
	week := int(7 * 24 * time.Hour / step)
	monday := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	truth := func(ts time.Time) float64 {
		h := float64(ts.Hour()) + float64(ts.Minute())/60
		daily := 1 + 0.5*math.Sin(2*math.Pi*h/24)
		if wd := ts.Weekday(); wd == time.Saturday || wd == time.Sunday {
			return 400 * daily
		}
		return 1000 * daily
	}
	rng := rand.New(rand.NewPCG(14, 14))
	s := newTestSeries(t, Options{NonNegative: true})
	var errSum, sum float64
	for i := 0; i < 3*week; i++ {
		ts := monday.Add(time.Duration(i) * step)
		want := truth(ts)
		r := s.Observe(ts, want*(1+0.03*rng.NormFloat64()))
		if i < 2*week {
			continue
		}
		if r.Event != NoShift {
			t.Fatalf("week 3 is a normal week but raised %v on %s", r.Event, ts.Format("Mon 15:04"))
		}
		errSum += math.Abs(r.Expected - want)
		sum += want
	}
	if rel := errSum / sum; rel > 0.05 {
		t.Fatalf("week 3 mean absolute forecast error %.1f%% of the level, want under 5%%", 100*rel)
	}
}
